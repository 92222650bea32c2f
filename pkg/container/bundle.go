package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// A bundle's road (runtime-spec runtime.md, "Lifecycle"), as runc walks it:
//
//	create  validate the Spec into a plan; state dir, cgroup, exec fifo;
//	        clone the init with the Spec's namespaces (joining those given
//	        by path first, on the cloning thread); host steps and the
//	        createRuntime hooks; the init does ALL its set-up (mounts,
//	        pivot_root, sysctl, rlimits, user...) and says "ready"; create
//	        writes the pid file and exits 0. The init then blocks in
//	        open(exec.fifo, O_WRONLY) just before execve(2).
//	start   open(exec.fifo, O_RDONLY): the init's open returns, it writes
//	        one byte and execs the process; start reads the byte, removes
//	        the fifo, runs the poststart hooks.
//	state   created while the fifo exists, running once it is gone, stopped
//	        when the init has exited.
//	kill    a signal to the init (--all: to every process of its cgroup).
//	delete  kill what is left (--force, or a created one), poststop hooks,
//	        the cgroup and the state dir.

// LoadSpec reads and validates bundle/config.json (pkg/spec): every
// error is one line naming the field by its JSON path.
var LoadSpec = spec.Load

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// bundlePlan is everything validation learned from a Spec: what the
// create step does, with nothing created yet. One typed plan, so create
// never re-derives (or re-checks) a field.
type bundlePlan struct {
	spec        *specs.Spec
	bundle      string      // absolute
	root        string      // root.path, absolute
	cloneFlags  uintptr     // namespaces to create
	joins       []nsJoin    // namespaces to join by path, on the cloning thread
	netNS       bool        // a network namespace of its own (lo comes up)
	cgroup      *cgroupPlan // nil: no cgroup on this host
	cgroupName  string      // the cgroup's own name (the ID unless cgroupsPath says)
	noPivot     bool
	devices     []cgroup.DeviceRule  // linux.resources.devices; nil: no device rules
	mounts      []rootfs.BundleMount // the Spec's mounts, options read
	propagation uintptr              // linux.rootfsPropagation
	// hostMounts: no mount namespace in the Spec; the container shares
	// the host's (see rootfs/hostroot.go, and bindHostRoot).
	hostMounts bool
}

type nsJoin struct {
	kind ns.Kind
	path string
}

// specNamespaces maps runtime-spec namespace types to ns kinds.
var specNamespaces = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// planBundle turns a Spec that spec.Validate accepted into the plan:
// what to clone, join and mount; it creates nothing. The few checks here
// are the ones Validate leaves to the executor (the namespaces' paths).
func planBundle(s *specs.Spec, bundle string, noPivot bool) (*bundlePlan, error) {
	p := &bundlePlan{spec: s, bundle: bundle, noPivot: noPivot}
	if s.Linux == nil {
		return nil, errors.New("config.json: linux: needed (this runtime runs Linux containers)")
	}
	p.root = s.Root.Path
	if !filepath.IsAbs(p.root) {
		p.root = filepath.Join(bundle, p.root)
	}
	if st, err := os.Stat(p.root); err != nil {
		return nil, fmt.Errorf("root.path: %w", unwrapPath(err))
	} else if !st.IsDir() {
		return nil, fmt.Errorf("root.path: %s is not a directory", p.root)
	}
	for i, m := range s.Mounts {
		pm, err := spec.ParseMountOptions(m.Options)
		if err != nil {
			return nil, fmt.Errorf("config.json: mounts[%d].options: %w", i, err)
		}
		bm := rootfs.BundleMount{Destination: m.Destination, Type: m.Type, Source: m.Source,
			Flags: pm.Flags, Propagation: pm.Propagation, Data: pm.Data}
		if bm.Bind() && !filepath.IsAbs(bm.Source) {
			bm.Source = filepath.Join(bundle, bm.Source) // runtime-spec: relative to the bundle
		}
		p.mounts = append(p.mounts, bm)
	}
	p.propagation = spec.Propagations[s.Linux.RootfsPropagation]
	seen := map[string]bool{}
	hasMnt := false
	for i, n := range s.Linux.Namespaces {
		name, ok := specNamespaces[n.Type]
		if !ok {
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].type: %q is not a namespace type", i, n.Type)
		}
		if seen[name] {
			return nil, fmt.Errorf("config.json: linux.namespaces[%d]: %s given twice", i, n.Type)
		}
		seen[name] = true
		kind, _ := ns.ByName(name)
		if kind.Flag == unix.CLONE_NEWUSER && n.Path != "" || kind.Flag == unix.CLONE_NEWTIME {
			return nil, fmt.Errorf("config.json: linux.namespaces[%d]: a %s namespace is not supported yet", i, n.Type)
		}
		if kind.Flag == unix.CLONE_NEWNS {
			hasMnt = true
		}
		if n.Path == "" {
			p.cloneFlags |= kind.Flag
			if kind.Flag == unix.CLONE_NEWNET {
				p.netNS = true
			}
			continue
		}
		got, err := kindOfPath(n.Path)
		if err != nil {
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].path: %w", i, err)
		}
		if got.Flag != kind.Flag {
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].path: %s is a %s namespace, not %s", i, n.Path, got.Name, n.Type)
		}
		p.joins = append(p.joins, nsJoin{kind, n.Path})
	}
	// No mount namespace: the container shares the host's, as runc allows
	// (pkg/spec refuses what would change the host's own mounts).
	p.hostMounts = !hasMnt
	for _, j := range p.joins {
		// A mount namespace joined by path is the container's: its root
		// is set up in it (mounts, pivot_root) as in a new one, as runc
		// does. pivot_root(2) changes the root of every process of that
		// namespace whose root was the old one: the caller who made it
		// gave it to the container. The runtime's own is the host's, and
		// that is refused as no mount namespace is.
		if j.kind.Flag == unix.CLONE_NEWNS && sameNamespace(j.path, "/proc/self/ns/mnt") {
			return nil, fmt.Errorf("config.json: linux.namespaces: mount namespace %s is the runtime's own: its root and mounts are the host's", j.path)
		}
	}
	return p, nil
}

