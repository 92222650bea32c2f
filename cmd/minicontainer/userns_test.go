package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/spec"
	"github.com/minicontainer/minicontainer/pkg/testuser"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// withUserNS gives a Spec a new user namespace, 0-65535 inside being
// 100000-165535 on the host.
func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// TestOCIUserNamespace: in a bundle with a user namespace, the process is
// root inside, a file it writes to a bind mount belongs to 100000 on the
// host, and the rootfs's files, host root's, are nobody's (65534) inside.
func TestOCIUserNamespace(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-userns"
	vol := t.TempDir()
	// The container's root is 100000 here: it may write only where that
	// uid may.
	if err := os.Chown(vol, 100000, 100000); err != nil {
		t.Fatal(err)
	}
	b := bundle(t, id, []string{"sh", "-c", "id -u; id -g; stat -c %u /bin/busybox; cat /proc/self/uid_map; echo hi > /vol/f"}, func(s *specs.Spec) {
		withUserNS(s)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind"}})
	})
	// t.TempDir's dirs are root's, 0700: 100000 must reach the rootfs.
	for _, d := range []string{filepath.Dir(b), b, filepath.Dir(vol)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The mount point, made here: 100000 may not write the rootfs, host
	// root's (as with runc, the rootfs of a user-namespaced container is
	// its caller's business: podman chowns a copy).
	if err := os.Mkdir(filepath.Join(b, "rootfs", "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := mc(t, "", "run", "--bundle", b)
	if r.code != 0 {
		t.Fatalf("run --bundle: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	got := strings.Join(strings.Fields(r.stdout), " ")
	if want := "0 0 65534 0 100000 65536"; got != want {
		t.Errorf("inside: %q, want %q (id -u, id -g, the owner of /bin/busybox, uid_map)", got, want)
	}
	st, err := os.Stat(filepath.Join(vol, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 100000 || sys.Gid != 100000 {
		t.Errorf("the file written inside belongs to %d:%d on the host, want 100000:100000", sys.Uid, sys.Gid)
	}
}

// TestOCIUserNamespaceBadMaps: maps that overlap, or no gid map, are
// refused in one line, exit 1 (create's, as runc's), and nothing is
// created.
func TestOCIUserNamespaceBadMaps(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-userns-bad"
	for _, c := range []struct {
		edit func(*specs.Spec)
		want string
	}{
		{func(s *specs.Spec) {
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 65535, HostID: 300000, Size: 2})
		}, "config.json: linux.uidMappings[1]: overlaps [0] inside the container (0-65535 and 65535-65536)"},
		{func(s *specs.Spec) { s.Linux.GIDMappings = nil }, "config.json: linux.gidMappings: a new \"user\" namespace needs a map"},
	} {
		b := bundle(t, id, []string{"true"}, func(s *specs.Spec) { withUserNS(s); c.edit(s) })
		r := oci(t, "create", "--bundle", b, id)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "minicontainer: "+c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("create: exit %d, %q; want 1 and one line with %q", r.code, r.stderr, c.want)
		}
		if r := oci(t, "state", id); r.code == 0 {
			t.Errorf("state after a refused create: %s", r.stdout)
		}
	}
}

// TestRootlessBundle runs a bundle as an unprivileged user the test makes
// (useradd, with a range in /etc/subuid and /etc/subgid), as podman maps
// one: the user is 0 inside, its range 1-65536. The user builds the
// rootfs, and its state goes to /tmp/minicontainer-UID. Inside: root;
// outside: the file written to a volume is the user's; chown to 1000
// works, and is SubStart+999 outside; a host file only root may read
// stays unreadable through a volume; after delete nothing is left.
// Without a range (sub 0) only the user's id is mapped, written without
// the helpers (setgroups then denied), and chown to 1000 fails (EINVAL:
// an id no map covers).
func TestRootlessBundle(t *testing.T) {
	needRoot(t)
	if _, err := userns.Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	for _, sub := range []int{65536, 0} {
		t.Run(fmt.Sprintf("range %d", sub), func(t *testing.T) { rootlessBundle(t, sub) })
	}
}

func rootlessBundle(t *testing.T, sub int) {
	// Verified after testuser's clean-up has put the account files back
	// (clean-ups run last first).
	snap := hostcheck.Take(t, append(ociWatched, "account ")...)
	t.Cleanup(func() { snap.Verify(t) })
	u := testuser.Make(t, sub)
	bin := testuser.Executable(t, "minicontainer")
	stateRoot := fmt.Sprintf("/tmp/minicontainer-%d", u.UID)
	t.Cleanup(func() { os.RemoveAll(stateRoot) })
	as := func(args ...string) result {
		t.Helper()
		cmd := u.Command(bin, args...)
		return outcome(t, cmd)
	}
	// The bundle and the volume are the user's.
	b, err := os.MkdirTemp("", "mctest-rootless")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(b)
	vol, secret := filepath.Join(b, "vol"), filepath.Join(b, "secret")
	for _, d := range []string{b, vol} {
		os.MkdirAll(d, 0o755)
		if err := os.Chown(d, u.UID, u.GID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := as("rootfs", "busybox", filepath.Join(b, "rootfs")); r.code != 0 {
		t.Fatalf("rootfs busybox as %s: exit %d: %s", u.Name, r.code, r.stderr)
	}
	s := spec.Default()
	s.Root.Path = "rootfs"
	s.Process.Args = []string{"sh", "-c", "id -u; echo hi > /vol/mine; echo hi > /vol/chowned; chown 1000:1000 /vol/chowned && echo chowned; cat /secret || echo unreadable"}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	var ranges []userns.Range
	if sub > 0 {
		ranges = []userns.Range{{Start: uint32(u.SubStart), Count: uint32(u.SubCount)}}
	}
	s.Linux.UIDMappings = userns.Rootless(uint32(u.UID), ranges)
	s.Linux.GIDMappings = userns.Rootless(uint32(u.GID), ranges)
	if sub == 0 {
		// devpts's gid=5 (tty) has no map: the kernel refuses the mount
		// (EINVAL), and `runc spec --rootless` drops it too.
		for i, m := range s.Mounts {
			if m.Type == "devpts" {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "gid=5" })
			}
		}
	}
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind"}},
		specs.Mount{Destination: "/secret", Type: "bind", Source: secret, Options: []string{"bind", "ro"}})
	writeConfig(t, b, s)

	r := as("run", "--bundle", b)
	if r.code != 0 {
		t.Fatalf("run --bundle as %s: exit %d: %s%s", u.Name, r.code, r.stdout, r.stderr)
	}
	want, owners := "0\nchowned\nunreadable\n", map[string]int{"mine": u.UID, "chowned": u.SubStart + 999}
	if sub == 0 {
		want, owners = "0\nunreadable\n", map[string]int{"mine": u.UID, "chowned": u.UID}
		if !strings.Contains(r.stderr, "chown: /vol/chowned: Invalid argument") {
			t.Errorf("stderr: %q, want chown's invalid argument", r.stderr)
		}
	}
	if r.stdout != want {
		t.Errorf("inside: %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "cat: can't open '/secret': Permission denied") {
		t.Errorf("stderr: %q, want cat's permission denied", r.stderr)
	}
	for name, want := range owners {
		st, err := os.Stat(filepath.Join(vol, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := int(st.Sys().(*syscall.Stat_t).Uid); got != want {
			t.Errorf("/vol/%s belongs to %d on the host, want %d", name, got, want)
		}
	}
	entries, err := os.ReadDir(stateRoot)
	if err != nil || len(entries) != 0 {
		t.Errorf("state root %s after the run: %v, %v; want it empty", stateRoot, entries, err)
	}

	// Refused in one line, exit 125, nothing made: a limit (the test's
	// cgroup is root's: no subtree delegated to this user), a range bigger than /etc/subuid gives, and no
	// user namespace at all.
	for _, c := range []struct {
		edit func(*specs.Spec)
		want string
	}{
		{func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20))} },
			"minicontainer: linux.resources: rootless: the memory limit needs a cgroup v2 subtree delegated to you, and your cgroup "},
		{func(s *specs.Spec) {
			s.Linux.UIDMappings = userns.Rootless(uint32(u.UID), []userns.Range{{Start: uint32(u.SubStart), Count: uint32(u.SubCount) + 1}})
		}, fmt.Sprintf("minicontainer: linux.uidMappings[1]: host ids %d-%d are neither yours (%d) nor in a range /etc/subuid gives you", u.SubStart, u.SubStart+u.SubCount, u.UID)},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:len(s.Linux.Namespaces)-1]
			s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		}, "minicontainer: must run as root, or give the container a user namespace"},
	} {
		bad := *s
		bad.Linux = ptr(*s.Linux)
		bad.Linux.Resources = &specs.LinuxResources{}
		if s.Linux.Resources != nil {
			bad.Linux.Resources = ptr(*s.Linux.Resources)
		}
		bad.Linux.UIDMappings = append([]specs.LinuxIDMapping(nil), s.Linux.UIDMappings...)
		c.edit(&bad)
		writeConfig(t, b, &bad)
		r := as("run", "--bundle", b)
		if r.code != 125 || !strings.HasPrefix(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("run --bundle: exit %d, %q; want 125 and one line starting %q", r.code, r.stderr, c.want)
		}
		if entries, _ := os.ReadDir(stateRoot); len(entries) != 0 {
			t.Errorf("state root after a refused run: %v", entries)
		}
	}
}

func ptr[T any](v T) *T { return &v }
