package image

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// BuiltinRef is the built-in image: the busybox root filesystem that
// rootfs.BuildBusybox makes from the host's busybox-static, stored as a
// one-layer image like any imported one. A run with no image and no
// --rootfs runs it. The tag "builtin" keeps it apart from a pulled
// busybox (docker.io's busybox:latest).
const BuiltinRef = "busybox:builtin"

// BuiltinLayer returns the built-in image's unpacked layer, or "" when
// the image is not in the store (never made, or removed by rmi). It is
// the later runs' road: it reads repositories.json, the manifest and the
// config (three small files) and stats the layer directory; it never
// reads nor hashes the layer.
func BuiltinLayer(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "repositories.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("image store: %w", err)
	}
	var tags map[string]Digest
	if err := json.Unmarshal(b, &tags); err != nil {
		return "", fmt.Errorf("image store %s: %w", root, err)
	}
	d, ok := tags[BuiltinRef]
	if !ok {
		return "", nil
	}
	s := &Store{Root: root}
	// Small structs: only the fields that lead to the layer.
	var m struct {
		Config struct{ Digest Digest }
		Layers []struct{ Digest Digest }
	}
	var c struct {
		RootFS struct {
			DiffIDs []Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	mb, err := s.ReadBlob(d)
	if err == nil {
		err = json.Unmarshal(mb, &m)
	}
	var cb []byte
	if err == nil {
		cb, err = s.ReadBlob(m.Config.Digest)
	}
	if err == nil {
		err = json.Unmarshal(cb, &c)
	}
	if err != nil {
		return "", fmt.Errorf("image %s: %w", BuiltinRef, err)
	}
	if len(c.RootFS.DiffIDs) != 1 || len(m.Layers) != 1 {
		return "", fmt.Errorf("image %s: %d layers, want 1", BuiltinRef, len(m.Layers))
	}
	// A layer removed by hand (or by a gc between our read and now):
	// unpack it again from its blob, once.
	dir, err := s.Unpack(Descriptor{MediaType: MediaOCILayer, Digest: m.Layers[0].Digest}, c.RootFS.DiffIDs[0])
	if err != nil {
		return "", fmt.Errorf("image %s: %w", BuiltinRef, err)
	}
	return dir, nil
}

// Builtin returns the built-in image's unpacked layer, making the image
// on first use: rootfs.BuildBusybox builds the tree in tmp/, a tar of it
// is stored as the layer blob (uncompressed: its digest is its diff ID),
// then a config and a manifest, and the tree itself is renamed into
// layers/sha256/DIFFID: it is what unpacking that tar would make, so the
// first run unpacks nothing. A flock(2) on tmp/ serialises concurrent
// first runs; the loser finds the image made.
func (s *Store) Builtin(x *explain.Narrator) (string, error) {
	if dir, err := BuiltinLayer(s.Root); err != nil || dir != "" {
		return dir, err
	}
	fd, err := unix.Open(s.tmpDir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("image store: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("image store: flock %s: %w", s.tmpDir(), err)
	}
	if dir, err := BuiltinLayer(s.Root); err != nil || dir != "" {
		return dir, err // another run made it while we waited
	}
	x.Note("first use: making the image %s in %s from the host's busybox", BuiltinRef, s.Root)
	tree, err := os.MkdirTemp(s.tmpDir(), "builtin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tree)                // a no-op once renamed
	if err := os.Remove(tree); err != nil { // BuildBusybox makes the directory itself
		return "", err
	}
	if err := rootfs.BuildBusybox(tree, x); err != nil {
		return "", err
	}
	// Buffered: through a bare pipe each 512-byte tar header would be a
	// write(2) of its own into the blob (and a goroutine switch).
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := tarTree(bw, tree)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	diffID, size, err := s.PutBlob(pr, "")
	pr.CloseWithError(err) // unblocks the writer if PutBlob stopped early
	if err != nil {
		return "", fmt.Errorf("image %s: layer: %w", BuiltinRef, err)
	}
	// created: the zero time, as reproducible builds (ko, ggcr) write it
	// (images shows "-"): the image is remade from the host, not dated.
	cfg, err := json.Marshal(map[string]any{
		"created": time.Time{}.Format(time.RFC3339), "architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}, "Env": []string{"PATH=" + rootfs.DefaultPath}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []Digest{diffID}},
	})
	if err != nil {
		return "", err
	}
	cd, err := s.PutBlobBytes(cfg)
	if err != nil {
		return "", err
	}
	man, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": MediaOCIManifest,
		"config": Descriptor{MediaType: MediaOCIConfig, Digest: cd, Size: int64(len(cfg))},
		"layers": []Descriptor{{MediaType: MediaOCILayer, Digest: diffID, Size: size}},
	})
	if err != nil {
		return "", err
	}
	dst := s.LayerPath(diffID)
	if err := os.Rename(tree, dst); err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
		return "", fmt.Errorf("image %s: %w", BuiltinRef, err)
	}
	if _, err := s.AddManifest(man, BuiltinRef); err != nil {
		return "", fmt.Errorf("image %s: %w", BuiltinRef, err)
	}
	return dst, nil
}

// tarTree writes the tree under dir as a tar, parents before children
// (WalkDir's lexical order), with each entry's owner, mode and times: the
// layer that Extract would turn back into the same tree.
func tarTree(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
