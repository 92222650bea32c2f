package spec

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// RunFlags are `minicontainer run`'s flags, as given.
type RunFlags struct {
	Rootfs       string   // the base root filesystem
	Layers       []string // an image's layers over it, the bottom first (run --image)
	Name         string
	Hostname     string
	Env          []string // -e K=V, or K alone (the host's value)
	Workdir      string
	Volumes      []string // -v HOST:CTR[:ro]
	ReadOnly     bool
	Chroot       bool
	Init         bool
	Interactive  bool
	TTY          bool
	Net          string // bridge (""), none, host or slirp
	Subnet       string
	Ports        []string
	Resources    cgroup.Flags
	CgroupParent string
	Cgroup2      bool
	CapAdd       []string // --cap-add NAME, CAP_NAME or ALL
	CapDrop      []string // --cap-drop, the same
	Privileged   bool
	SecurityOpt  []string // seccomp=unconfined|PROFILE.json, no-new-privileges
	// UIDMappings and GIDMappings, when given, put the container in a new
	// user namespace with these maps (a rootless run: userns.Rootless).
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	Command                  []string
	User                     specs.User // process.user: an image's User, resolved to ids (zero: root)
	StopSignal               string     // an image's StopSignal, for stop (AnnotationStopSignal)
}

// The annotations `run` writes for what has no runtime-spec field. They
// are run's own options beside the Spec, kept in it so that `spec` shows
// everything run will do, and a bundle written from it says so too (a
// bundle's create ignores them: they concern run's host steps):
//
//	the overlay   run's root is an overlay whose lower dir is root.path:
//	              writes go to a per-container upper dir, the base is never
//	              changed (a bundle's root.path is used as it is);
//	the network   bridge, subnet and ports are host steps between create
//	              and start (a bridge, a veth moved into /proc/PID/ns/net,
//	              NAT); none and host ARE spec fields: a network namespace
//	              of its own, or none;
//	--init        a tiny init as PID 1 (docker's --init is a program put in
//	              the image, not a spec field either);
//	--chroot      chroot(2) instead of pivot_root(2), for the lesson (runc's
//	              --no-pivot is the same idea, a CLI flag, not a field);
//	--name        the container's name (the ID is create's argument);
//	-i            whether the caller's stdin is copied in (a matter of the
//	              caller's stdio, as for runc's callers);
//	layers        run --image: the image's layers over root.path, the
//	              overlay's lower dirs (bottom first, as a JSON list);
//	--cgroup-parent, --cgroup2  where the cgroup goes: linux.cgroupsPath
//	              names one cgroup, and its last part is the ID, unknown
//	              until run makes it.
const (
	AnnotationOverlay      = "org.minicontainer.overlay"
	AnnotationLayers       = "org.minicontainer.layers"
	AnnotationNetwork      = "org.minicontainer.network"
	AnnotationSubnet       = "org.minicontainer.subnet"
	AnnotationPorts        = "org.minicontainer.ports"
	AnnotationInit         = "org.minicontainer.init"
	AnnotationChroot       = "org.minicontainer.chroot"
	AnnotationName         = "org.minicontainer.name"
	AnnotationInteractive  = "org.minicontainer.interactive"
	AnnotationCgroupParent = "org.minicontainer.cgroup-parent"
	AnnotationCgroup2      = "org.minicontainer.cgroup2"
	// AnnotationStopSignal is image-spec's name for the config's
	// StopSignal carried into a runtime bundle (image-spec conversion.md):
	// the signal stop sends first, SIGTERM when absent.
	AnnotationStopSignal = "org.opencontainers.image.stopSignal"
)

