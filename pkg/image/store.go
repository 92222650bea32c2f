// Package image is a content-addressed image store: an image is a stack
// of tarballs (layers) plus a config, named by the sha256 of their bytes.
//
// On disk, under Store.Root (/var/lib/minicontainer/images by default):
//
//	blobs/sha256/HEX      every blob (manifest, config, compressed layer), verified
//	layers/sha256/HEX     a layer unpacked once, named by its diff ID (the sha256 of the uncompressed tar)
//	repositories.json     NAME:TAG → manifest digest
//	tmp/                  blobs and layers being written; renamed into place when complete
//
// Nothing half-written is ever visible under blobs/ or layers/: each is
// written in tmp/ and rename(2)d into place, which is atomic on one
// filesystem. The layout follows the OCI image layout's blobs/ALG/HEX
// (image-spec, image-layout.md).
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the store lives for root.
const DefaultRoot = "/var/lib/minicontainer/images"

// UserDataDir is where a user other than root keeps what outlives a run,
// as podman keeps ~/.local/share/containers: $XDG_DATA_HOME/minicontainer,
// else $HOME/.local/share/minicontainer (the XDG Base Directory
// Specification).
func UserDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "minicontainer"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	if !filepath.IsAbs(home) {
		return "", errors.New("rootless: neither XDG_DATA_HOME nor HOME is an absolute path: no place for the image store")
	}
	return filepath.Join(home, ".local", "share", "minicontainer"), nil
}

// DefaultStore is this caller's store: $MINICONTAINER_IMAGES if set (the
// image verbs' --images), else DefaultRoot for root, else UserDataDir's
// images/. A user may not write root's store, and layers
// unpacked by root hold root's files and trusted.overlay.* whiteouts,
// which a user namespace can use neither of; a user's layers are
// unpacked by the user, in the form a user namespace reads (Extract).
func DefaultStore() (string, error) {
	if d := os.Getenv("MINICONTAINER_IMAGES"); d != "" {
		return filepath.Abs(d)
	}
	if os.Geteuid() == 0 {
		return DefaultRoot, nil
	}
	d, err := UserDataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "images"), nil
}

// Store is an image store rooted at Root.
type Store struct {
	Root string
}

// Digest is "sha256:HEX", as in OCI descriptors.
type Digest string

// Hex is the digest's hex part (the file name under blobs/sha256/).
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), "sha256:") }

// Short is the first 12 hex digits, as docker images shows an ID.
func (d Digest) Short() string {
	h := d.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Validate accepts only sha256 digests of the right length: a digest
// becomes a file name, so anything else (a '/', "..") must not pass.
func (d Digest) Validate() error {
	h, ok := strings.CutPrefix(string(d), "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("digest %q: want sha256:<64 hex digits>", string(d))
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return fmt.Errorf("digest %q: want sha256:<64 lowercase hex digits>", string(d))
	}
	return nil
}

// FromBytes is the digest of b.
func FromBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// Open returns the store at root, creating its directories.
func Open(root string) (*Store, error) {
	// Absolute: layer paths become overlay lower dirs, read by the
	// container's init from another working directory.
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	s := &Store{Root: root}
	for _, d := range []string{s.Root, s.blobDir(), s.layerDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return s, nil
}

func (s *Store) blobDir() string  { return filepath.Join(s.Root, "blobs", "sha256") }
func (s *Store) layerDir() string { return filepath.Join(s.Root, "layers", "sha256") }
func (s *Store) tmpDir() string   { return filepath.Join(s.Root, "tmp") }

// BlobPath is where the blob d lives (whether or not it is there).
func (s *Store) BlobPath(d Digest) string { return filepath.Join(s.blobDir(), d.Hex()) }

// LayerPath is where the layer with diff ID d is unpacked.
func (s *Store) LayerPath(diffID Digest) string { return filepath.Join(s.layerDir(), diffID.Hex()) }

// HasBlob says whether the blob d is stored.
func (s *Store) HasBlob(d Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.BlobPath(d))
	return err == nil
}

// ReadBlob returns the whole blob d (manifests and configs: small).
func (s *Store) ReadBlob(d Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.BlobPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: not in the store", d)
	}
	return b, err
}

// ErrDigestMismatch is returned (wrapped, naming both digests) when the
// bytes written do not hash to the digest they were announced with.
var ErrDigestMismatch = errors.New("digest mismatch")

// PutBlob copies r into the store, hashing as it writes. With want set,
// the bytes must hash to want: otherwise the temporary file is removed
// and nothing is stored. With want empty, the blob is stored under the
// digest it has. Either way the blob appears under blobs/ only complete,
// by rename(2), so a reader (or a concurrent writer of the same blob)
// never sees a partial one; two writers of one blob leave one file.
func (s *Store) PutBlob(r io.Reader, want Digest) (Digest, int64, error) {
	if want != "" {
		if err := want.Validate(); err != nil {
			return "", 0, err
		}
		if s.HasBlob(want) {
			// Content addressing: same name, same bytes. Drain nothing;
			// the caller's reader is simply not needed.
			fi, err := os.Stat(s.BlobPath(want))
			if err == nil {
				return want, fi.Size(), nil
			}
		}
	}
	f, err := os.CreateTemp(s.tmpDir(), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("image store: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		// fsync before rename: a crash must not leave a named blob
		// with missing bytes (rename(2) orders names, not data).
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if want != "" {
			return "", n, fmt.Errorf("blob %s: %w", want, err)
		}
		return "", n, fmt.Errorf("blob: %w", err)
	}
	got := Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
	if want != "" && got != want {
		return "", n, fmt.Errorf("blob %s: %w: the %d bytes received hash to %s", want, ErrDigestMismatch, n, got)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return "", n, err
	}
	if err := os.Rename(tmp, s.BlobPath(got)); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", got, err)
	}
	return got, n, nil
}

// PutBlobBytes stores b (a manifest, a config) and returns its digest.
func (s *Store) PutBlobBytes(b []byte) (Digest, error) {
	d, _, err := s.PutBlob(strings.NewReader(string(b)), FromBytes(b))
	return d, err
}

// lock takes an exclusive flock(2) on the store's lock file, for the
// read-modify-write of repositories.json and for garbage collection.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image store: flock: %w", err)
	}
	return func() { f.Close() }, nil
}

// hasher is a sha256 that names its sum as a Digest.
type hasher struct{ hash.Hash }

func newHash() hasher { return hasher{sha256.New()} }

func (h hasher) digest() Digest { return Digest("sha256:" + hex.EncodeToString(h.Sum(nil))) }
