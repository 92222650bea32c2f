package labs

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func init() {
	register(&lab{
		id: "13", dir: "13-images", title: "an image layer unpacked for overlayfs: whiteouts, opaque directories, no escape",
		solutions: []string{"docs/labs/13-images/solution"},
		skeletonFails: []string{"a whiteout becomes a character device 0:0", "an opaque marker becomes trusted.overlay.opaque",
			"the layer works as an overlay lower dir", "no entry leaves the layer", "no write through a planted symlink"},
		checks: layerChecks(),
	})
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

// layerTar writes a tar of the entries to a file of the lab's own and
// returns its path.
func layerTar(t *testing.T, ents ...tarEntry) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	f := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// topLayer is lesson 13's top layer: a new file, a whiteout, an opaque
// directory with a file of its own.
func topLayer(t *testing.T) string {
	return layerTar(t,
		tarEntry{name: "etc/", typ: tar.TypeDir}, tarEntry{name: "etc/motd", body: "top\n", typ: tar.TypeReg},
		tarEntry{name: "etc/.wh.group", typ: tar.TypeReg},
		tarEntry{name: "usr/", typ: tar.TypeDir}, tarEntry{name: "usr/sbin/", typ: tar.TypeDir},
		tarEntry{name: "usr/sbin/.wh..wh..opq", typ: tar.TypeReg}, tarEntry{name: "usr/sbin/mine", body: "m\n", typ: tar.TypeReg})
}

// unpacked runs ./demo LAYER DIR into a new directory and returns it.
func unpacked(t *testing.T, p *prog, layer string) (string, sidebyside.Result) {
	dir := filepath.Join(t.TempDir(), "layer")
	return dir, sidebyside.Exec(filepath.Join(p.Dir, "demo"), layer, dir)
}

func layerChecks() []check {
	return []check{
		{"files, directories and symlinks are unpacked", "the skeleton does it: compare with what you changed",
			func(t *testing.T, p *prog) {
				dir, r := unpacked(t, p, layerTar(t, tarEntry{name: "a/", typ: tar.TypeDir},
					tarEntry{name: "a/f", body: "hello\n", typ: tar.TypeReg}, tarEntry{name: "a/l", link: "f", typ: tar.TypeSymlink}))
				b, err := os.ReadFile(filepath.Join(dir, "a/l"))
				if r.Code != 0 || err != nil || string(b) != "hello\n" {
					t.Errorf("exit %d (stderr %q); a/l read %q, %v", r.Code, firstLine(r.Stderr), b, err)
				}
			}},
		{"a whiteout becomes a character device 0:0", "TODO 1: .wh.NAME is overlay's whiteout, mknod(NAME, S_IFCHR, 0), and no .wh. file is left",
			func(t *testing.T, p *prog) {
				dir, r := unpacked(t, p, topLayer(t))
				var st unix.Stat_t
				err := unix.Lstat(filepath.Join(dir, "etc/group"), &st)
				if r.Code != 0 || err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
					t.Errorf("exit %d (stderr %q); etc/group: %v, mode %o rdev %d: want a character device 0:0", r.Code, firstLine(r.Stderr), err, st.Mode, st.Rdev)
				}
				if _, err := os.Lstat(filepath.Join(dir, "etc/.wh.group")); err == nil {
					t.Error("etc/.wh.group was written as a file: overlayfs would show it")
				}
			}},
		{"an opaque marker becomes trusted.overlay.opaque", "TODO 2: .wh..wh..opq is the xattr trusted.overlay.opaque=y on its directory, and no file",
			func(t *testing.T, p *prog) {
				dir, r := unpacked(t, p, topLayer(t))
				buf := make([]byte, 8)
				n, err := unix.Lgetxattr(filepath.Join(dir, "usr/sbin"), "trusted.overlay.opaque", buf)
				if r.Code != 0 || err != nil || string(buf[:max(n, 0)]) != "y" {
					t.Errorf("exit %d (stderr %q); usr/sbin's trusted.overlay.opaque: %q, %v", r.Code, firstLine(r.Stderr), buf[:max(n, 0)], err)
				}
				if _, err := os.Lstat(filepath.Join(dir, "usr/sbin/.wh..wh..opq")); err == nil {
					t.Error("usr/sbin/.wh..wh..opq was written as a file")
				}
			}},
		{"the layer works as an overlay lower dir", "over a lower layer that has etc/group and usr/sbin/other, the merged view must have neither, and mine",
			func(t *testing.T, p *prog) {
				dir, r := unpacked(t, p, topLayer(t))
				if r.Code != 0 {
					t.Fatalf("exit %d (stderr %q)", r.Code, firstLine(r.Stderr))
				}
				base := t.TempDir()
				os.MkdirAll(filepath.Join(base, "etc"), 0o755)
				os.MkdirAll(filepath.Join(base, "usr/sbin"), 0o755)
				os.WriteFile(filepath.Join(base, "etc/group"), []byte("root:x:0:\n"), 0o644)
				os.WriteFile(filepath.Join(base, "usr/sbin/other"), []byte("o\n"), 0o644)
				merged := t.TempDir()
				// a mount namespace of its own: nothing is mounted on the host
				out, _ := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
					`mount -t overlay -o "lowerdir=$1:$2" lab13 "$3" && cd "$3" && ls etc usr/sbin`, "sh", dir, base, merged).CombinedOutput()
				if got := strings.Join(strings.Fields(string(out)), " "); got != "etc: motd usr/sbin: mine" {
					t.Errorf("the merged view lists %q, want \"etc: motd usr/sbin: mine\"", got)
				}
			}},
		{"no entry leaves the layer", "TODO 3: refuse a name with \"..\" or a leading \"/\", with an error and a non-zero exit",
			func(t *testing.T, p *prog) {
				layer := layerTar(t, tarEntry{name: "../escaped", body: "x", typ: tar.TypeReg})
				dir, r := unpacked(t, p, layer)
				if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "escaped")); err == nil || r.Code == 0 {
					t.Errorf("../escaped: exit %d, and it was written beside DIR: %v", r.Code, err == nil)
				}
			}},
		{"no write through a planted symlink", "TODO 4: a symlink an earlier entry made must not be followed: open parents with O_NOFOLLOW",
			func(t *testing.T, p *prog) {
				outside := t.TempDir()
				layer := layerTar(t, tarEntry{name: "link", link: outside, typ: tar.TypeSymlink},
					tarEntry{name: "link/pwned", body: "x", typ: tar.TypeReg})
				_, r := unpacked(t, p, layer)
				if _, err := os.Lstat(filepath.Join(outside, "pwned")); err == nil || r.Code == 0 {
					t.Errorf("link -> %s, then link/pwned: exit %d, written outside: %v", outside, r.Code, err == nil)
				}
			}},
	}
}
