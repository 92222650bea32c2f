package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
)

// PullOption changes how Pull fetches.
type PullOption func(*pullOpts)

type pullOpts struct {
	progress *progress
	rt       http.RoundTripper
}

// WithProgress reports each blob on w: one line rewritten as the bytes
// come on a terminal, one line per blob otherwise.
func WithProgress(w io.Writer, terminal bool) PullOption {
	return func(o *pullOpts) { o.progress = &progress{w: w, tty: terminal} }
}

// WithTransport sends the requests through rt (a test's server).
func WithTransport(rt http.RoundTripper) PullOption {
	return func(o *pullOpts) { o.rt = rt }
}

// Pull fetches ref from its registry and stores it:
//
//	GET /v2/NAME/manifests/TAG     a manifest, or an index (then we pick p's manifest
//	GET /v2/NAME/manifests/DIGEST    and fetch it by digest)
//	GET /v2/NAME/blobs/DIGEST      the config, then each layer not already stored
//
// Every blob goes through PutBlob, which verifies its digest while it is
// written and makes it visible only complete: a cut connection leaves
// nothing under blobs/, and the next pull fetches only what is missing.
// Credentials come from ~/.docker/config.json, else the pull is
// anonymous. With x, every HTTP request is narrated with its status.
//
// The client is ours (registry.go), on net/http, and not
// go-containerregistry's remote package: linked into this binary, which
// every container start runs twice, remote's dependencies (go-digest's
// regexps, zstd, logrus, docker/cli's config) ran their package inits at
// every start.
func Pull(ctx context.Context, s *image.Store, ref string, p image.Platform, x *explain.Narrator, opts ...PullOption) (image.Digest, error) {
	var o pullOpts
	for _, f := range opts {
		f(&o)
	}
	r, err := image.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	g := newRegistry(ctx, r, o.rt, x)
	d, err := pull(s, g, r, p, o.progress)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	if r.Digest == "" { // NAME@DIGEST is stored by digest only, as docker lists <none>
		if err := s.Tag(d, image.NormalizeRef(ref)); err != nil {
			return "", err
		}
	}
	return d, nil
}

func pull(s *image.Store, g *regClient, r image.Reference, p image.Platform, pr *progress) (image.Digest, error) {
	raw, err := g.manifest(r.TagOrDigest())
	if err != nil {
		return "", err
	}
	mt, err := image.MediaTypeOf(raw)
	if err != nil {
		return "", err
	}
	if image.IsIndex(mt) {
		ix, err := image.ParseIndex(raw)
		if err != nil {
			return "", err
		}
		md, err := ix.Select(p)
		if err != nil {
			return "", err
		}
		g.x.Note("an index of %d manifests: %s is %s", len(ix.Manifests), p, md.Digest.Short())
		if raw, err = g.manifest(string(md.Digest)); err != nil {
			return "", err
		}
	}
	m, err := image.ParseManifest(raw)
	if err != nil {
		return "", err
	}
	for _, b := range append([]image.Descriptor{m.Config}, m.Layers...) {
		if err := fetchBlob(s, g, b, pr); err != nil {
			return "", err
		}
	}
	// The manifest is stored under the digest of the bytes the registry
	// sent: that is its name (a tag only points at it).
	return s.AddManifest(raw, "")
}

// fetchBlob stores the blob b unless it is stored already (shared with
// an image we have: layers are content-addressed).
func fetchBlob(s *image.Store, g *regClient, b image.Descriptor, pr *progress) error {
	if s.HasBlob(b.Digest) {
		pr.done(b, true)
		return nil
	}
	if err := b.Digest.Validate(); err != nil {
		return err
	}
	body, err := g.blob(b.Digest)
	if err != nil {
		return err
	}
	defer body.Close()
	// At most the announced size is read: a registry sending more is
	// cut there, and the digest check then refuses it.
	var rd io.Reader = io.LimitReader(body, b.Size)
	if pr != nil {
		rd = pr.reader(b, rd)
	}
	_, n, err := s.PutBlob(rd, b.Digest)
	if err == nil && n != b.Size {
		err = fmt.Errorf("blob %s: %d bytes, the manifest says %d", b.Digest, n, b.Size)
	}
	if err != nil {
		return err
	}
	pr.done(b, false)
	return nil
}