// FromRun maps run's flags onto Default's Spec: what a runtime-spec field
// can say goes there (limits in linux.resources, volumes in mounts,
// --read-only in root.readonly, --net none/host in the namespaces, -t in
// process.terminal, --cap-add, --cap-drop, --privileged and
// --security-opt in the confinement fields: confine.go), the rest in
// annotations (see above). lookup gives the
// host's environment for -e K alone. Every error names the flag.
func FromRun(f RunFlags, lookup func(string) (string, bool)) (*specs.Spec, error) {
	s := Default()
	s.Annotations = map[string]string{AnnotationOverlay: "true"}
	s.Process.Args = f.Command
	s.Process.User = f.User
	if f.StopSignal != "" {
		s.Annotations[AnnotationStopSignal] = f.StopSignal
	}
	// run keeps the caller's rlimits, as it always has (docker's
	// containers get the daemon's): none written here.
	s.Process.Rlimits = nil
	if f.Hostname != "" {
		s.Hostname = f.Hostname
	}
	env := []string{"PATH=" + DefaultPath, "HOME=/root", "HOSTNAME=" + s.Hostname}
	if f.TTY {
		s.Process.Terminal = true
		term, _ := lookup("TERM")
		if term == "" || term == "dumb" {
			term = "xterm"
		}
		env = append(env, "TERM="+term)
	}
	for _, e := range f.Env {
		if err := CheckEnv(e); err != nil {
			return nil, err
		}
	}
	s.Process.Env = MergeEnv(env, f.Env, lookup)
	if f.Workdir != "" {
		if !filepath.IsAbs(f.Workdir) {
			return nil, fmt.Errorf("workdir %q: must be an absolute path", f.Workdir)
		}
		s.Process.Cwd = f.Workdir
	}
	if f.Rootfs != "" {
		abs, err := filepath.Abs(f.Rootfs)
		if err != nil {
			return nil, fmt.Errorf("rootfs %s: %w", f.Rootfs, err)
		}
		s.Root.Path = abs
	}
	if len(f.Layers) > 0 {
		data, err := json.Marshal(f.Layers)
		if err != nil {
			return nil, err
		}
		s.Annotations[AnnotationLayers] = string(data)
	}
	s.Root.Readonly = f.ReadOnly
	// The volumes in the order to mount them, parents before children
	// (rootfs.SortVolumes): -v A:/data/sub -v B:/data mounted in the
	// given order would hide A under B.
	var vols []rootfs.Volume
	for _, v := range f.Volumes {
		vol, err := rootfs.ParseVolume(v)
		if err != nil {
			return nil, err
		}
		vols = append(vols, vol)
	}
	for _, vol := range rootfs.SortVolumes(vols) {
		opts := []string{"rbind", "rprivate"}
		if vol.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: vol.Container, Type: "bind", Source: vol.Host, Options: opts})
	}
	switch f.Net {
	case "", "bridge":
		s.Annotations[AnnotationNetwork] = "bridge"
		if f.Subnet != "" {
			s.Annotations[AnnotationSubnet] = f.Subnet
		}
		if len(f.Ports) > 0 {
			s.Annotations[AnnotationPorts] = strings.Join(f.Ports, ",")
		}
	case "none":
		s.Annotations[AnnotationNetwork] = "none"
	case "slirp":
		// A network namespace of its own, as none; slirp4netns serves it
		// from the host (pkg/network/slirp.go), ports through its API.
		s.Annotations[AnnotationNetwork] = "slirp"
		if len(f.Ports) > 0 {
			s.Annotations[AnnotationPorts] = strings.Join(f.Ports, ",")
		}
	case "host":
		s.Annotations[AnnotationNetwork] = "host"
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
	default:
		return nil, fmt.Errorf("--net %q: want bridge, none, host or slirp", f.Net)
	}
	limits, err := f.Resources.Limits()
	if err != nil {
		return nil, err
	}
	devices := s.Linux.Resources.Devices
	s.Linux.Resources = Resources(limits)
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.Devices = devices
	if len(f.UIDMappings) > 0 || len(f.GIDMappings) > 0 {
		withUserNS(s, f.UIDMappings, f.GIDMappings)
	}
	if err := confine(s, confinement{capAdd: f.CapAdd, capDrop: f.CapDrop, privileged: f.Privileged, securityOpt: f.SecurityOpt}); err != nil {
		return nil, err
	}
	for k, on := range map[string]bool{AnnotationInit: f.Init, AnnotationChroot: f.Chroot, AnnotationInteractive: f.Interactive, AnnotationCgroup2: f.Cgroup2} {
		if on {
			s.Annotations[k] = "true"
		}
	}
	if f.Name != "" {
		s.Annotations[AnnotationName] = f.Name
	}
	if f.CgroupParent != "" && f.CgroupParent != cgroup.Parent {
		s.Annotations[AnnotationCgroupParent] = f.CgroupParent
	}
	return s, nil
}

// Resources writes cgroup limits as linux.resources (nil when none):
// memory.limit with swap equal to it (no swap), pids.limit, cpu.quota
// over a period of cgroup.CFSPeriod, cpu.shares from the weight (the
// kernel's conversion, cgroup.WeightToShares), cpu.cpus.
func Resources(l cgroup.Limits) *specs.LinuxResources {
	if l == (cgroup.Limits{}) {
		return nil
	}
	r := &specs.LinuxResources{}
	if l.Memory > 0 {
		m := l.Memory
		r.Memory = &specs.LinuxMemory{Limit: &m, Swap: &m}
	}
	if l.Pids > 0 {
		p := l.Pids
		r.Pids = &specs.LinuxPids{Limit: &p}
	}
	if l.CPUs > 0 || l.CPUWeight > 0 || l.CpusetCPUs != "" {
		r.CPU = &specs.LinuxCPU{Cpus: l.CpusetCPUs}
		if l.CPUs > 0 {
			q, p := int64(l.CPUs*cgroup.CFSPeriod), uint64(cgroup.CFSPeriod)
			r.CPU.Quota, r.CPU.Period = &q, &p
		}
		if l.CPUWeight > 0 {
			sh := cgroup.WeightToShares(l.CPUWeight)
			r.CPU.Shares = &sh
		}
	}
	return r
}

// CheckEnv checks one -e entry, KEY=VALUE or KEY alone: a key is needed,
// and no NUL byte, which execve(2) cannot pass (environ(7) entries are C
// strings).
func CheckEnv(e string) error {
	if k, _, _ := strings.Cut(e, "="); k == "" {
		return fmt.Errorf("environment %q: want KEY=VALUE", e)
	}
	if strings.Contains(e, "\x00") {
		return fmt.Errorf("environment %q: holds a NUL byte, which execve(2) cannot pass", e)
	}
	return nil
}

// MergeEnv adds entries (checked by CheckEnv) to env: KEY=VALUE replaces
// any KEY already there, KEY alone takes lookup's value (the host's) or is
// left out when there is none. Each key appears once, at the place of its
// last setting.
func MergeEnv(env, entries []string, lookup func(string) (string, bool)) []string {
	env = slices.Clone(env)
	for _, e := range entries {
		if !strings.Contains(e, "=") {
			v, ok := lookup(e)
			if !ok {
				continue
			}
			e += "=" + v
		}
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(old string) bool { return strings.HasPrefix(old, k+"=") })
		env = append(env, e)
	}
	return env
}
