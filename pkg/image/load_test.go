package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

var (
	busyboxOnce sync.Once
	busyboxTar  []byte
	busyboxTree map[string]string
	busyboxErr  error
)

// busyboxLayer is the busybox root filesystem (pkg/rootfs.BuildBusybox)
// as a layer tar, built once per test binary.
func busyboxLayer(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	busyboxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "image-busybox-")
		if err != nil {
			busyboxErr = err
			return
		}
		defer os.RemoveAll(dir)
		bb := filepath.Join(dir, "rootfs")
		if busyboxErr = rootfs.BuildBusybox(bb, nil); busyboxErr != nil {
			return
		}
		busyboxTar, busyboxErr = tarDir(bb)
		busyboxTree = tree(t, bb)
	})
	if busyboxErr != nil {
		t.Skipf("busybox rootfs: %v", busyboxErr)
	}
	return busyboxTar, busyboxTree
}

// tarDir is dir as a tar, as docker build would write a layer.
func tarDir(dir string) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Bytes(), tw.Close()
}

// testLayers are the busybox layer and two on top: one adds, changes and
// deletes (a whiteout), one hides a directory (an opaque marker). want is
// the tree the overlay of them must show.
func testLayers(t *testing.T) (layers [][]byte, want map[string]string) {
	bb, bbTree := busyboxLayer(t)
	change := makeTar(t, file("etc/hostname", "changed\n"), file("etc/added", "new\n"), file("etc/.wh.group", ""))
	hide := makeTar(t, dir("usr/sbin"), file("usr/sbin/.wh..wh..opq", ""), file("usr/sbin/only", "o"))
	want = map[string]string{}
	for k, v := range bbTree {
		if k != "etc/group" && !strings.HasPrefix(k, "usr/sbin/") {
			want[k] = v
		}
	}
	want["etc/hostname"], want["etc/added"], want["usr/sbin/only"] = "f:changed\n", "f:new\n", "f:o"
	return [][]byte{bb, change, hide}, want
}

// overlayTree mounts the image's layers as overlay lower dirs (the top
// layer first, as overlayfs wants it) and lists what a container sees.
func overlayTree(t *testing.T, img *Image) map[string]string {
	t.Helper()
	var lower []string
	for i := len(img.Layers) - 1; i >= 0; i-- {
		lower = append(lower, img.Layers[i])
	}
	if len(lower) == 1 {
		return tree(t, lower[0]) // overlay wants two lower dirs without an upper one
	}
	mnt := t.TempDir()
	// The paths are t.TempDir()s of subtests without ',' or ':' in their
	// names: overlay's options would split there.
	opts := "lowerdir=" + strings.Join(lower, ":")
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	defer unix.Unmount(mnt, 0)
	return tree(t, mnt)
}

