package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/testuser"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// TestRootlessImage: an unprivileged user (useradd) has its own store,
// $XDG_DATA_HOME/minicontainer/images. As that user: load a three-layer
// image whose top layer deletes a file at the top and one in /etc
// (whiteouts), hides /usr/sbin (an opaque directory) and carries a
// device node; its layers are unpacked in the form a user may make
// (whiteouts the character devices 0:0 any user may create,
// user.overlay.opaque=y on the opaque directory, no other device, files
// the user's own); run it
// rootless (overlay with userxattr in the user's namespace): the deleted
// files are gone, the opaque directory hides the lower one's files. import
// and pull (minicontainer-pull, from a registry in this process) work
// too; rmi of all leaves the user's store as it was.
func TestRootlessImage(t *testing.T) {
	needRoot(t)
	if _, err := userns.Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	if os.Getenv(envTestHost) != "" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v %s", err, out)
		}
	}
	snap := hostcheck.Take(t, "mctest", "minicontainer", "process ", "account ")
	t.Cleanup(func() { snap.Verify(t) })
	u := testuser.Make(t, 65536)
	bin := testuser.Executable(t, "minicontainer")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(bin), "minicontainer-pull"), "./pull").CombinedOutput(); err != nil {
		t.Fatalf("go build minicontainer-pull: %v\n%s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll("/tmp/minicontainer-" + itoa(u.UID)) })
	// On disk (/var/tmp), not in /tmp: a user's layers keep their
	// opaque directories in user.* extended attributes, which tmpfs has
	// only from Linux 6.6 (Debian 12's /tmp on the v2 VM refused them).
	home, err := os.MkdirTemp("/var/tmp", "mctest-rootless-image")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	if err := unix.Setxattr(home, "user.mctest", []byte("1"), 0); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("%s: no user.* extended attributes on this file system, where a user's image store marks its opaque directories", home)
	}
	data := filepath.Join(home, "data")
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	as := func(args ...string) result {
		t.Helper()
		cmd := u.Command(bin, args...)
		cmd.Env = append(cmd.Env, "XDG_DATA_HOME="+data)
		return outcome(t, cmd)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(data, "minicontainer", "images")
	if r := as("images"); r.code != 0 || r.stdout != "REPOSITORY:TAG   IMAGE ID   CREATED   SIZE\n" {
		t.Fatalf("images in an empty store: %+v", r)
	}
	before := listing(t, store)

	base, err := exec.Command("tar", "-C", testRootfs, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	mid := tarOf(t, "gone", "g\n", "keep", "k\n")
	top := tarOf(t, ".wh.gone", "", "etc/.wh.group", "", "usr/sbin/.wh..wh..opq", "", "usr/sbin/only", "o\n")
	top = withDevice(t, top, "dev/null2")
	save := saveTar(t, home, "test/rl:1", map[string]any{"Cmd": []string{"sh"}}, base, mid, top)
	if err := os.Chmod(save, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := as("load", "-i", save); r.code != 0 || r.stdout != "Loaded image: test/rl:1\n" {
		t.Fatalf("load as %s: %+v", u.Name, r)
	}
	r := as("run", "test/rl:1", "sh", "-c", "cat /keep; test -e /gone || echo no-gone; test -e /etc/group || echo no-group; ls /usr/sbin; test -e /dev/null2 || echo no-dev; id -u")
	if want := "k\nno-gone\nno-group\nonly\nno-dev\n0\n"; r.code != 0 || r.stdout != want {
		t.Errorf("run test/rl:1 as %s: exit %d\n got %q\nwant %q\n%s", u.Name, r.code, r.stdout, want, r.stderr)
	}
	// The top layer on disk: 0:0 whiteouts, the user's opaque xattr on
	// usr/sbin only, no other device, every file the user's.
	topDir := filepath.Join(store, "layers", "sha256", sha(top))
	for _, name := range []string{"gone", "etc/group"} {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(topDir, name), &st)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || int(st.Uid) != u.UID {
			t.Errorf("%s: %v, mode %o rdev %d uid %d; want a character device 0:0 of uid %d", name, err, st.Mode, st.Rdev, st.Uid, u.UID)
		}
	}
	for _, c := range []struct{ path, want string }{
		{".", ""},
		{"etc", ""},
		{"usr/sbin", "y"},
	} {
		v := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(topDir, c.path), "user.overlay.opaque", v)
		if got := string(v[:max(n, 0)]); got != c.want || (c.want != "" && err != nil) || (c.want == "" && !errors.Is(err, unix.ENODATA)) {
			t.Errorf("%s: user.overlay.opaque = %q, %v; want %q", c.path, got, err, c.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(topDir, "dev", "null2")); err == nil {
		t.Error("the layer has dev/null2: a device node unpacked by a user")
	}

	// import: a root filesystem tar as a one-layer image.
	flat := filepath.Join(home, "flat.tar")
	if err := os.WriteFile(flat, mid, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := as("import", flat, "test/flat"); r.code != 0 {
		t.Errorf("import as %s: %+v", u.Name, r)
	}
	// pull: from a registry served by this test on 127.0.0.1.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(base)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err == nil {
		img, err = mutate.Config(img, v1.Config{Cmd: []string{"echo", "pulled"}})
	}
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/test/pulled:1"
	nr, _ := name.ParseReference(ref)
	if err := remote.Write(nr, img); err != nil {
		t.Fatal(err)
	}
	if r := as("pull", ref); r.code != 0 {
		t.Errorf("pull as %s: %+v", u.Name, r)
	}
	if r := as("run", ref); r.code != 0 || r.stdout != "pulled\n" {
		t.Errorf("run %s as %s: %+v", ref, u.Name, r)
	}
	if r := as("images", "-q"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("images -q as %s: %+v; want 3 images", u.Name, r)
	}
	// rmi of an image a running rootless container uses is refused: its
	// overlay is in the user's mountinfo, readable by the user.
	bg := u.Command(bin, "run", "--init", "test/rl:1", "sleep", "60")
	bg.Env = append(bg.Env, "XDG_DATA_HOME="+data)
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(as("ps").stdout, "sleep 60"); i++ {
		if i == 100 {
			bg.Process.Kill()
			t.Fatal("the background container did not show in ps")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // ps lists it from "starting"; the overlay comes before the exec
	r = as("rmi", "test/rl:1")
	bg.Process.Signal(syscall.SIGTERM)
	bg.Wait()
	if r.code != 125 || !strings.Contains(r.stderr, "uses it") {
		t.Errorf("rmi as %s of an image in use: %+v", u.Name, r)
	}
	if r := as("rmi", "test/rl:1", "test/flat", ref); r.code != 0 {
		t.Errorf("rmi as %s: %+v", u.Name, r)
	}
	if after := listing(t, store); after != before {
		t.Errorf("the user's store before:\n%s\nafter rmi:\n%s", before, after)
	}
}

// withDevice appends a character device (1:3, /dev/null's numbers) to
// the tar b.
func withDevice(t *testing.T, b []byte, path string) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Name: path, Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// listing is every path under dir with its size, one a line.
func listing(t *testing.T, dir string) string {
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.Mode().IsRegular() && rel != "repositories.json" && rel != "lock" {
			lines = append(lines, rel+" "+itoa(int(fi.Size())))
		} else if fi.IsDir() {
			lines = append(lines, rel+"/")
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itoa(n int) string { return strconv.Itoa(n) }

// sha is the hex sha256 of b: an uncompressed layer's diff ID.
func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
