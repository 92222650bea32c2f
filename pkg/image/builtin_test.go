package image

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// TestBuiltin makes the built-in image in an empty store and checks that
// it is an image like any other: the renamed tree is what unpacking its
// layer blob makes (names, contents, modes, owners); a later lookup reads
// no layer (a garbled blob goes unnoticed); Remove leaves the store empty,
// and the next use makes it again.
func TestBuiltin(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(rootfs.HostBusybox); err != nil {
		t.Skip(err)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := s.Builtin(nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(BuiltinRef)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || img.Layers[0] != dir || !reflect.DeepEqual(img.Config.Config.Cmd, []string{"sh"}) {
		t.Fatalf("image %s: layers %v, cmd %q; want [%s], [sh]", BuiltinRef, img.Layers, img.Config.Config.Cmd, dir)
	}
	// The layer blob, unpacked by Extract, is the tree Builtin renamed.
	l := img.Manifest.Layers[0]
	if l.Digest != img.Config.RootFS.DiffIDs[0] {
		t.Errorf("layer digest %s, diff ID %s: want one (an uncompressed layer)", l.Digest, img.Config.RootFS.DiffIDs[0])
	}
	f, err := os.Open(s.BlobPath(l.Digest))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := t.TempDir()
	rootfd, err := unix.Open(out, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = Extract(rootfd, f)
	unix.Close(rootfd)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := meta(t, out), meta(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("the layer unpacked:\n%v\nthe tree made:\n%v", got, want)
	}
	if got, want := tree(t, out), tree(t, dir); !reflect.DeepEqual(got, want) || want["bin/busybox"] == "" {
		t.Errorf("the layer unpacked differs from the tree made (%d and %d entries)", len(got), len(want))
	}

	// Later: the layer is neither read nor hashed.
	if err := os.WriteFile(s.BlobPath(l.Digest), []byte("garbled"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := BuiltinLayer(s.Root); err != nil || again != dir {
		t.Errorf("BuiltinLayer after the first use: %q, %v; want %s", again, err, dir)
	}

	if _, err := s.Remove(BuiltinRef, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{s.blobDir(), s.layerDir()} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("%s after rmi: %d entries, want none", d, len(ents))
		}
	}
	if dir, err := BuiltinLayer(s.Root); dir != "" || err != nil {
		t.Errorf("BuiltinLayer after rmi: %q, %v; want none", dir, err)
	}
	if dir, err := s.Builtin(nil); err != nil || filepath.Dir(dir) != s.layerDir() {
		t.Errorf("Builtin after rmi: %q, %v; want it made again", dir, err)
	}
}

// meta lists each entry's mode and owner.
func meta(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		return nil
	})
	return out
}

// BenchmarkBuiltin is the first use's cost: rootfs.BuildBusybox alone
// (what a first run did before the image), and the whole image made.
func BenchmarkBuiltin(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	b.Run("tree", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(b.TempDir(), "bb")
			if err := rootfs.BuildBusybox(dir, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Builtin(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestBuiltinConcurrent: first uses at once make one image (the flock on
// tmp/): one layer, three blobs, nothing left in tmp/.
func TestBuiltinConcurrent(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(rootfs.HostBusybox); err != nil {
		t.Skip(err)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dirs := make(chan string, 4)
	for i := 0; i < cap(dirs); i++ {
		go func() {
			dir, err := s.Builtin(nil)
			if err != nil {
				t.Error(err)
			}
			dirs <- dir
		}()
	}
	first := <-dirs
	for i := 1; i < cap(dirs); i++ {
		if d := <-dirs; d != first {
			t.Errorf("concurrent first uses: %s and %s", first, d)
		}
	}
	for d, want := range map[string]int{s.layerDir(): 1, s.blobDir(): 3, s.tmpDir(): 0} {
		if ents, _ := os.ReadDir(d); len(ents) != want {
			t.Errorf("%s: %d entries, want %d", d, len(ents), want)
		}
	}
}
