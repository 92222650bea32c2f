package image

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Pull fetches ref from its registry (the distribution spec's HTTP API,
// spoken by go-containerregistry's remote package) and stores it:
//
//	GET /v2/NAME/manifests/TAG     a manifest, or an index (then we pick p's manifest
//	GET /v2/NAME/manifests/DIGEST    and fetch it by digest)
//	GET /v2/NAME/blobs/DIGEST      the config, then each layer not already stored
//
// Every blob goes through PutBlob, which verifies its digest while it is
// written and makes it visible only complete: a cut connection leaves
// nothing under blobs/, and the next pull fetches it again. Credentials
// come from ~/.docker/config.json (authn.DefaultKeychain), else anonymous.
// With x, every HTTP request is narrated with its status.
func (s *Store) Pull(ctx context.Context, ref string, p Platform, x *explain.Narrator, opts ...remote.Option) (Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(narrate{x, http.DefaultTransport})}, opts...)
	d, err := s.pull(r, p, opts)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	local := NormalizeRef(ref)
	if _, ok := r.(name.Digest); ok {
		local = "" // stored by digest only, as docker pull NAME@DIGEST lists <none>
	}
	if local != "" {
		if err := s.Tag(d, local); err != nil {
			return "", err
		}
	}
	return d, nil
}

func (s *Store) pull(r name.Reference, p Platform, opts []remote.Option) (Digest, error) {
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return "", oneLine(err)
	}
	raw := desc.Manifest
	mt, err := kind(raw)
	if err != nil {
		return "", err
	}
	if IsIndex(mt) {
		ix, err := ParseIndex(raw)
		if err != nil {
			return "", err
		}
		md, err := ix.Select(p)
		if err != nil {
			return "", err
		}
		mdesc, err := remote.Get(r.Context().Digest(string(md.Digest)), opts...)
		if err != nil {
			return "", oneLine(err)
		}
		raw = mdesc.Manifest
		if got := FromBytes(raw); got != md.Digest {
			return "", fmt.Errorf("manifest %s: %w: its bytes hash to %s", md.Digest, ErrDigestMismatch, got)
		}
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return "", err
	}
	for _, b := range append([]Descriptor{m.Config}, m.Layers...) {
		if s.HasBlob(b.Digest) {
			continue // shared with an image we have: not fetched again
		}
		l, err := remote.Layer(r.Context().Digest(string(b.Digest)), opts...)
		if err != nil {
			return "", oneLine(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return "", oneLine(err)
		}
		_, _, err = s.PutBlob(rc, b.Digest)
		rc.Close()
		if err != nil {
			return "", err
		}
	}
	// The manifest is stored under the digest of the bytes the registry
	// sent: that is its name (a tag only points at it).
	return s.AddManifest(raw, "")
}

// oneLine keeps the first line of a registry error (they can carry a
// JSON body over several lines).
func oneLine(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return fmt.Errorf("%s", msg[:i])
	}
	return err
}

// narrate is an http.RoundTripper that tells each request and its answer.
type narrate struct {
	x    *explain.Narrator
	next http.RoundTripper
}

func (n narrate) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := n.next.RoundTrip(req)
	status := ""
	if err == nil {
		status = resp.Status
	}
	n.x.Call("distribution-spec", req.Method+" "+req.URL.String(), status, err)
	return resp, err
}
