package seccomp

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
)

// Docker's default profile comes from github.com/moby/profiles/seccomp,
// the module Docker itself builds it from (its default.json is generated
// from the same Go). That profile is more than a LinuxSeccomp: it has an
// archMap (the sub-architectures of each native one) and rules that hold
// only for some capabilities, architectures or kernels ("includes" and
// "excludes"). resolve turns it into the LinuxSeccomp of one container, as
// Docker does when it writes config.json.

// Default is Docker's default profile for a container with Docker's
// default capabilities (caps.DockerDefault): without CAP_SYS_ADMIN, so
// mount, unshare, setns and clone with namespace flags are refused, and
// clone3 returns ENOSYS (its flags are behind a pointer, which seccomp
// cannot read; glibc then falls back to clone, whose flags it can).
func Default() *specs.LinuxSeccomp { return DefaultFor(caps.DockerDefault) }

// DefaultFor is Docker's default profile for a container whose bounding
// set is bounding (capability names as in capabilities(7)): each block
// gated by a capability is in when the container has it (includes.caps)
// and out when it has it (excludes.caps). Pass the spec's
// process.capabilities.bounding.
func DefaultFor(bounding []string) *specs.LinuxSeccomp {
	return resolve(profiles.DefaultProfile(), bounding, kernelVersion())
}

// FromDocker reads a profile in Docker's JSON format (--security-opt
// seccomp=PROFILE.json: archMap, includes and excludes allowed) and
// resolves it for a container with the bounding set bounding. Errors are
// one line.
func FromDocker(data []byte, bounding []string) (*specs.LinuxSeccomp, error) {
	var p profiles.Seccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("seccomp profile: %v", err)
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, fmt.Errorf("seccomp profile: both architectures and archMap are given; use one")
	}
	if len(p.LinuxSeccomp.Syscalls) > 0 {
		// json fills the outer Syscalls; this one is for Go callers.
		return nil, fmt.Errorf("seccomp profile: LinuxSeccomp.Syscalls must be empty")
	}
	for i, sc := range p.Syscalls {
		if sc == nil {
			return nil, fmt.Errorf("seccomp profile: syscalls[%d]: null", i)
		}
		if sc.Name != "" && len(sc.Names) > 0 {
			return nil, fmt.Errorf("seccomp profile: syscalls[%d]: both name and names are given; use one", i)
		}
	}
	s := resolve(&p, bounding, kernelVersion())
	if err := Check(s); err != nil {
		return nil, fmt.Errorf("seccomp profile: %v", err)
	}
	return s, nil
}

// nativeArch is libseccomp's name for the architecture this runs on, as
// includes.arches and excludes.arches spell it.
var nativeArch = map[string]string{"amd64": "amd64", "386": "x86", "arm64": "arm64", "arm": "arm"}[runtime.GOARCH]

// specArch is the runtime-spec name of the native architecture, the key
// of archMap.
var specArch = map[string]specs.Arch{"amd64": specs.ArchX86_64, "386": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM}[runtime.GOARCH]

// resolve keeps the rules of p that apply to this architecture, kernel
// and bounding set. A rule is in when every includes condition holds (its
// arch is listed, every listed capability is held, the kernel is at least
// minKernel) and no excludes condition does (its arch is listed, any
// listed capability is held, the kernel is at least minKernel).
func resolve(p *profiles.Seccomp, bounding []string, kernel profiles.KernelVersion) *specs.LinuxSeccomp {
	out := p.LinuxSeccomp
	out.Architectures = slices.Clone(p.Architectures)
	out.Syscalls = nil
	for _, m := range p.ArchMap {
		if m.Arch == specArch {
			out.Architectures = append(append(out.Architectures, m.Arch), m.SubArches...)
		}
	}
	atLeast := func(v *profiles.KernelVersion) bool {
		return kernel.Kernel > v.Kernel || kernel.Kernel == v.Kernel && kernel.Major >= v.Major
	}
	for _, sc := range p.Syscalls {
		if in := sc.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, nativeArch) {
				continue
			}
			if slices.ContainsFunc(in.Caps, func(c string) bool { return !slices.Contains(bounding, c) }) {
				continue
			}
			if in.MinKernel != nil && !atLeast(in.MinKernel) {
				continue
			}
		}
		if ex := sc.Excludes; ex != nil {
			if slices.Contains(ex.Arches, nativeArch) {
				continue
			}
			if slices.ContainsFunc(ex.Caps, func(c string) bool { return slices.Contains(bounding, c) }) {
				continue
			}
			if ex.MinKernel != nil && atLeast(ex.MinKernel) {
				continue
			}
		}
		r := sc.LinuxSyscall
		if sc.Name != "" {
			r.Names = []string{sc.Name}
		}
		r.Names = slices.Clone(r.Names)
		r.Args = slices.Clone(r.Args)
		out.Syscalls = append(out.Syscalls, r)
	}
	return &out
}

// kernelVersion is the running kernel's version and major revision, from
// uname(2)'s release ("6.8.0-45-generic" is 6.8). Should uname fail, it is
// 0.0, so that no rule gated on a newer kernel is let in.
func kernelVersion() profiles.KernelVersion {
	var u unix.Utsname
	var v profiles.KernelVersion
	if unix.Uname(&u) == nil {
		fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &v.Kernel, &v.Major)
	}
	return v
}
