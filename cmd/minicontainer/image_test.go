package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestImageVerbs: import, images, rmi through the CLI; errors are one
// line and exit 125; rmi gives the disk back.
func TestImageVerbs(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest").Verify(t)
	store := t.TempDir()
	t.Setenv("MINICONTAINER_IMAGES", store)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", testRootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	empty := du(t, store)
	if r := mc(t, "", "import", tarball, "bb:one"); r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("import: %+v", r)
	}
	if r := mc(t, "", "images"); r.code != 0 || !strings.Contains(r.stdout, "\nbb:one ") {
		t.Fatalf("images: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rmi", "nope"}, `image "nope": not in the store`},
		{[]string{"load", "-i", "/nonexistent.tar"}, "load: stat /nonexistent.tar: no such file or directory"},
		{[]string{"load", "-i", "/etc/passwd"}, "not a tar archive"},
		{[]string{"import", "/etc/passwd", "x"}, "not a tar archive"},
		{[]string{"load", "-i", tarball}, "neither an OCI layout"},
		{[]string{"load", "-i", tarball, "--platform", "linux"}, "want os/arch"},
		{[]string{"pull", "127.0.0.1:1/no/registry"}, "pull 127.0.0.1:1/no/registry: "},
		{[]string{"pull", "Not A Ref"}, "could not parse reference"},
	} {
		r := mc(t, "", c.args...)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("minicontainer %s: exit %d, stderr %q; want 125 and one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if r := mc(t, "", "rmi", "bb:one"); r.code != 0 {
		t.Fatalf("rmi: %+v", r)
	}
	if r := mc(t, "", "images", "-q"); r.code != 0 || r.stdout != "" {
		t.Fatalf("images -q after rmi: %+v", r)
	}
	if after := du(t, store); after != empty {
		t.Errorf("the store used %d bytes before import, %d after rmi", empty, after)
	}
}

// du is the bytes of the regular files under dir (the store's own lock
// and repositories.json included).
func du(t *testing.T, dir string) (n int64) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Name() != "repositories.json" && fi.Name() != "lock" {
			n += fi.Size()
		}
		return nil
	})
	return n
}
