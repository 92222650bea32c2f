package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
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