func diffTrees(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var bad []string
	for k, v := range want {
		if got[k] != v {
			bad = append(bad, k+": got "+trunc(got[k])+", want "+trunc(v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, k+": got "+trunc(v)+", want nothing")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%s: %d differences:\n%s", what, len(bad), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// archive writes files (name → bytes) as a tar, in sorted order but with
// manifest.json last, as docker save does.
func archive(t *testing.T, files map[string][]byte) []byte {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "manifest.json") != (names[j] == "manifest.json") {
			return names[j] == "manifest.json"
		}
		return names[i] < names[j]
	})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dockerSave is the layout `docker save` writes: manifest.json naming a
// config file and one plain tar per layer.
func dockerSave(t *testing.T, ref string, cc ContainerConfig, layers [][]byte) []byte {
	_, cb := imageDocs(t, cc, layers...)
	files := map[string][]byte{}
	cfg := FromBytes(cb).Hex() + ".json"
	files[cfg] = cb
	var paths []string
	for _, l := range layers {
		p := FromBytes(l).Hex() + "/layer.tar"
		files[p] = l
		paths = append(paths, p)
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": cfg, "RepoTags": []string{ref}, "Layers": paths}})
	files["manifest.json"] = mj
	return archive(t, files)
}

// ociLayout is an OCI image layout whose index.json points at a
// multi-platform index: linux/amd64 is the image of layers, linux/arm64
// an image of the first layer only. It returns name → bytes.
func ociLayout(t *testing.T, ref string, cc ContainerConfig, layers [][]byte) map[string][]byte {
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	blob := func(b []byte) Digest { d := FromBytes(b); files["blobs/sha256/"+d.Hex()] = b; return d }
	var ix Index
	ix.SchemaVersion, ix.MediaType = 2, MediaOCIIndex
	for i, ls := range [][][]byte{layers, layers[:1]} {
		m, c := imageDocs(t, cc, ls...)
		blob(c)
		for _, l := range ls {
			blob(gzipBytes(t, l))
		}
		arch := []string{"amd64", "arm64"}[i]
		ix.Manifests = append(ix.Manifests, Descriptor{MediaType: MediaOCIManifest, Digest: blob(m), Size: int64(len(m)),
			Platform: &Platform{OS: "linux", Architecture: arch}})
	}
	ib, _ := json.Marshal(ix)
	top := Index{SchemaVersion: 2, MediaType: MediaOCIIndex, Manifests: []Descriptor{{MediaType: MediaOCIIndex,
		Digest: blob(ib), Size: int64(len(ib)), Annotations: map[string]string{"io.containerd.image.name": ref,
			"org.opencontainers.image.ref.name": "v1"}}}}
	files["index.json"], _ = json.Marshal(top)
	return files
}

func TestLoad(t *testing.T) {
	requireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	layers, want := testLayers(t)
	cc := ContainerConfig{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, Env: []string{"PATH=/bin", "A=1"},
		WorkingDir: "/etc", User: "0:0", StopSignal: "SIGQUIT"}
	work := t.TempDir()
	save := filepath.Join(work, "save.tar")
	os.WriteFile(save, dockerSave(t, "test/bb:save", cc, layers), 0o644)
	layout := filepath.Join(work, "layout")
	files := ociLayout(t, "test/bb:oci", cc, layers)
	for n, b := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(layout, n)), 0o755)
		os.WriteFile(filepath.Join(layout, n), b, 0o644)
	}
	layoutTar := filepath.Join(work, "layout.tar")
	os.WriteFile(layoutTar, archive(t, files), 0o644)

	for _, c := range []struct{ name, file, ref, platform string }{
		{"docker save", save, "test/bb:save", "linux/amd64"},
		{"OCI layout dir", layout, "test/bb:oci", "linux/amd64"},
		{"OCI layout tar", layoutTar, "test/bb:oci", "linux/amd64"},
		{"OCI layout tar arm64", layoutTar, "test/bb:oci", "linux/arm64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p, _ := ParsePlatform(c.platform)
			loaded, err := s.Load(c.file, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded) != 1 || len(loaded[0].Refs) != 1 || loaded[0].Refs[0] != c.ref {
				t.Fatalf("Load = %+v, want %s", loaded, c.ref)
			}
			img, err := s.Image(c.ref)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(img.Config.Config); string(got) != string(must(json.Marshal(cc))) {
				t.Errorf("config = %s", got)
			}
			w := want
			if c.platform == "linux/arm64" {
				_, w = busyboxLayer(t)
			}
			diffTrees(t, c.name, overlayTree(t, img), w)
			emptyDir(t, s.tmpDir())
		})
	}

	// A layout whose blob does not hash to its name is refused, and the
	// store keeps nothing of the image.
	bad := filepath.Join(work, "bad")
	for n, b := range files {
		if strings.HasPrefix(n, "blobs/") && len(b) > 1000 {
			b = append(bytes.Clone(b[:len(b)-1]), b[len(b)-1]^1)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(bad, n)), 0o755)
		os.WriteFile(filepath.Join(bad, n), b, 0o644)
	}
	s, _ := Open(t.TempDir())
	if _, err := s.Load(bad, DefaultPlatform); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("Load of a corrupt layout = %v, want a digest mismatch", err)
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Errorf("a corrupt layout left images: %v", l)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImport(t *testing.T) {
	requireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	bb, bbTree := busyboxLayer(t)
	f := filepath.Join(t.TempDir(), "rootfs.tar")
	os.WriteFile(f, bb, 0o644)
	s, _ := Open(t.TempDir())
	d, err := s.Import(f, "mine")
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image("mine:latest")
	if err != nil || img.Digest != d {
		t.Fatalf("Image = %v %v", img, err)
	}
	diffTrees(t, "import", tree(t, img.Layers[0]), bbTree)
	// a gzip tar: the layer is stored compressed, its diff ID that of the tar
	gzf := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	os.WriteFile(gzf, gzipBytes(t, bb), 0o644)
	if _, err := s.Import(gzf, "mine:gz"); err != nil {
		t.Fatalf("Import of a gzip tar: %v", err)
	}
	if img, err := s.Image("mine:gz"); err != nil || img.Layers[0] != s.LayerPath(FromBytes(bb)) {
		t.Errorf("Image(mine:gz) = %v, %v: want the plain tar's layer, shared", img, err)
	}
	if _, err := s.Import("/etc/passwd", "x"); err == nil || !strings.Contains(err.Error(), "not a tar archive") {
		t.Errorf("Import of a non-tar = %v", err)
	}
}
