package spec

import (
	"encoding/json"
	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFeaturesAgreeWithValidate: every namespace, mount option and hook
// Features lists is accepted by Validate, and what it calls disabled is
// refused: the document is a function of the same tables.
func TestFeaturesAgreeWithValidate(t *testing.T) {
	f := Features()
	dir := bundle(t, runcSpec)
	for _, n := range f.Linux.Namespaces {
		s := base(t)
		withoutNS(s, specs.LinuxNamespaceType(n))
		if n == "user" {
			userNS(s) // a new one needs its maps
		} else {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n)})
		}
		if err := Validate(s, dir); err != nil {
			t.Errorf("namespace %s listed, refused: %v", n, err)
		}
	}
	for _, n := range []string{"time"} {
		if slices.Contains(f.Linux.Namespaces, n) {
			t.Errorf("namespace %s listed, but refused", n)
		}
	}
	for _, o := range f.MountOptions {
		s := base(t)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{o}})
		if strings.Contains(o, "bind") {
			s.Mounts[len(s.Mounts)-1].Source = "rootfs"
		}
		if err := Validate(s, dir); err != nil {
			t.Errorf("mount option %s listed, refused: %v", o, err)
		}
	}
	for _, c := range f.Linux.Capabilities {
		s := base(t)
		s.Process.Capabilities.Bounding = []string{c}
		if err := Validate(s, dir); err != nil {
			t.Errorf("capability %s listed, refused: %v", c, err)
		}
	}
	// Seccomp is honoured (pkg/seccomp): Docker's default profile passes.
	if !*f.Linux.Seccomp.Enabled {
		t.Error("seccomp said disabled")
	} else {
		s := base(t)
		s.Linux.Seccomp = seccomp.Default()
		if err := Validate(s, dir); err != nil {
			t.Errorf("seccomp said enabled, Docker's default refused: %v", err)
		}
		s.Linux.Seccomp.Syscalls[0].Names = []string{"nosuchcall"}
		if err := Validate(s, dir); err == nil || !strings.HasPrefix(err.Error(), "config.json: linux.seccomp.syscalls[0].names[0]: ") {
			t.Errorf("a profile naming an unknown system call: %v", err)
		}
	}
	if *f.Linux.Apparmor.Enabled || *f.Linux.Selinux.Enabled || *f.Linux.MountExtensions.IDMap.Enabled {
		t.Errorf("a refused feature is said enabled: %+v", f.Linux)
	}
	if !slices.Equal(f.Hooks, HookNames) || f.OCIVersionMax != specs.Version {
		t.Errorf("hooks %v, ociVersionMax %s", f.Hooks, f.OCIVersionMax)
	}
	if _, err := json.Marshal(f); err != nil {
		t.Fatal(err)
	}
}

// TestCapabilitiesFromKernel: the capabilities listed stop at the
// kernel's last one.
func TestCapabilitiesFromKernel(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skip(err)
	}
	last, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	listed := Features().Linux.Capabilities
	if want := min(last+1, len(caps.Known())); len(listed) != want {
		t.Errorf("%d capabilities listed, the kernel knows %d", len(listed), last+1)
	}
	if listed[0] != "CAP_CHOWN" || (len(listed) > 21 && listed[21] != "CAP_SYS_ADMIN") {
		t.Errorf("not in number order: %v", listed)
	}
}

// TestParseMountOptions: later options win, propagation is kept apart,
// the rest is the filesystem's data.
func TestParseMountOptions(t *testing.T) {
	p, err := ParseMountOptions([]string{"ro", "nosuid", "rw", "rprivate", "mode=755", "size=65536k"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Flags != MountFlags["nosuid"].Flag || len(p.Propagation) != 1 || p.Propagation[0] != Propagations["rprivate"] || p.Data != "mode=755,size=65536k" {
		t.Errorf("got %+v", p)
	}
	for _, o := range []string{"rro", "rrw", "rnoexec", "ratime", "tmpcopyup", "idmap", "ridmap"} {
		if _, err := ParseMountOptions([]string{o}); err == nil {
			t.Errorf("%s accepted", o)
		}
	}
	for _, o := range []string{"rbind", "relatime", "remount", "rshared", "rslave", "runbindable"} {
		if _, err := ParseMountOptions([]string{o}); err != nil {
			t.Errorf("%s: %v", o, err)
		}
	}
}

// TestCapabilityNumbers checks pkg/caps' table (what Validate and Features use) against <linux/capability.h>,
// where the kernel headers are installed: each name at its number.
func TestCapabilityNumbers(t *testing.T) {
	data, err := os.ReadFile("/usr/include/linux/capability.h")
	if err != nil {
		t.Skip(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "#define" || !strings.HasPrefix(f[1], "CAP_") || f[1] == "CAP_LAST_CAP" {
			continue
		}
		num, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if known := caps.Known(); num >= len(known) || known[num] != f[1] {
			t.Errorf("%s is %d in the header; the table says %v", f[1], num, slices.Index(known, f[1]))
		}
		n++
	}
	if n != len(caps.Known()) {
		t.Errorf("the header defines %d capabilities, the table has %d", n, len(caps.Known()))
	}
}
