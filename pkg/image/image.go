package image

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Image is an image ready to run: its layers unpacked, bottom first, and
// its config.
type Image struct {
	Ref      string    // NAME:TAG as the store knows it ("" when found by ID)
	Digest   Digest    // the manifest's digest
	Manifest *Manifest // config and layers
	Config   *Config
	Layers   []string // unpacked layer directories, the bottom (first) layer first
}

// NormalizeRef adds ":latest" to a name without a tag or digest, as
// docker does: "alpine" and "alpine:latest" are one image.
func NormalizeRef(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	slash := strings.LastIndex(ref, "/")
	if !strings.Contains(ref[slash+1:], ":") {
		return ref + ":latest"
	}
	return ref
}

func (s *Store) reposPath() string { return filepath.Join(s.Root, "repositories.json") }

// tags reads repositories.json (NAME:TAG → manifest digest).
func (s *Store) tags() (map[string]Digest, error) {
	m := map[string]Digest{}
	b, err := os.ReadFile(s.reposPath())
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.reposPath(), err)
	}
	return m, nil
}

// writeTags replaces repositories.json atomically (write, fsync, rename);
// the caller holds the store lock.
func (s *Store) writeTags(m map[string]Digest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmpDir(), "repositories-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), s.reposPath())
}

// AddManifest stores an image manifest whose config and layers are
// already stored and names it ref (NAME[:TAG]; "" stores it untagged).
// It returns the manifest's digest.
func (s *Store) AddManifest(b []byte, ref string) (Digest, error) {
	m, err := ParseManifest(b)
	if err != nil {
		return "", err
	}
	for _, d := range append([]Descriptor{m.Config}, m.Layers...) {
		if !s.HasBlob(d.Digest) {
			return "", fmt.Errorf("manifest: blob %s is not in the store", d.Digest)
		}
	}
	cb, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		return "", err
	}
	c, err := ParseConfig(cb)
	if err != nil {
		return "", err
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return "", fmt.Errorf("image config: %d diff_ids for %d layers", len(c.RootFS.DiffIDs), len(m.Layers))
	}
	d, err := s.PutBlobBytes(b)
	if err != nil {
		return "", err
	}
	if ref == "" {
		return d, nil
	}
	return d, s.Tag(d, ref)
}

// Tag names the manifest d ref.
func (s *Store) Tag(d Digest, ref string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	t, err := s.tags()
	if err != nil {
		return err
	}
	t[NormalizeRef(ref)] = d
	return s.writeTags(t)
}

