// Package registry pulls images: the client side of the OCI distribution
// spec on net/http, storing into pkg/image's store. It is linked only
// into minicontainer-pull, never into minicontainer, which every container
// start runs twice (see cmd/minicontainer/pull).
package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
)

// regClient speaks the client side of the OCI distribution spec
// (opencontainers/distribution-spec, spec.md) for one repository, the
// part a pull needs:
//
//	GET /v2/NAME/manifests/REF   Accept: the manifest and index media types
//	GET /v2/NAME/blobs/DIGEST    often a redirect to a storage host
//
// and the token dance of a registry that answers 401 (distribution's
// docs/spec/auth/token.md): the WWW-Authenticate challenge names a realm,
// we GET realm?service=S&scope=repository:NAME:pull (with Basic
// credentials when ~/.docker/config.json has some) and send the token
// back as "Authorization: Bearer".
type regClient struct {
	ctx    context.Context
	client *http.Client
	base   string // scheme://host
	repo   string
	creds  string // base64 "user:password", or ""
	auth   string // the Authorization header once a challenge was met
	x      *explain.Narrator
}

// manifestAccept is every manifest form we read, so the registry need
// not convert (Docker Hub converts a v2 manifest to the deprecated schema
// 1 for a client that accepts nothing).
var manifestAccept = strings.Join([]string{image.MediaOCIIndex, image.MediaDockerList, image.MediaOCIManifest, image.MediaDockerManifest}, ", ")

// maxManifest bounds a manifest body (distribution's registry refuses to
// store larger ones: 4 MiB).
const maxManifest = 4 << 20

func newRegistry(ctx context.Context, r image.Reference, rt http.RoundTripper, x *explain.Narrator) *regClient {
	host := r.Domain
	if host == image.DockerHub {
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if isLoopback(host) {
		// A registry on this machine is served without TLS (docker's
		// own rule: localhost and 127.0.0.0/8 are insecure registries).
		scheme = "http"
	}
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &regClient{
		ctx: ctx, x: x, repo: r.Repository, base: scheme + "://" + host,
		creds:  dockerCredentials(r.Domain),
		client: &http.Client{Transport: narrate{x, rt}, CheckRedirect: keepAuthOnHost},
	}
}

// keepAuthOnHost drops the Authorization header on a redirect to another
// host:port (a blob's storage host, which signs its own URLs): the token
// is the registry's. net/http drops it only when the host name differs,
// and keeps it across ports of one host. At most 10 redirects, as
// net/http's default.
func keepAuthOnHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

func isLoopback(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// manifest fetches the manifest or index named by ref (a tag or a
// digest) and returns its bytes. A digest is checked against the bytes.
func (g *regClient) manifest(ref string) ([]byte, error) {
	resp, err := g.get("/manifests/"+ref, manifestAccept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref, err)
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("manifest %s: over %d bytes", ref, maxManifest)
	}
	if d := image.Digest(ref); d.Validate() == nil && image.FromBytes(b) != d {
		return nil, fmt.Errorf("manifest %s: %w: its bytes hash to %s", ref, image.ErrDigestMismatch, image.FromBytes(b))
	}
	return b, nil
}

// blob opens the blob d for reading; the caller closes it.
func (g *regClient) blob(d image.Digest) (io.ReadCloser, error) {
	resp, err := g.get("/blobs/"+string(d), "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// get sends GET /v2/REPO+path; on a 401 it answers the challenge once
// and sends it again. Any other status than 200 is an error of one line.
func (g *regClient) get(path, accept string) (*http.Response, error) {
	u := g.base + "/v2/" + g.repo + path
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(g.ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if g.auth != "" {
			req.Header.Set("Authorization", g.auth)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			return nil, netError(err)
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			challenge := resp.Header.Get("WWW-Authenticate")
			drain(resp)
			if err := g.authorize(challenge); err != nil {
				return nil, err
			}
			continue
		}
		defer drain(resp)
		return nil, statusError(req, resp)
	}
}

// authorize turns a WWW-Authenticate challenge (RFC 7235) into g.auth.
func (g *regClient) authorize(challenge string) error {
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		if g.creds == "" {
			return fmt.Errorf("%s asks for a user and password: none in %s", g.base, dockerConfigPath())
		}
		g.auth = "Basic " + g.creds
		return nil
	case "bearer":
	default:
		return fmt.Errorf("%s: 401 Unauthorized with an unknown challenge %q", g.base, challenge)
	}
	realm, err := url.Parse(params["realm"])
	if err != nil || realm.Scheme == "" {
		return fmt.Errorf("%s: a Bearer challenge without a usable realm: %q", g.base, challenge)
	}
	q := realm.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", "repository:"+g.repo+":pull")
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(g.ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return err
	}
	if g.creds != "" {
		req.Header.Set("Authorization", "Basic "+g.creds)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return netError(err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return statusError(req, resp)
	}
	// token.md: "token", and OAuth 2's "access_token" (both may be sent)
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return fmt.Errorf("token from %s: %w", realm.Host, err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		return fmt.Errorf("token from %s: the answer holds no token", realm.Host)
	}
	g.auth = "Bearer " + tok.Token
	return nil
}

// parseChallenge splits `Bearer realm="https://a/token",service="s"`.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				params[k] = v[1:]
				break
			}
			params[k], rest = v[1:1+end], v[2+end:]
		} else {
			val, r, _ := strings.Cut(v, ",")
			params[k], rest = strings.TrimSpace(val), r
		}
		rest = strings.TrimLeft(rest, ", ")
	}
	return scheme, params
}