// sameNamespace reports whether the namespace files a and b are the same
// namespace (the same device and inode, namespaces(7)).
func sameNamespace(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// rlimits are the resources of process.rlimits (setrlimit(2)).
var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// planCgroup maps linux.cgroupsPath and linux.resources onto pkg/cgroup.
// cgroupsPath is a path of any depth, its last name the cgroup's, the
// levels above it its parent (pkg/cgroup makes the missing ones and
// removes on delete only those it made):
//   - absolute, "/a/b/NAME": below each hierarchy's root (runtime-spec
//     config-linux.md: "relative to the cgroups mount point"), as runc;
//   - relative, "a/b/NAME": below DefaultCgroupParent, in every hierarchy.
//     The runtime-spec leaves the place to the runtime ("a runtime-determined
//     location"); runc puts it below the cgroup runc itself runs in (on v2
//     that cgroup's parent). A fixed place attaches the same cgroupsPath to
//     the same cgroup whoever calls (the spec's MUST), lets gc and delete
//     find it again from the state's record, and is never a cgroup with
//     processes of its own, which v2 would refuse to enable controllers in;
//   - "": DefaultCgroupParent/ID.
//
// Resources pkg/cgroup cannot write are refused, naming the field.
func planCgroup(s *specs.Spec, id string) (*cgroupPlan, string, error) {
	parent, name := DefaultCgroupParent, id
	if cp := s.Linux.CgroupsPath; cp != "" {
		if strings.Contains(cp, ":") {
			return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q is a systemd slice:prefix:name; this runtime drives cgroupfs only (no --systemd-cgroup)", cp)
		}
		clean := strings.Trim(filepath.Clean("/"+cp), "/")
		if clean == "" {
			return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q names no cgroup (the root is the host's)", cp)
		}
		levels := strings.Split(clean, "/")
		for _, l := range levels {
			if !ValidName(l) {
				return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q: use letters, digits, _ . - between the slashes", cp)
			}
		}
		name = levels[len(levels)-1]
		parent = strings.Join(levels[:len(levels)-1], "/")
		if !filepath.IsAbs(cp) {
			parent = filepath.Join(DefaultCgroupParent, parent)
		}
	}
	var l cgroup.Limits
	if r := s.Linux.Resources; r != nil {
		if r.Memory != nil {
			m := r.Memory
			if m.Reservation != nil || m.Swap != nil && (m.Limit == nil || *m.Swap != *m.Limit) || m.Kernel != nil || m.KernelTCP != nil ||
				m.Swappiness != nil || m.DisableOOMKiller != nil || m.UseHierarchy != nil || m.CheckBeforeUpdate != nil {
				return nil, "", errors.New("config.json: linux.resources.memory: only limit (and swap equal to it) is supported here")
			}
			if m.Limit != nil && *m.Limit > 0 {
				l.Memory = *m.Limit
			}
		}
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
			l.Pids = *r.Pids.Limit
		}
		if c := r.CPU; c != nil {
			if c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil || c.Burst != nil {
				return nil, "", errors.New("config.json: linux.resources.cpu: only shares, quota, period, cpus and mems are supported here")
			}
			if c.Quota != nil && *c.Quota > 0 {
				period := uint64(cgroup.CFSPeriod)
				if c.Period != nil && *c.Period != 0 {
					period = *c.Period
				}
				l.CPUs = float64(*c.Quota) / float64(period)
				l.CPUQuota, l.CPUPeriod = *c.Quota, period
			}
			if c.Shares != nil && *c.Shares != 0 {
				l.CPUShares = *c.Shares
			}
			l.CpusetCPUs = c.Cpus
			l.CpusetMems = c.Mems
		}
		if len(r.HugepageLimits) > 0 || r.BlockIO != nil || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0 {
			return nil, "", errors.New("config.json: linux.resources: only memory, pids, cpu and devices are supported here")
		}
		// linux.resources.devices: see planDevices.
	}
	host, err := cgroup.Detect()
	if err != nil {
		if l != (cgroup.Limits{}) {
			return nil, "", fmt.Errorf("linux.resources: %w", err)
		}
		return nil, name, nil
	}
	if err := l.Check(host); err != nil {
		return nil, "", fmt.Errorf("linux.resources: %w", err)
	}
	return &cgroupPlan{host: host, limits: l, parent: parent}, name, nil
}

// kindOfPath is the namespace type of the file at path (ioctl_ns(2),
// NS_GET_NSTYPE): the Spec's path must be a namespace of its type.
func kindOfPath(path string) (ns.Kind, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ns.Kind{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	k, err := ns.KindOf(fd)
	if err != nil {
		return ns.Kind{}, fmt.Errorf("%s: not a namespace: %w", path, err)
	}
	return k, nil
}

// planDevices reads linux.resources.devices into the cgroup's device
// rules, in order, followed by runc's default allow list and an allow
// rule for each node of linux.devices (runc does the same: a node the
// Spec makes must open).
// No rules in the Spec means none written: every device allowed, as
// runc leaves it; engines send Docker's "deny all, then allow" list.
func planDevices(s *specs.Spec, haveCgroup bool) ([]cgroup.DeviceRule, error) {
	r := s.Linux.Resources
	if r == nil || len(r.Devices) == 0 {
		return nil, nil
	}
	if !haveCgroup {
		return nil, errors.New("config.json: linux.resources.devices: this host has no cgroup to enforce them in")
	}
	list := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	// The nodes every container's /dev gets (rootfs.Devices, made by the
	// init after the cgroup exists), its terminals, and mknod: runc
	// appends the same allow list (AllowedDevices in libcontainer/specconv)
	// after the Spec's, so a Spec's "deny all" does not break /dev/null.
	// A Spec that already ends with that list (spec.Default's) is not
	// given it twice: each rule is a write (v1) or instructions (v2).
	for _, d := range cgroup.DefaultDeviceRules {
		if d.Allow && !slices.ContainsFunc(list, func(r specs.LinuxDeviceCgroup) bool { return sameDeviceRule(r, d) }) {
			list = append(list, d)
		}
	}
	for _, d := range s.Linux.Devices {
		typ := d.Type
		switch typ {
		case "p":
			continue // a fifo: no device to allow
		case "u":
			typ = "c" // unbuffered character device
		}
		major, minor := d.Major, d.Minor
		list = append(list, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	rules, err := cgroup.DeviceRules(list)
	if err != nil {
		return nil, fmt.Errorf("config.json: linux.resources.devices: %w", err)
	}
	return rules, nil
}

// bindHostRoot is create's step for a Spec without a mount namespace: the
// root bound privately on itself in the host's mount table, recorded in
// state.json with its mount ID, and removed (with every mount the init
// makes below it) at delete, by gc, or when create fails.
func (c *Container) bindHostRoot(root string) error {
	id, err := rootfs.BindRootPrivate(c.x, root)
	if err != nil {
		return fmt.Errorf("root.path: %w", err)
	}
	r := Resource{Kind: "mount", Name: strconv.FormatUint(id, 10) + ":" + root}
	c.OnCleanup(func() error { return reclaimMount(r) })
	return c.Own(r)
}

// reclaimMount is delete's and gc's reclaimer for a Resource{Kind:
// "mount"}, "MOUNTID:ROOT": the private bind of the root and all below it,
// if that mount is still the one at ROOT.
func reclaimMount(r Resource) error {
	idText, root, _ := strings.Cut(r.Name, ":")
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil || !filepath.IsAbs(root) {
		return fmt.Errorf("bad mount resource %q", r.Name)
	}
	return rootfs.UnmountRoot(nil, root, id)
}

// sameDeviceRule reports whether two linux.resources.devices entries say
// the same thing (a missing type is "a", a missing number any).
func sameDeviceRule(a, b specs.LinuxDeviceCgroup) bool {
	num := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	typ := func(t string) string {
		if t == "" {
			return "a"
		}
		return t
	}
	return a.Allow == b.Allow && typ(a.Type) == typ(b.Type) && num(a.Major) == num(b.Major) && num(a.Minor) == num(b.Minor) && a.Access == b.Access
}
