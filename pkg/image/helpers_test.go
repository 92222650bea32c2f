package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// entry is one tar entry a test layer holds.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

func makeTar(t testing.TB, ents ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// buildImage stores layers (uncompressed tars) as gzip blobs with a
// config and manifest, tags it ref, and returns the manifest bytes.
func buildImage(t testing.TB, s *Store, ref string, cc ContainerConfig, layers ...[]byte) []byte {
	t.Helper()
	m, cb := imageDocs(t, cc, layers...)
	for _, l := range layers {
		if _, _, err := s.PutBlob(bytes.NewReader(gzipBytes(t, l)), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutBlobBytes(cb); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddManifest(m, ref); err != nil {
		t.Fatal(err)
	}
	return m
}

// imageDocs returns the manifest and config of an image of gzip layers.
func imageDocs(t testing.TB, cc ContainerConfig, layers ...[]byte) (manifest, config []byte) {
	t.Helper()
	var c Config
	c.OS, c.Architecture, c.Config = "linux", "amd64", cc
	c.RootFS.Type = "layers"
	m := Manifest{SchemaVersion: 2, MediaType: MediaOCIManifest}
	for _, l := range layers {
		z := gzipBytes(t, l)
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, FromBytes(l))
		m.Layers = append(m.Layers, Descriptor{MediaType: MediaOCILayerGzip, Digest: FromBytes(z), Size: int64(len(z))})
	}
	cb, _ := json.Marshal(c)
	m.Config = Descriptor{MediaType: MediaOCIConfig, Digest: FromBytes(cb), Size: int64(len(cb))}
	mb, _ := json.Marshal(m)
	return mb, cb
}

// tree lists the files under dir, relative, with a type letter.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch m := fi.Mode(); {
		case m.IsDir():
			out[rel] = "d"
		case m&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "l:" + l
		case m&os.ModeCharDevice != 0:
			out[rel] = "c"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = "f:" + string(b)
		}
		return nil
	})
	return out
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod of whiteouts, trusted.* xattrs, chown): run through isotest")
	}
}
