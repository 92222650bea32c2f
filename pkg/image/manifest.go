package image

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Media types of the two manifest families a registry serves: OCI
// (image-spec manifest.md, image-index.md) and Docker's v2 schema 2
// (distribution/docs/spec/manifest-v2-2.md). Their JSON shapes are the
// same; only the names differ.
const (
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaOCIConfig      = "application/vnd.oci.image.config.v1+json"
	MediaOCILayer       = "application/vnd.oci.image.layer.v1.tar"
	MediaOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaOCILayerZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Descriptor points at a blob: its media type, digest and size.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      Digest            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform is an index entry's os/architecture[/variant].
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	f := strings.Split(s, "/")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := Platform{OS: f[0], Architecture: f[1]}
	if len(f) == 3 {
		p.Variant = f[2]
	}
	return p, nil
}

// DefaultPlatform is what an index is resolved to without --platform.
var DefaultPlatform = Platform{OS: "linux", Architecture: "amd64"}

// Manifest is one image for one platform: a config and layers, bottom first.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Index lists manifests, one per platform (a "manifest list" in Docker's words).
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []Descriptor `json:"manifests"`
}

// Config is the image config blob: what run needs from it.
type Config struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Config       ContainerConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []Digest `json:"diff_ids"`
	} `json:"rootfs"`
	Created string `json:"created,omitempty"`
}

// ContainerConfig is the part of an image config that fills a run's Spec.
type ContainerConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	StopSignal string   `json:"StopSignal,omitempty"`
}

// kind reads a manifest-or-index document's media type; an OCI
// document may leave mediaType out, then "manifests" marks an index.
func kind(b []byte) (string, error) {
	var probe struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
		Config    *json.RawMessage  `json:"config"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return MediaOCIIndex, nil
	case probe.Config != nil:
		return MediaOCIManifest, nil
	}
	return "", fmt.Errorf("manifest: neither a manifest nor an index")
}

// MediaTypeOf is the media type of a manifest-or-index document (kind).
func MediaTypeOf(b []byte) (string, error) { return kind(b) }

// IsIndex says whether mt is an index (OCI) or manifest list (Docker).
func IsIndex(mt string) bool { return mt == MediaOCIIndex || mt == MediaDockerList }

// IsManifest says whether mt is an image manifest (OCI or Docker v2 schema 2).
func IsManifest(mt string) bool { return mt == MediaOCIManifest || mt == MediaDockerManifest }

// ParseManifest reads an image manifest and checks what the store relies on.
func ParseManifest(b []byte) (*Manifest, error) {
	mt, err := kind(b)
	if err != nil {
		return nil, err
	}
	if !IsManifest(mt) {
		return nil, fmt.Errorf("manifest: media type %q is not an image manifest", mt)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("manifest: schemaVersion %d, want 2", m.SchemaVersion)
	}
	m.MediaType = mt
	if err := m.Config.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("manifest config: %w", err)
	}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("manifest layer: %w", err)
		}
	}
	return &m, nil
}

// ParseIndex reads an index or manifest list.
func ParseIndex(b []byte) (*Index, error) {
	mt, err := kind(b)
	if err != nil {
		return nil, err
	}
	if !IsIndex(mt) {
		return nil, fmt.Errorf("index: media type %q is not an index", mt)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	ix.MediaType = mt
	return &ix, nil
}

// Select picks the manifest for p from an index: os and architecture
// must match, and the variant too when p names one.
func (ix *Index) Select(p Platform) (Descriptor, error) {
	var have []string
	for _, d := range ix.Manifests {
		if d.Platform == nil || !IsManifest(d.MediaType) && d.MediaType != "" {
			continue // attestations and the like carry no runnable platform
		}
		have = append(have, d.Platform.String())
		if d.Platform.OS == p.OS && d.Platform.Architecture == p.Architecture &&
			(p.Variant == "" || d.Platform.Variant == p.Variant) {
			if err := d.Digest.Validate(); err != nil {
				return Descriptor{}, err
			}
			return d, nil
		}
	}
	return Descriptor{}, fmt.Errorf("no image for platform %s in the index (it has: %s)", p, strings.Join(have, ", "))
}

// ParseConfig reads an image config blob.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("image config diff_id: %w", err)
		}
	}
	return &c, nil
}