// Resolve finds a manifest digest by NAME[:TAG], by full digest, or by a
// unique prefix of at least 4 hex digits of its ID (as docker does).
func (s *Store) Resolve(ref string) (string, Digest, error) {
	t, err := s.tags()
	if err != nil {
		return "", "", err
	}
	if d, ok := t[NormalizeRef(ref)]; ok {
		return NormalizeRef(ref), d, nil
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if len(id) >= 4 && strings.Trim(id, "0123456789abcdef") == "" {
		var found []Digest
		name := ""
		seen := map[Digest]bool{}
		for r, d := range t {
			if strings.HasPrefix(d.Hex(), id) && !seen[d] {
				seen[d] = true
				found = append(found, d)
				name = r
			}
		}
		if len(found) == 1 {
			return name, found[0], nil
		}
		if len(found) > 1 {
			return "", "", fmt.Errorf("image %q: the ID prefix matches %d images", ref, len(found))
		}
	}
	return "", "", fmt.Errorf("image %q: not in the store (pull, load or import it first)", ref)
}

// Image resolves ref and unpacks its layers that are not unpacked yet.
func (s *Store) Image(ref string) (*Image, error) {
	name, d, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.imageAt(d)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img.Ref = name
	for i, l := range img.Manifest.Layers {
		dir, err := s.Unpack(l, img.Config.RootFS.DiffIDs[i])
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		img.Layers = append(img.Layers, dir)
	}
	return img, nil
}

// imageAt reads the manifest d and its config, unpacking nothing.
func (s *Store) imageAt(d Digest) (*Image, error) {
	mb, err := s.ReadBlob(d)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	cb, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(cb)
	if err != nil {
		return nil, err
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image config: %d diff_ids for %d layers", len(c.RootFS.DiffIDs), len(m.Layers))
	}
	return &Image{Digest: d, Manifest: m, Config: c}, nil
}

// Unpack unpacks the layer blob l into layers/sha256/DIFFID once: a
// layer already there (from this image or any other that shares it) is
// used as it is. The uncompressed bytes must hash to diffID, or nothing
// is kept. Two concurrent unpacks each write their own tmp/ directory;
// the first rename wins and the other is removed.
func (s *Store) Unpack(l Descriptor, diffID Digest) (string, error) {
	if err := diffID.Validate(); err != nil {
		return "", err
	}
	dst := s.LayerPath(diffID)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := l.Digest.Validate(); err != nil {
		return "", err
	}
	f, err := os.Open(s.BlobPath(l.Digest))
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer f.Close()
	// Buffered: the tar reader reads each 512-byte header on its own,
	// one read(2) each from a bare file.
	r, err := decompress(bufio.NewReaderSize(f, 1<<20), l.MediaType)
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-")
	if err != nil {
		return "", err
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	// The diff ID is the sha256 of the uncompressed tar. When the blob is
	// that tar (docker save and import store layers uncompressed: digest
	// = diff ID), its bytes were hashed as they were stored (PutBlob),
	// and hashing them again would cost a quarter of the unpack.
	var h hash.Hash = nopHash{diffID}
	if l.Digest != diffID {
		h = sha256.New()
	}
	tee := io.TeeReader(r, h)
	rootfd, err := unix.Open(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	err = Extract(rootfd, tee)
	unix.Close(rootfd)
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	// tar stops at its end-of-archive blocks; the diff ID covers every byte.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if got := digestOf(h); got != diffID {
		return "", fmt.Errorf("layer %s: %w: uncompressed it hashes to %s, the config says diff_id %s", l.Digest, ErrDigestMismatch, got, diffID)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return dst, nil // a concurrent unpack of the same layer won
		}
		return "", fmt.Errorf("layer %s: %w", diffID, err)
	}
	keep = true
	return dst, nil
}

// decompress reads the layer as its media type says, or by its magic
// bytes when the type is plain tar or unknown (docker save writes
// uncompressed layers; some tools gzip them without saying so).
func decompress(r io.Reader, mediaType string) (io.Reader, error) {
	if strings.HasSuffix(mediaType, "+zstd") || strings.HasSuffix(mediaType, ".zstd") {
		return nil, fmt.Errorf("zstd layers are not supported (media type %s)", mediaType)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr, nil
	}
	return br, nil
}

// Summary is one line of `images`.
type Summary struct {
	Ref     string
	Digest  Digest
	Created string
	Size    int64 // the stored (compressed) layers' size
}

// List returns the tagged images, sorted by name.
func (s *Store) List() ([]Summary, error) {
	t, err := s.tags()
	if err != nil {
		return nil, err
	}
	var out []Summary
	for r, d := range t {
		img, err := s.imageAt(d)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", r, err)
		}
		var size int64
		for _, l := range img.Manifest.Layers {
			size += l.Size
		}
		out = append(out, Summary{Ref: r, Digest: d, Created: img.Config.Created, Size: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// InUse says which container (by a name to show) uses the unpacked
// layer with diff ID d as an overlay lower dir, or "" when none does.
type InUse func(d Digest) string

// Remove untags ref and then removes every blob and unpacked layer no
// remaining image refers to. By ID, every name of that ID goes. When the
// image's last name goes and inUse reports one of its layers used by a
// container, Remove refuses unless force; forced, it untags the image but
// keeps the layers in use (removing a mounted overlay's lower dir is what
// overlayfs(5) forbids: "changes to the underlying filesystems while part
// of a mounted overlay filesystem are not allowed"); a later rmi collects
// them.
func (s *Store) Remove(ref string, inUse InUse, force bool) (Digest, error) {
	name, d, err := s.Resolve(ref)
	if err != nil {
		return "", err
	}
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	t, err := s.tags()
	if err != nil {
		return "", err
	}
	if t[name] != d {
		return "", fmt.Errorf("image %q: changed while removing", ref)
	}
	if NormalizeRef(ref) != name {
		for r, rd := range t {
			if rd == d {
				delete(t, r)
			}
		}
	} else {
		delete(t, name)
	}
	keep := map[string]bool{}
	if inUse != nil {
		stillNamed := false
		for _, rd := range t {
			stillNamed = stillNamed || rd == d
		}
		img, err := s.imageAt(d)
		if err != nil {
			return "", err
		}
		for _, l := range img.Config.RootFS.DiffIDs {
			if c := inUse(l); c != "" && !stillNamed {
				if !force {
					return "", fmt.Errorf("image %s: container %s uses it (rmi -f removes the name and keeps the layers in use)", ref, c)
				}
				keep[l.Hex()] = true
			}
		}
	}
	if err := s.writeTags(t); err != nil {
		return "", err
	}
	return d, s.gc(t, keep)
}

// gc removes what no tag reaches, but for the unpacked layers in keep;
// the caller holds the lock.
func (s *Store) gc(t map[string]Digest, keep map[string]bool) error {
	blobs := map[string]bool{}
	layers := map[string]bool{}
	for l := range keep {
		layers[l] = true
	}
	for _, d := range t {
		img, err := s.imageAt(d)
		if err != nil {
			return err
		}
		blobs[d.Hex()] = true
		blobs[img.Manifest.Config.Digest.Hex()] = true
		for _, l := range img.Manifest.Layers {
			blobs[l.Digest.Hex()] = true
		}
		for _, l := range img.Config.RootFS.DiffIDs {
			layers[l.Hex()] = true
		}
	}
	for dir, keep := range map[string]map[string]bool{s.blobDir(): blobs, s.layerDir(): layers} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !keep[e.Name()] {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("image store gc: %w", err)
				}
			}
		}
	}
	return nil
}

// HumanSize is a size as docker shows it (decimal units).
func HumanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

// nopHash stands for a hash already checked: it sums to the digest it
// was made with.
type nopHash struct{ d Digest }

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (n nopHash) Sum(b []byte) []byte       { x, _ := hex.DecodeString(n.d.Hex()); return append(b, x...) }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return sha256.Size }
func (nopHash) BlockSize() int              { return sha256.BlockSize }

