package image

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MediaDockerLayerTar is an uncompressed Docker layer (docker save
// writes its layers as plain tar).
const MediaDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"

// Loaded is one image Load stored: its names (none when the archive
// named it not) and its manifest digest.
type Loaded struct {
	Refs   []string
	Digest Digest
}

// Load reads a `docker save` tarball or an OCI image layout (a directory,
// or a tar of one) and stores its images. From an index it takes the
// manifest for p. Every blob is verified against its digest on the way in.
func (s *Store) Load(file string, p Platform) ([]Loaded, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	dir := file
	if !fi.IsDir() {
		// A tar's members come in any order (docker save writes
		// manifest.json last): stage the archive first, in the store's
		// tmp/ so that the blobs then move by copy on one filesystem.
		stage, err := os.MkdirTemp(s.tmpDir(), "load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(stage)
		if err := stageTar(file, stage); err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		dir = stage
	}
	_, errIndex := os.Stat(filepath.Join(dir, "index.json"))
	_, errLayout := os.Stat(filepath.Join(dir, "oci-layout"))
	var out []Loaded
	switch {
	case errIndex == nil && errLayout == nil:
		out, err = s.loadOCI(dir, p)
	default:
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
			return nil, fmt.Errorf("load %s: neither an OCI layout (oci-layout, index.json) nor a docker save archive (manifest.json)", file)
		}
		out, err = s.loadDocker(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	return out, nil
}

// stageTar writes the regular files and symlinks of the tar file into
// dir, path-safely (the same walk as layer extraction: no "..", no
// absolute names, nothing through a symlink).
func stageTar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<16))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA && hdr.Typeflag != tar.TypeSymlink {
			continue
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		d, base := path.Split(name)
		pfd, err := walkParent(rootfd, strings.TrimSuffix(d, "/"))
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeSymlink {
			// docker save (legacy layout) links a layer shared by two
			// images; resolved later, by name, inside dir only.
			err = unix.Symlinkat(hdr.Linkname, pfd, base)
		} else {
			var fd int
			fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			if err == nil {
				_, err = io.Copy(fdWriter(fd), tr)
				unix.Close(fd)
			}
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// openIn opens name (relative, from an archive's own JSON) inside dir,
// refusing names that leave it and following symlinks only inside it:
// openat2(2) with RESOLVE_IN_ROOT resolves "/" and ".." as dir itself.
func openIn(dir, name string) (*os.File, error) {
	if _, err := cleanName(name); err != nil {
		return nil, err
	}
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := unix.Openat2(rootfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, name)), nil
}

// putFile stores the file name of dir as a blob (want "" = any digest).
func (s *Store) putFile(dir, name string, want Digest) (Digest, int64, error) {
	f, err := openIn(dir, name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return s.PutBlob(f, want)
}

// loadOCI stores the images index.json lists (image-spec image-layout.md).
func (s *Store) loadOCI(dir string, p Platform) ([]Loaded, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	ix, err := ParseIndex(b)
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, d := range ix.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return nil, err
		}
		md := d
		if IsIndex(d.MediaType) {
			nb, err := s.layoutBlob(dir, d.Digest)
			if err != nil {
				return nil, err
			}
			nix, err := ParseIndex(nb)
			if err != nil {
				return nil, err
			}
			if md, err = nix.Select(p); err != nil {
				return nil, err
			}
		}
		mb, err := s.layoutBlob(dir, md.Digest)
		if err != nil {
			return nil, err
		}
		m, err := ParseManifest(mb)
		if err != nil {
			return nil, err
		}
		for _, bd := range append([]Descriptor{m.Config}, m.Layers...) {
			if _, _, err := s.putFile(dir, "blobs/sha256/"+bd.Digest.Hex(), bd.Digest); err != nil {
				return nil, err
			}
		}
		// containerd and docker name the image in this annotation; a
		// plain OCI layout has only ref.name (often only a tag).
		ref := d.Annotations["io.containerd.image.name"]
		if ref == "" {
			ref = d.Annotations["org.opencontainers.image.ref.name"]
		}
		dg, err := s.AddManifest(mb, ref)
		if err != nil {
			return nil, err
		}
		l := Loaded{Digest: dg}
		if ref != "" {
			l.Refs = []string{NormalizeRef(ref)}
		}
		out = append(out, l)
	}
	return out, nil
}

// layoutBlob reads a small blob of an OCI layout and checks its digest.
func (s *Store) layoutBlob(dir string, d Digest) ([]byte, error) {
	f, err := openIn(dir, "blobs/sha256/"+d.Hex())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<20))
	if err != nil {
		return nil, err
	}
	if got := FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s: %w: its bytes hash to %s", d, ErrDigestMismatch, got)
	}
	return b, nil
}

