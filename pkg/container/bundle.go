package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// LoadSpec reads and checks bundle/config.json. It stands for spec.Load
// (the specio branch, interfaces.md) until that is merged: parse, the
// ociVersion, and the few checks this file needs; checkSpec refuses the
// fields nothing honours yet.
var LoadSpec = func(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("config.json: %w", unwrapPath(err))
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if err := spec.CheckVersion(s.Version); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, errors.New("config.json: process.args: must not be empty")
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, errors.New("config.json: root.path: must be set")
	}
	return &s, nil
}

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
	spec       *specs.Spec
	bundle     string      // absolute
	root       string      // root.path, absolute
	cloneFlags uintptr     // namespaces to create
	joins      []nsJoin    // namespaces to join by path, on the cloning thread
	netNS      bool        // a network namespace of its own (lo comes up)
	cgroup     *cgroupPlan // nil: no cgroup on this host
	cgroupName string      // the cgroup's own name (the ID unless cgroupsPath says)
	noPivot    bool
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

// planBundle checks the Spec against what this build honours and this
// host has, and returns the plan; it creates nothing.
func planBundle(s *specs.Spec, bundle string, noPivot bool) (*bundlePlan, error) {
	p := &bundlePlan{spec: s, bundle: bundle, noPivot: noPivot}
	if err := checkSpec(s); err != nil {
		return nil, err
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
	mounts := make([]specs.Mount, len(s.Mounts))
	for i, m := range s.Mounts {
		if rootfsIsBind(m) && m.Source != "" && !filepath.IsAbs(m.Source) {
			m.Source = filepath.Join(bundle, m.Source) // runtime-spec: relative to the bundle
		}
		mounts[i] = m
	}
	s.Mounts = mounts
	if err := rootfs.CheckMounts(s.Mounts); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
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
		if kind.Flag == unix.CLONE_NEWUSER || kind.Flag == unix.CLONE_NEWTIME {
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
	if !hasMnt || p.cloneFlags&unix.CLONE_NEWNS == 0 {
		// Setting up a root needs a mount namespace of the container's
		// own (rootfs.SetupBundle refuses the host's).
		return nil, errors.New("config.json: linux.namespaces: a new mount namespace (type \"mount\", no path) is needed")
	}
	if s.Hostname != "" && !seen["uts"] {
		return nil, errors.New("config.json: hostname: needs a uts namespace of the container's own")
	}
	if s.Hostname != "" {
		if err := rootfs.ValidateHostname(s.Hostname); err != nil {
			return nil, fmt.Errorf("config.json: hostname: %w", err)
		}
	}
	if cwd := s.Process.Cwd; cwd != "" && !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("config.json: process.cwd: %q is not an absolute path", cwd)
	}
	for i, e := range s.Process.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.Contains(e, "\x00") {
			return nil, fmt.Errorf("config.json: process.env[%d]: %q is not KEY=VALUE", i, e)
		}
	}
	for i, r := range s.Process.Rlimits {
		if _, ok := rlimits[r.Type]; !ok {
			return nil, fmt.Errorf("config.json: process.rlimits[%d].type: %q is not a resource setrlimit(2) knows", i, r.Type)
		}
		if r.Soft > r.Hard {
			return nil, fmt.Errorf("config.json: process.rlimits[%d]: soft %d is above hard %d", i, r.Soft, r.Hard)
		}
	}
	for k := range s.Linux.Sysctl {
		if strings.Contains(k, "..") || strings.HasPrefix(k, "/") {
			return nil, fmt.Errorf("config.json: linux.sysctl: %q is not a sysctl name", k)
		}
	}
	if prop := s.Linux.RootfsPropagation; prop != "" {
		if _, _, data := rootfs.ParseMountOptions([]string{prop}); data != "" || prop == "" {
			return nil, fmt.Errorf("config.json: linux.rootfsPropagation: %q is not a propagation type", prop)
		}
	}
	return p, nil
}

func rootfsIsBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// checkSpec refuses, one line naming the field, what this build does not
// honour: a container run without its seccomp filter or its capability
// limits would be less confined than its author wrote, and silently.
func checkSpec(s *specs.Spec) error {
	if s.Linux == nil {
		return errors.New("config.json: linux: must be set (this runtime runs Linux containers)")
	}
	l, p := s.Linux, s.Process
	refuse := map[string]bool{
		"linux.seccomp":           l.Seccomp != nil,
		"linux.uidMappings":       len(l.UIDMappings) > 0,
		"linux.gidMappings":       len(l.GIDMappings) > 0,
		"linux.mountLabel":        l.MountLabel != "",
		"linux.intelRdt":          l.IntelRdt != nil,
		"linux.personality":       l.Personality != nil,
		"linux.timeOffsets":       len(l.TimeOffsets) > 0,
		"process.apparmorProfile": p.ApparmorProfile != "",
		"process.selinuxLabel":    p.SelinuxLabel != "",
		"process.ioPriority":      p.IOPriority != nil,
		"process.scheduler":       p.Scheduler != nil,
		"process.execCPUAffinity": p.ExecCPUAffinity != nil,
		"linux.memoryPolicy":      l.MemoryPolicy != nil,
		"linux.netDevices":        len(l.NetDevices) > 0,
	}
	for _, name := range []string{"linux.seccomp", "linux.uidMappings", "linux.gidMappings", "linux.mountLabel", "linux.intelRdt",
		"linux.personality", "linux.timeOffsets", "process.apparmorProfile", "process.selinuxLabel", "process.ioPriority",
		"process.scheduler", "process.execCPUAffinity", "linux.memoryPolicy", "linux.netDevices"} {
		if refuse[name] {
			return fmt.Errorf("config.json: %s: not supported by this runtime yet", name)
		}
	}
	return checkConfinement(s)
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
// cgroupsPath "/PARENT/NAME" (or "PARENT/NAME", relative to each
// hierarchy's root: with cgroupfs both mean the same, as in runc); ""
// means DefaultCgroupParent/ID. Resources pkg/cgroup cannot write are
// refused, naming the field.
func planCgroup(s *specs.Spec, id string) (*cgroupPlan, string, error) {
	parent, name := DefaultCgroupParent, id
	if cp := s.Linux.CgroupsPath; cp != "" {
		if strings.Contains(cp, ":") {
			return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q is a systemd slice:prefix:name; this runtime drives cgroupfs only (no --systemd-cgroup)", cp)
		}
		parts := strings.Split(strings.Trim(filepath.Clean("/"+cp), "/"), "/")
		if len(parts) != 2 {
			return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q: want /PARENT/NAME (two levels) here", cp)
		}
		parent, name = parts[0], parts[1]
		if !ValidName(parent) || !ValidName(name) {
			return nil, "", fmt.Errorf("config.json: linux.cgroupsPath: %q: use letters, digits, _ . -", cp)
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
			if c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil || c.Burst != nil || c.Mems != "" {
				return nil, "", errors.New("config.json: linux.resources.cpu: only shares, quota, period and cpus are supported here")
			}
			if c.Quota != nil && *c.Quota > 0 {
				period := uint64(cgroup.CFSPeriod)
				if c.Period != nil && *c.Period != 0 {
					period = *c.Period
				}
				l.CPUs = float64(*c.Quota) / float64(period)
			}
			if c.Shares != nil && *c.Shares != 0 {
				l.CPUWeight = sharesToWeight(*c.Shares)
			}
			l.CpusetCPUs = c.Cpus
		}
		if len(r.HugepageLimits) > 0 || r.BlockIO != nil || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0 {
			return nil, "", errors.New("config.json: linux.resources: only memory, pids, cpu and devices are supported here")
		}
		// linux.resources.devices is accepted: every engine sends its
		// allow list. The container's /dev holds only the default nodes
		// and linux.devices (rootfs.SetupBundle makes them), which is
		// what such a list allows; no device cgroup program is loaded.
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

// sharesToWeight is the inverse of cgroup.WeightToShares (the kernel's and
// runc's conversion, cpu.shares 2..262144 onto cpu.weight 1..10000).
func sharesToWeight(shares uint64) uint64 {
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
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

// checkConfinement refuses the confinement fields until pkg/caps and
// rootfs.MaskPaths/ReadonlyPaths (the confinement issue) honour them.
func checkConfinement(s *specs.Spec) error {
	switch {
	case s.Process.Capabilities != nil:
		return errors.New("config.json: process.capabilities: not supported by this runtime yet")
	case len(s.Linux.MaskedPaths) > 0:
		return errors.New("config.json: linux.maskedPaths: not supported by this runtime yet")
	case len(s.Linux.ReadonlyPaths) > 0:
		return errors.New("config.json: linux.readonlyPaths: not supported by this runtime yet")
	}
	return nil
}
