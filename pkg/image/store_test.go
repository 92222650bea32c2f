package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%s holds %d entries (first %s), want none", dir, len(ents), ents[0].Name())
	}
}

func TestPutBlobVerifies(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("hello layer")
	want := FromBytes([]byte("something else"))
	_, _, err = s.PutBlob(bytes.NewReader(body), want)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), string(want)) {
		t.Fatalf("PutBlob with a wrong digest: %v, want a digest mismatch naming %s", err, want)
	}
	emptyDir(t, s.blobDir())
	emptyDir(t, s.tmpDir())

	d, n, err := s.PutBlob(bytes.NewReader(body), FromBytes(body))
	if err != nil || d != FromBytes(body) || n != int64(len(body)) {
		t.Fatalf("PutBlob = %s %d %v", d, n, err)
	}
	if got, _ := s.ReadBlob(d); !bytes.Equal(got, body) {
		t.Fatalf("ReadBlob = %q", got)
	}
	if _, _, err := s.PutBlob(bytes.NewReader(body), "sha256:../../etc"); err == nil {
		t.Fatal("a digest with a path in it was accepted")
	}
}

func TestIndexSelect(t *testing.T) {
	ix, err := ParseIndex([]byte(`{"schemaVersion":2,"mediaType":"` + MediaDockerList + `","manifests":[
	 {"mediaType":"` + MediaDockerManifest + `","digest":"sha256:` + strings.Repeat("a", 64) + `","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
	 {"mediaType":"` + MediaDockerManifest + `","digest":"sha256:` + strings.Repeat("b", 64) + `","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ix.Select(DefaultPlatform); err != nil || d.Digest.Hex()[0] != 'b' {
		t.Errorf("Select(linux/amd64) = %v %v", d.Digest, err)
	}
	if d, err := ix.Select(Platform{OS: "linux", Architecture: "arm64"}); err != nil || d.Digest.Hex()[0] != 'a' {
		t.Errorf("Select(linux/arm64) = %v %v", d.Digest, err)
	}
	if _, err := ix.Select(Platform{OS: "linux", Architecture: "s390x"}); err == nil || !strings.Contains(err.Error(), "linux/arm64/v8, linux/amd64") {
		t.Errorf("Select(linux/s390x) = %v, want an error listing what the index has", err)
	}
	if _, err := ParseManifest([]byte(`{"schemaVersion":2,"manifests":[]}`)); err == nil {
		t.Error("an index parsed as a manifest")
	}
}

// TestLayersWhiteouts builds an image of three layers — a base, one that
// adds, changes and deletes (a whiteout), one that hides a directory
// (opaque) — checks what our extraction made of the markers, and mounts
// the layers as overlay lower dirs to see that the kernel reads them as
// we meant.
func TestLayersWhiteouts(t *testing.T) {
	requireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := makeTar(t, dir("etc"), file("etc/motd", "v1"), file("etc/gone", "x"),
		dir("opt"), dir("opt/app"), file("opt/app/old", "o"), symlink("lnk", "etc/motd"))
	change := makeTar(t, file("etc/motd", "v2"), file("etc/new", "n"), file("etc/.wh.gone", ""))
	hide := makeTar(t, dir("opt/app"), file("opt/app/.wh..wh..opq", ""), file("opt/app/fresh", "f"))
	buildImage(t, s, "test/layers", ContainerConfig{Cmd: []string{"sh"}}, base, change, hide)

	img, err := s.Image("test/layers")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 || img.Ref != "test/layers:latest" || img.Config.Config.Cmd[0] != "sh" {
		t.Fatalf("image = %+v", img)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(img.Layers[1], "etc/gone"), &st); err != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone in layer 2: %v mode %o rdev %d, want a 0:0 character device", err, st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(img.Layers[1], "etc/.wh.gone")); err == nil {
		t.Error("the .wh. marker itself was extracted")
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(img.Layers[2], "opt/app"), OverlayOpaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opt/app in layer 3: %s = %q %v, want y", OverlayOpaqueXattr, buf[:n], err)
	}

	// The kernel's reading: overlay's lowerdir lists the top layer first.
	mnt := t.TempDir()
	opts := "lowerdir=" + img.Layers[2] + ":" + img.Layers[1] + ":" + img.Layers[0]
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	got := tree(t, mnt)
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"etc": "d", "etc/motd": "f:v2", "etc/new": "f:n", "opt": "d", "opt/app": "d",
		"opt/app/fresh": "f:f", "lnk": "l:etc/motd"}
	if !equalMaps(got, want) {
		t.Errorf("the overlay of the three layers:\n got %v\nwant %v", got, want)
	}

	// The same layers in an overlay with userxattr, as run --userns remap
	// mounts root's layers: it reads only user.overlay.opaque.
	if n, err := unix.Lgetxattr(filepath.Join(img.Layers[2], "opt/app"), userOpaqueXattr, buf); err == nil && string(buf[:n]) == "y" {
		if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts+",userxattr"); err != nil {
			t.Fatalf("mount overlay %s,userxattr: %v", opts, err)
		}
		got = tree(t, mnt)
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Fatal(err)
		}
		if !equalMaps(got, want) {
			t.Errorf("the overlay of the three layers with userxattr (run --userns remap):\n got %v\nwant %v", got, want)
		}
	} else if errors.Is(err, unix.EOPNOTSUPP) {
		t.Logf("the store's file system keeps no user.* xattrs (tmpfs before 6.6): the userxattr overlay is not checked here")
	} else {
		t.Errorf("opt/app in layer 3: %s: %v, want y (run --userns remap would show the lower layers' files there)", userOpaqueXattr, err)
	}

	// Unpacked once: a second Image uses the same directories.
	before, _ := os.Stat(img.Layers[0])
	img2, err := s.Image(img.Digest.Short())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(img2.Layers[0])
	if !os.SameFile(before, after) {
		t.Error("the layer was unpacked again")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHostileLayers feeds layers that try to write outside the layer
// directory; each must be refused, with nothing written outside and no
// layer (not even a partial one) left in the store.
func TestHostileLayers(t *testing.T) {
	requireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	rel := func(store string) string {
		r, _ := filepath.Rel(filepath.Join(store, "tmp", "layer-x"), outside)
		return r
	}
	cases := []struct {
		name string
		ents func(store string) []entry
		want string
	}{
		{"dotdot", func(st string) []entry { return []entry{file(rel(st)+"/pwned", "x")} }, `".." refused`},
		{"absolute", func(string) []entry { return []entry{file(outside+"/pwned", "x")} }, "absolute path refused"},
		{"absolute symlink then a file through it", func(string) []entry {
			return []entry{symlink("evil", outside), file("evil/pwned", "x")}
		}, "not a directory (a symlink?)"},
		{"relative symlink then a file through it", func(st string) []entry {
			return []entry{symlink("evil", rel(st)), file("evil/pwned", "x")}
		}, "not a directory (a symlink?)"},
		{"symlink then a dir through it", func(string) []entry {
			return []entry{symlink("evil", outside), dir("evil/sub"), file("evil/sub/pwned", "x")}
		}, "not a directory (a symlink?)"},
		{"hardlink to outside", func(st string) []entry { return []entry{hardlink("h", rel(st)+"/secret")} }, `".." refused`},
		{"hardlink to absolute", func(string) []entry { return []entry{hardlink("h", secret)} }, "absolute path refused"},
		{"hardlink through a symlink", func(string) []entry {
			return []entry{symlink("evil", outside), hardlink("h", "evil/secret")}
		}, "not a directory (a symlink?)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			layer := makeTar(t, c.ents(s.Root)...)
			z := gzipBytes(t, layer)
			d, _, err := s.PutBlob(bytes.NewReader(z), "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Unpack(Descriptor{MediaType: MediaOCILayerGzip, Digest: d}, FromBytes(layer))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Unpack = %v, want an error with %q", err, c.want)
			}
			emptyDir(t, s.layerDir())
			emptyDir(t, s.tmpDir())
			if got := tree(t, outside); !equalMaps(got, map[string]string{"secret": "f:host"}) {
				t.Fatalf("outside the store: %v", got)
			}
			var st unix.Stat_t
			if unix.Stat(secret, &st); st.Nlink != 1 {
				t.Fatalf("%s has %d links", secret, st.Nlink)
			}
		})
	}
}

func TestDiffIDMismatch(t *testing.T) {
	requireRoot(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := makeTar(t, file("a", "1"))
	d, _, err := s.PutBlob(bytes.NewReader(layer), "")
	if err != nil {
		t.Fatal(err)
	}
	wrong := FromBytes([]byte("not this layer"))
	_, err = s.Unpack(Descriptor{MediaType: MediaOCILayer, Digest: d}, wrong)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), string(wrong)) {
		t.Fatalf("Unpack with a wrong diff ID = %v", err)
	}
	emptyDir(t, s.layerDir())
	emptyDir(t, s.tmpDir())
}

func TestRemoveCollects(t *testing.T) {
	requireRoot(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	shared := makeTar(t, file("a", "1"))
	buildImage(t, s, "one", ContainerConfig{}, shared, makeTar(t, file("b", "2")))
	buildImage(t, s, "two:v1", ContainerConfig{Cmd: []string{"x"}}, shared)
	for _, r := range []string{"one", "two:v1"} {
		if _, err := s.Image(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Remove("one", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image("two:v1"); err != nil {
		t.Fatalf("removing one broke two: %v", err)
	}
	if ents, _ := os.ReadDir(s.layerDir()); len(ents) != 1 {
		t.Errorf("%d layers left, want the shared one", len(ents))
	}
	if _, err := s.Remove("two:v1", nil, false); err != nil {
		t.Fatal(err)
	}
	emptyDir(t, s.blobDir())
	emptyDir(t, s.layerDir())
	if _, err := s.Remove("two:v1", nil, false); err == nil || !strings.Contains(err.Error(), "not in the store") {
		t.Errorf("Remove of a removed image = %v", err)
	}
}
