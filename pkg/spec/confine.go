package spec

import (
	"fmt"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// Namespaces alone do not make container root less than host root: they
// change what a process sees, not what it may do. The kernel's own
// interfaces that are not namespaced (the keyrings, /proc/sys, the kernel
// log, kernel modules, raw devices, the whole of sysfs and cgroupfs) are
// still reached by a uid 0 that keeps its capabilities and may call
// anything. Docker's defaults close them with four fields, which
// Default writes and `run`'s flags adjust (confinement, below):
//
//   - process.capabilities: 14 of the 41, without CAP_SYS_ADMIN (mount,
//     and half the kernel's checks), CAP_SYS_MODULE, CAP_SYS_RAWIO,
//     CAP_SYS_PTRACE, CAP_NET_ADMIN, CAP_SYSLOG, CAP_BPF, CAP_PERFMON;
//   - linux.seccomp: Docker's default profile, which refuses the calls a
//     container has no use for (keyctl, bpf, perf_event_open,
//     open_by_handle_at, the new mount API, unshare of new namespaces);
//   - linux.maskedPaths and linux.readonlyPaths: the host's files in
//     /proc and /sys hidden or read-only (rootfs.DefaultMaskedPaths);
//   - linux.resources.devices: no device opens but the harmless ones
//     (cgroup.DefaultDeviceRules), whatever nodes the container makes.

// confinement is run's --cap-add, --cap-drop, --privileged and
// --security-opt as given.
type confinement struct {
	capAdd, capDrop []string
	privileged      bool
	securityOpt     []string
}

// defaultCapabilities is Docker's: the same names in bounding, effective
// and permitted; inheritable and ambient empty (moby dropped inheritable
// for CVE-2022-24769: a program with inheritable file capabilities would
// gain them at execve).
func defaultCapabilities(list []string) *specs.LinuxCapabilities {
	return &specs.LinuxCapabilities{
		Bounding:  slices.Clone(list),
		Effective: slices.Clone(list),
		Permitted: slices.Clone(list),
	}
}

// allCapabilities are the capabilities --privileged and --cap-add ALL
// give: every one this build knows that the runtime itself holds in its
// bounding set, as podman gives a privileged container the bounding set
// of the process that starts it. The names newer than the running kernel
// are not in that set, as Docker leaves them out (and caps.Apply would
// skip them); and a runtime started without one (a sandbox that drops
// CAP_SYS_RESOURCE) could not give it: capset(2) would refuse the
// container's start.
func allCapabilities() []string {
	all := caps.Known()
	if held, err := caps.Bounding(); err == nil {
		all = slices.DeleteFunc(all, func(name string) bool {
			n, _ := caps.Number(name)
			return !held.Has(n)
		})
	}
	return all
}

// capabilityNames normalises --cap-add or --cap-drop as Docker does
// (moby's caps.NormalizeLegacyCapabilities): case does not matter, the
// CAP_ prefix is optional, ALL means every capability. An unknown name is
// an error naming the flag and the name as given.
func capabilityNames(flag string, list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, given := range list {
		name := strings.ToUpper(strings.TrimSpace(given))
		if name != "ALL" && !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		if _, ok := caps.Number(name); !ok && name != "ALL" {
			return nil, fmt.Errorf("%s %q: unknown capability (capabilities(7) lists them; CAP_ is optional)", flag, given)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// capabilities is the list --cap-add and --cap-drop leave of base,
// Docker's rules (moby's caps.TweakCapabilities): --cap-add ALL is every
// capability less the dropped ones; --cap-drop ALL is only the added
// ones; otherwise base less the dropped, plus the added (a capability
// both added and dropped is added).
func capabilities(base []string, c confinement) ([]string, error) {
	add, err := capabilityNames("--cap-add", c.capAdd)
	if err != nil {
		return nil, err
	}
	drop, err := capabilityNames("--cap-drop", c.capDrop)
	if err != nil {
		return nil, err
	}
	var out []string
	switch {
	case c.privileged:
		return allCapabilities(), nil
	case slices.Contains(add, "ALL"):
		for _, name := range allCapabilities() {
			if !slices.Contains(drop, name) {
				out = append(out, name)
			}
		}
		return out, nil
	case slices.Contains(drop, "ALL"):
		return slices.DeleteFunc(add, func(n string) bool { return n == "ALL" }), nil
	}
	for _, name := range base {
		if !slices.Contains(drop, name) {
			out = append(out, name)
		}
	}
	for _, name := range add {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// securityOpts reads --security-opt, Docker's spellings (KEY=VALUE, or
// the older KEY:VALUE):
//
//	seccomp=unconfined       no filter
//	seccomp=PROFILE.json     this profile, Docker's JSON format (archMap,
//	                         includes and excludes), resolved for bounding
//	no-new-privileges[=true|false]
//
// profile is nil with unconfined; custom says whether a seccomp option
// was given at all.
func securityOpts(opts []string, bounding []string) (profile *specs.LinuxSeccomp, custom, noNewPrivs bool, err error) {
	for _, opt := range opts {
		key, value, found := strings.Cut(opt, "=")
		if !found {
			key, value, found = strings.Cut(opt, ":")
		}
		switch key {
		case "seccomp":
			if value == "" {
				return nil, false, false, fmt.Errorf("--security-opt %q: want seccomp=unconfined or seccomp=PROFILE.json", opt)
			}
			custom = true
			if value == "unconfined" {
				profile = nil
				continue
			}
			data, rerr := os.ReadFile(value)
			if rerr != nil {
				return nil, false, false, fmt.Errorf("--security-opt %s: %v", opt, rerr)
			}
			profile, err = seccomp.FromDocker(data, bounding)
			if err != nil {
				return nil, false, false, fmt.Errorf("--security-opt %s: %v", opt, err)
			}
		case "no-new-privileges":
			switch value {
			case "", "true":
				noNewPrivs = true
			case "false":
				noNewPrivs = false
			default:
				return nil, false, false, fmt.Errorf("--security-opt %q: want no-new-privileges, no-new-privileges=true or =false", opt)
			}
		default:
			return nil, false, false, fmt.Errorf("--security-opt %q: unknown option (minicontainer knows seccomp=unconfined, seccomp=PROFILE.json and no-new-privileges)", opt)
		}
	}
	return profile, custom, noNewPrivs, nil
}

// confine writes the capabilities, seccomp profile, no_new_privs, masked
// and read-only paths and device rules that c asks for into s, which
// holds Default's confinement. --privileged is Docker's: every capability,
// no filter (even when a profile is given, as Docker ignores it), no
// masked or read-only paths, /sys and the cgroup file system read-write,
// every device ("a *:* rwm"). It keeps no_new_privs when asked for.
func confine(s *specs.Spec, c confinement) error {
	list, err := capabilities(caps.DockerDefault, c)
	if err != nil {
		return err
	}
	profile, custom, nnp, err := securityOpts(c.securityOpt, list)
	if err != nil {
		return err
	}
	s.Process.NoNewPrivileges = nnp
	if len(c.capAdd) > 0 || len(c.capDrop) > 0 || c.privileged {
		s.Process.Capabilities = defaultCapabilities(list)
		// The profile's capability-gated blocks follow the bounding set
		// (--cap-add SYS_ADMIN lets mount and unshare through), as Docker
		// resolves it per container.
		s.Linux.Seccomp = seccomp.DefaultFor(list)
	}
	if custom {
		s.Linux.Seccomp = profile
	}
	if !c.privileged {
		return nil
	}
	s.Linux.Seccomp = nil
	s.Linux.MaskedPaths = nil
	s.Linux.ReadonlyPaths = nil
	for i, m := range s.Mounts {
		if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
			s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.Devices = copyDeviceRules(cgroup.PrivilegedDeviceRules)
	return nil
}

// defaultConfinement is the part of Default that confines.
func defaultConfinement(s *specs.Spec) {
	s.Process.Capabilities = defaultCapabilities(caps.DockerDefault)
	s.Linux.Seccomp = seccomp.Default()
	s.Linux.MaskedPaths = slices.Clone(rootfs.DefaultMaskedPaths)
	s.Linux.ReadonlyPaths = slices.Clone(rootfs.DefaultReadonlyPaths)
	s.Linux.Resources = &specs.LinuxResources{Devices: copyDeviceRules(cgroup.DefaultDeviceRules)}
}

// copyDeviceRules copies rules with their numbers, so that a Spec never
// shares a pointer with the package's list.
func copyDeviceRules(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, len(rules))
	for i, r := range rules {
		if r.Major != nil {
			m := *r.Major
			r.Major = &m
		}
		if r.Minor != nil {
			m := *r.Minor
			r.Minor = &m
		}
		out[i] = r
	}
	return out
}
