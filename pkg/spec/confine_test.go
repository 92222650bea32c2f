package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// The lists the confinement issue gives, spelled out here rather than
// read from the packages that hold them, so that a change there fails.
var (
	dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	dockerMasked = []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
		"/sys/devices/virtual/powercap", "/sys/firmware"}
	dockerReadonly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	runcDevices    = "a *:* rwm deny, c *:* m, b *:* m, c 1:3 rwm, c 1:8 rwm, c 1:7 rwm, c 5:0 rwm, c 1:5 rwm, c 1:9 rwm, c 136:* rwm, c 5:2 rwm, c 10:200 rwm"
)

func deviceList(rules []specs.LinuxDeviceCgroup) string {
	var out []string
	for _, r := range rules {
		num := func(p *int64) string {
			if p == nil {
				return "*"
			}
			return strconv.FormatInt(*p, 10)
		}
		s := r.Type + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
		if !r.Allow {
			s += " deny"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// verdict runs s's compiled filter on an x86_64 call with arguments args.
func verdict(t *testing.T, s *specs.LinuxSeccomp, name string, args ...uint64) string {
	t.Helper()
	if s == nil {
		return "no filter"
	}
	prog, err := seccomp.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	nr, ok := seccomp.SyscallNumber(specs.ArchX86_64, name)
	if !ok {
		t.Fatalf("no syscall %s", name)
	}
	d := seccomp.Data{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64}
	copy(d.Args[:], args)
	ret, err := seccomp.Evaluate(prog, d)
	if err != nil {
		t.Fatal(err)
	}
	return seccomp.Action(ret)
}

func option(m []specs.Mount, dest, opt string) bool {
	for _, x := range m {
		if x.Destination == dest {
			return slices.Contains(x.Options, opt)
		}
	}
	return false
}

// TestDefaultConfinement: Default holds Docker's confinement as fields.
func TestDefaultConfinement(t *testing.T) {
	s := Default()
	c := s.Process.Capabilities
	if c == nil || !slices.Equal(c.Bounding, dockerCaps) || !slices.Equal(c.Effective, dockerCaps) || !slices.Equal(c.Permitted, dockerCaps) || c.Inheritable != nil || c.Ambient != nil {
		t.Errorf("capabilities: %+v", c)
	}
	set, _, err := caps.Parse(c.Bounding, 63)
	if err != nil || uint64(set) != 0xa80425fb {
		t.Errorf("bounding set %#x (%v), want CapBnd 00000000a80425fb", uint64(set), err)
	}
	if s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges is true; Docker's default is false")
	}
	if !slices.Equal(s.Linux.MaskedPaths, dockerMasked) || !slices.Equal(s.Linux.ReadonlyPaths, dockerReadonly) {
		t.Errorf("masked %v\nread-only %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if got := deviceList(s.Linux.Resources.Devices); got != runcDevices {
		t.Errorf("devices: %s\nwant     %s", got, runcDevices)
	}
	sc := s.Linux.Seccomp
	if sc == nil || sc.DefaultAction != specs.ActErrno {
		t.Fatalf("seccomp: %+v", sc)
	}
	for _, r := range []struct {
		name string
		args []uint64
		want string
	}{
		{"read", nil, "ALLOW"},
		{"mount", nil, "ERRNO(EPERM)"},
		{"keyctl", nil, "ERRNO(EPERM)"},
		{"bpf", nil, "ERRNO(EPERM)"},
		{"open_by_handle_at", nil, "ERRNO(EPERM)"},
		{"clone3", nil, "ERRNO(ENOSYS)"},
		{"unshare", []uint64{unix.CLONE_NEWUSER}, "ERRNO(EPERM)"},
		{"clone", []uint64{uint64(unix.SIGCHLD)}, "ALLOW"},
		{"clone", []uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, "ERRNO(EPERM)"},
	} {
		if got := verdict(t, sc, r.name, r.args...); got != r.want {
			t.Errorf("default profile: %s%v: %s, want %s", r.name, r.args, got, r.want)
		}
	}
	if err := Validate(s, "/"); err != nil && !strings.Contains(err.Error(), "root.path") {
		t.Errorf("Default does not validate: %v", err)
	}
	// Two calls share nothing: a caller may change its Spec freely.
	s.Linux.Resources.Devices[3].Major = nil
	s.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	if d := Default(); deviceList(d.Linux.Resources.Devices) != runcDevices || d.Process.Capabilities.Bounding[0] != "CAP_CHOWN" {
		t.Error("Default shares its lists between calls")
	}
}

// TestRunConfinement: --cap-add, --cap-drop, --privileged and
// --security-opt, Docker's way.
func TestRunConfinement(t *testing.T) {
	lookup := func(string) (string, bool) { return "", false }
	run := func(t *testing.T, f RunFlags) *specs.Spec {
		t.Helper()
		f.Rootfs, f.Command = t.TempDir(), []string{"sh"}
		s, err := FromRun(f, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(s, "/"); err != nil {
			t.Fatalf("does not validate: %v", err)
		}
		return s
	}
	all := allCapabilities()
	if len(all) < 38 || !slices.Contains(all, "CAP_SYS_ADMIN") {
		t.Fatalf("all capabilities: %v", all)
	}
	for _, c := range []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"none", nil, nil, dockerCaps},
		{"add without CAP_, any case", []string{"sys_admin", "CAP_NET_ADMIN"}, nil, append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN", "CAP_NET_ADMIN")},
		{"drop", nil, []string{"NET_RAW", "cap_chown"}, slices.DeleteFunc(slices.Clone(dockerCaps), func(n string) bool { return n == "CAP_NET_RAW" || n == "CAP_CHOWN" })},
		{"add and drop: add wins", []string{"NET_RAW"}, []string{"NET_RAW"}, append(slices.DeleteFunc(slices.Clone(dockerCaps), func(n string) bool { return n == "CAP_NET_RAW" }), "CAP_NET_RAW")},
		{"drop ALL", []string{"NET_RAW"}, []string{"all"}, []string{"CAP_NET_RAW"}},
		{"add ALL", []string{"ALL"}, []string{"CHOWN"}, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "CAP_CHOWN" })},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := run(t, RunFlags{CapAdd: c.add, CapDrop: c.drop})
			p := s.Process.Capabilities
			if !slices.Equal(p.Bounding, c.want) || !slices.Equal(p.Effective, c.want) || !slices.Equal(p.Permitted, c.want) || p.Inheritable != nil || p.Ambient != nil {
				t.Errorf("capabilities %+v, want %v", p, c.want)
			}
			if s.Linux.Seccomp == nil {
				t.Error("no seccomp filter")
			}
		})
	}

	// The profile follows the capabilities: SYS_ADMIN lets mount through.
	if got := verdict(t, run(t, RunFlags{CapAdd: []string{"SYS_ADMIN"}}).Linux.Seccomp, "mount"); got != "ALLOW" {
		t.Errorf("--cap-add SYS_ADMIN: mount %s", got)
	}

	p := run(t, RunFlags{Privileged: true, SecurityOpt: []string{"no-new-privileges"}})
	if !slices.Equal(p.Process.Capabilities.Bounding, all) || p.Linux.Seccomp != nil || p.Linux.MaskedPaths != nil || p.Linux.ReadonlyPaths != nil {
		t.Errorf("--privileged: caps %v seccomp %v masked %v readonly %v", p.Process.Capabilities.Bounding, p.Linux.Seccomp != nil, p.Linux.MaskedPaths, p.Linux.ReadonlyPaths)
	}
	if option(p.Mounts, "/sys", "ro") || option(p.Mounts, "/sys/fs/cgroup", "ro") {
		t.Error("--privileged: /sys or /sys/fs/cgroup read-only")
	}
	if got := deviceList(p.Linux.Resources.Devices); got != "a *:* rwm" {
		t.Errorf("--privileged: devices %s", got)
	}
	if !p.Process.NoNewPrivileges {
		t.Error("--privileged lost no-new-privileges")
	}
	// --privileged changed its own Spec only.
	if d := run(t, RunFlags{}); !option(d.Mounts, "/sys", "ro") || !option(d.Mounts, "/sys/fs/cgroup", "ro") {
		t.Error("the default Spec lost /sys's ro after a --privileged one")
	}

	if s := run(t, RunFlags{SecurityOpt: []string{"seccomp=unconfined"}}); s.Linux.Seccomp != nil || s.Process.Capabilities == nil {
		t.Errorf("seccomp=unconfined: %+v", s.Linux.Seccomp)
	}
	if s := run(t, RunFlags{SecurityOpt: []string{"no-new-privileges:true"}}); !s.Process.NoNewPrivileges {
		t.Error("no-new-privileges:true not set")
	}
	if s := run(t, RunFlags{Resources: cgroup.Flags{Memory: "64m"}}); deviceList(s.Linux.Resources.Devices) != runcDevices || s.Linux.Resources.Memory == nil {
		t.Errorf("--memory lost the device rules or the limit: %+v", s.Linux.Resources)
	}

	dir := t.TempDir()
	profile := filepath.Join(dir, "p.json")
	os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}, {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}`), 0o644)
	s := run(t, RunFlags{SecurityOpt: []string{"seccomp=" + profile}})
	if got := verdict(t, s.Linux.Seccomp, "mkdir"); got != "ERRNO(EPERM)" {
		t.Errorf("profile: mkdir %s", got)
	}
	if n := len(s.Linux.Seccomp.Syscalls); n != 1 {
		t.Errorf("profile: %d rules, want 1 (mount's needs CAP_SYS_ADMIN)", n)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_NOPE"}`), 0o644)
	for _, c := range []struct {
		f    RunFlags
		want string
	}{
		{RunFlags{CapAdd: []string{"SYS_NOPE"}}, `--cap-add "SYS_NOPE": unknown capability`},
		{RunFlags{CapDrop: []string{"CAP_"}}, `--cap-drop "CAP_": unknown capability`},
		{RunFlags{SecurityOpt: []string{"seccomp=" + dir + "/none.json"}}, "none.json: no such file or directory"},
		{RunFlags{SecurityOpt: []string{"seccomp=" + bad}}, `unknown action "SCMP_ACT_NOPE"`},
		{RunFlags{SecurityOpt: []string{"seccomp=" + dir}}, "is a directory"},
		{RunFlags{SecurityOpt: []string{"seccomp"}}, "want seccomp=unconfined or seccomp=PROFILE.json"},
		{RunFlags{SecurityOpt: []string{"apparmor=unconfined"}}, `"apparmor=unconfined": unknown option`},
		{RunFlags{SecurityOpt: []string{"no-new-privileges=yes"}}, "want no-new-privileges"},
	} {
		c.f.Command = []string{"sh"}
		_, err := FromRun(c.f, lookup)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one line with %q", c.f, err, c.want)
		}
	}
}
