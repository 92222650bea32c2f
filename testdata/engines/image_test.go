package engines

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// The images the engines run are made here, from the project's busybox
// rootfs, so the tests need no registry and no network.
//
// podman takes a plain tar of the root filesystem (podman import).
// containerd takes an OCI image layout (image-spec image-layout.md), as a
// tar: the file oci-layout, an index.json that points at a manifest, and
// blobs/sha256/<digest> for the manifest, the image config and the one
// layer (a gzipped tar of the rootfs), each named by the sha256 of its
// bytes. The media types and fields are those of image-spec v1.0
// (manifest.md, config.md, image-index.md).

// writeLayer writes dir as a tar stream: every file, directory and symlink
// with its mode, owner and modification time, paths relative to dir
// ("bin/sh"), as an image layer holds them (image-spec layer.md).
func writeLayer(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		if !info.Mode().IsRegular() && !info.IsDir() && info.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s: not a file, directory or symlink", path)
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if info.IsDir() {
			h.Name += "/"
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		h.Uname, h.Gname = "", ""
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// descriptor is an image-spec content descriptor (descriptor.md).
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// blob is one content-addressed file of the layout.
type blob struct {
	desc descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}, data}
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	return newBlob(mediaType, data), err
}

// writeOCIArchive writes the rootfs dir as an OCI image layout in a tar
// file, tagged ref (the annotation org.opencontainers.image.ref.name, which
// `ctr image import` names the image after, prefixed by --base-name).
func writeOCIArchive(path, dir, ref string) error {
	var layerTar, layerGz bytes.Buffer
	// The config's diff_ids name the uncompressed layer, the manifest the
	// compressed one (config.md, "rootfs").
	if err := writeLayer(&layerTar, dir); err != nil {
		return err
	}
	diffID := sha256.Sum256(layerTar.Bytes())
	gz := gzip.NewWriter(&layerGz)
	if _, err := gz.Write(layerTar.Bytes()); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	layer := newBlob("application/vnd.oci.image.layer.v1.tar+gzip", layerGz.Bytes())
	config, err := jsonBlob("application/vnd.oci.image.config.v1+json", map[string]any{
		"created":      time.Now().UTC().Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return err
	}
	manifest, err := jsonBlob("application/vnd.oci.image.manifest.v1+json", map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        config.desc,
		"layers":        []descriptor{layer.desc},
	})
	if err != nil {
		return err
	}
	md := manifest.desc
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{md},
	})
	if err != nil {
		return err
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: time.Now(), Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, b := range []blob{layer, config, manifest} {
		if err := add("blobs/sha256/"+b.desc.Digest[len("sha256:"):], b.data); err != nil {
			return err
		}
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