// loadDocker stores the images of a `docker save` archive: manifest.json
// lists, per image, its config file, its tags and its layer tars; we
// write the Docker v2 schema 2 manifest a registry would have served.
func (s *Store) loadDocker(dir string) ([]Loaded, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []Loaded
	for _, e := range entries {
		m := Manifest{SchemaVersion: 2, MediaType: MediaDockerManifest}
		cd, cn, err := s.putFile(dir, e.Config, "")
		if err != nil {
			return nil, err
		}
		m.Config = Descriptor{MediaType: MediaDockerConfig, Digest: cd, Size: cn}
		for _, l := range e.Layers {
			ld, ln, err := s.putFile(dir, l, "")
			if err != nil {
				return nil, err
			}
			mt := MediaDockerLayerTar
			if gz, err := isGzip(s.BlobPath(ld)); err != nil {
				return nil, err
			} else if gz {
				mt = MediaDockerLayer
			}
			m.Layers = append(m.Layers, Descriptor{MediaType: mt, Digest: ld, Size: ln})
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		first := ""
		if len(e.RepoTags) > 0 {
			first = e.RepoTags[0]
		}
		dg, err := s.AddManifest(mb, first)
		if err != nil {
			return nil, err
		}
		l := Loaded{Digest: dg}
		for i, r := range e.RepoTags {
			if i > 0 {
				if err := s.Tag(dg, r); err != nil {
					return nil, err
				}
			}
			l.Refs = append(l.Refs, NormalizeRef(r))
		}
		out = append(out, l)
	}
	return out, nil
}

func isGzip(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [2]byte
	n, _ := io.ReadFull(f, magic[:])
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b, nil
}

// Import stores a root filesystem tar as a one-layer image named ref, as
// `docker import` does: the tar is the layer (its digest is its diff ID),
// the config has no command.
func (s *Store) Import(file, ref string) (Digest, error) {
	if ref == "" {
		return "", errors.New("import: a NAME[:TAG] is needed")
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	// A cheap check before copying: a tar header must be readable, unless
	// the file is gzip (decompress reads it). The magic is peeked first:
	// the tar reader consumes what it reads.
	br := bufio.NewReaderSize(f, 1<<16)
	if m, _ := br.Peek(2); len(m) < 2 || m[0] != 0x1f || m[1] != 0x8b {
		if _, err := tar.NewReader(br).Next(); err != nil {
			return "", fmt.Errorf("import %s: not a tar archive: %v", file, err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	ld, ln, err := s.PutBlob(f, "")
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	gz, err := isGzip(s.BlobPath(ld))
	if err != nil {
		return "", err
	}
	mt, diffID := MediaOCILayer, ld
	if gz {
		mt = MediaOCILayerGzip
		if diffID, err = s.diffIDOf(ld); err != nil {
			return "", err
		}
	}
	var c Config
	c.OS, c.Architecture = "linux", runtime.GOARCH
	c.Created = time.Now().UTC().Format(time.RFC3339)
	c.RootFS.Type, c.RootFS.DiffIDs = "layers", []Digest{diffID}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	cd, err := s.PutBlobBytes(cb)
	if err != nil {
		return "", err
	}
	mb, err := json.Marshal(Manifest{SchemaVersion: 2, MediaType: MediaOCIManifest,
		Config: Descriptor{MediaType: MediaOCIConfig, Digest: cd, Size: int64(len(cb))},
		Layers: []Descriptor{{MediaType: mt, Digest: ld, Size: ln}}})
	if err != nil {
		return "", err
	}
	return s.AddManifest(mb, ref)
}

// diffIDOf hashes the decompressed blob d.
func (s *Store) diffIDOf(d Digest) (Digest, error) {
	f, err := os.Open(s.BlobPath(d))
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, err := decompress(f, "")
	if err != nil {
		return "", err
	}
	h := newHash()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	return h.digest(), nil
}