// statusError is one line: the request, the status, and the registry's
// first error code and message (spec.md, "Error Codes": a JSON body
// {"errors":[{"code","message"}]}).
func statusError(req *http.Request, resp *http.Response) error {
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	msg := ""
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil && len(body.Errors) > 0 {
		e := body.Errors[0]
		msg = ": " + e.Code
		if e.Message != "" {
			msg += " (" + strings.ReplaceAll(e.Message, "\n", " ") + ")"
		}
	}
	return fmt.Errorf("GET %s: %s%s", redact(req.URL), resp.Status, msg)
}

// netError keeps the one line of a transport error, without the
// "Get URL:" prefix net/http adds (the caller names the image).
func netError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("GET %s: %w", redactString(ue.URL), ue.Err)
	}
	return err
}

// drain reads a little of an unwanted body so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// redact drops the query of a URL, where a storage host's redirect
// carries its signature (X-Amz-Signature and the like): -x and errors
// must not print a credential.
func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" && !strings.Contains(c.RawQuery, "scope=") {
		c.RawQuery = "…"
	}
	return c.String()
}

func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return redact(u)
}

// narrate is an http.RoundTripper that tells each request and its
// answer (redirects and the token request included: each is a request).
type narrate struct {
	x    *explain.Narrator
	next http.RoundTripper
}

func (n narrate) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := n.next.RoundTrip(req)
	if n.x.Enabled() {
		status := ""
		if err == nil {
			status = resp.Status
			if loc := resp.Header.Get("Location"); loc != "" {
				status += " → " + redactString(loc)
			}
		}
		n.x.Call("distribution-spec", req.Method+" "+redact(req.URL), status, err)
	}
	return resp, err
}

// dockerConfigPath is docker's client config: $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json.
func dockerConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// dockerCredentials reads the "auths" entry for domain from docker's
// config file: "auth" is base64("user:password"), as `docker login`
// writes it (or username and password in clear). Credential helpers
// (credsStore, credHelpers) are programs docker runs; we do not run
// them, and such a registry is pulled from anonymously.
func dockerCredentials(domain string) string {
	b, err := os.ReadFile(dockerConfigPath())
	if err != nil {
		return ""
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	want := []string{domain}
	if domain == image.DockerHub {
		// docker login writes Docker Hub as its v1 index URL
		want = []string{"index.docker.io", "docker.io", "registry-1.docker.io"}
	}
	for key, a := range cfg.Auths {
		host := key
		if u, err := url.Parse(key); err == nil && u.Host != "" {
			host = u.Host // "https://index.docker.io/v1/" → index.docker.io
		}
		for _, w := range want {
			if host != w {
				continue
			}
			if a.Auth != "" {
				if _, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
					return a.Auth
				}
			}
			if a.Username != "" {
				return base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))
			}
		}
	}
	return ""
}