func digestOf(h hash.Hash) Digest { return Digest("sha256:" + hex.EncodeToString(h.Sum(nil))) }

// Inspection is what inspect shows of an image, after docker's image
// inspect: its ID (the manifest's digest), its names, its config, and
// where its layers are unpacked, bottom first (the overlay's lower dirs;
// "" for a layer not unpacked yet).
type Inspection struct {
	ID       Digest   `json:"Id"`
	RepoTags []string `json:"RepoTags"`
	Created  string   `json:"Created,omitempty"`
	Config   *Config  `json:"Config"`
	Size     int64    `json:"Size"`
	Layers   []string `json:"LayerDirs"`
}

// Inspect describes the image ref without unpacking anything.
func (s *Store) Inspect(ref string) (*Inspection, error) {
	_, d, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.imageAt(d)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	t, err := s.tags()
	if err != nil {
		return nil, err
	}
	in := &Inspection{ID: d, RepoTags: []string{}, Created: img.Config.Created, Config: img.Config}
	for r, rd := range t {
		if rd == d {
			in.RepoTags = append(in.RepoTags, r)
		}
	}
	sort.Strings(in.RepoTags)
	for i, l := range img.Manifest.Layers {
		in.Size += l.Size
		dir := s.LayerPath(img.Config.RootFS.DiffIDs[i])
		if _, err := os.Stat(dir); err != nil {
			dir = ""
		}
		in.Layers = append(in.Layers, dir)
	}
	return in, nil
}
