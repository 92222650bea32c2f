package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

func TestParseReference(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"alpine", "docker.io/library/alpine:latest"},
		{"alpine:3.20", "docker.io/library/alpine:3.20"},
		{"user/app", "docker.io/user/app:latest"},
		{"ghcr.io/o/n:v1.2_rc-1", "ghcr.io/o/n:v1.2_rc-1"},
		{"localhost/x", "localhost/x:latest"},
		{"127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"},
		{"[::1]:5000/a", "[::1]:5000/a:latest"},
		{"a.b/c__d-e--f/g", "a.b/c__d-e--f/g:latest"},
		{"r.io/x@sha256:" + strings.Repeat("ab", 32), "r.io/x@sha256:" + strings.Repeat("ab", 32)},
		{"r.io/x:t@sha256:" + strings.Repeat("ab", 32), "r.io/x:t@sha256:" + strings.Repeat("ab", 32)},
	} {
		r, err := ParseReference(c.in)
		if err != nil || r.String() != c.want {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", c.in, r.String(), err, c.want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a//b", "a/-b", "a/b.", "a/b:", "a/b:-x", "a/b:" + strings.Repeat("t", 129),
		"a/b@sha256:12", "a..b/c/d_", "a/b c", "host:port:x/y", "r.io:50a/x", "a/b__-c"} {
		if r, err := ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) = %q, want an error", bad, r.String())
		}
	}
}

func TestParseChallenge(t *testing.T) {
	s, p := parseChallenge(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`)
	if s != "Bearer" || p["realm"] != "https://auth.docker.io/token" || p["service"] != "registry.docker.io" ||
		p["scope"] != "repository:library/alpine:pull" {
		t.Errorf("got %q %v", s, p)
	}
	s, p = parseChallenge(`Basic realm=reg, charset="UTF-8"`)
	if s != "Basic" || p["realm"] != "reg" || p["charset"] != "UTF-8" {
		t.Errorf("got %q %v", s, p)
	}
}

func TestDockerCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cfg := `{"auths":{"https://index.docker.io/v1/":{"auth":"` + enc("hub:pw") + `"},` +
		`"reg.example:5000":{"auth":"` + enc("me:secret") + `"},` +
		`"http://other.example":{"username":"u","password":"p"}},"credsStore":"desktop"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]string{
		DockerHub: enc("hub:pw"), "reg.example:5000": enc("me:secret"), "other.example": enc("u:p"), "none.example": "",
	} {
		if got := dockerCredentials(domain); got != want {
			t.Errorf("dockerCredentials(%s) = %q, want %q", domain, got, want)
		}
	}
}

// TestPullAuthRedirect puts a token service in front of the test
// registry (distribution's token.md: 401 with a Bearer challenge, a token
// given for the credentials docker login would have written) and answers
// blob GETs with a redirect to a storage host, as Docker Hub does.
func TestPullAuthRedirect(t *testing.T) {
	requireRoot(t)
	reg := newTestRegistry(t)
	pushIndex(t, reg.host+"/test/bb:v1")

	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "a storage host must not see the registry's token", http.StatusBadRequest)
			return
		}
		resp, err := http.Get(reg.URL + r.URL.Path) // the blob, from behind the front
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		w.Write(b.Bytes())
	}))
	defer storage.Close()

	var front *httptest.Server
	front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			user, pw, ok := r.BasicAuth()
			if !ok || user != "me" || pw != "secret" || r.URL.Query().Get("scope") != "repository:test/bb:pull" ||
				r.URL.Query().Get("service") != "test" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"access_token": "T0K3N"})
			return
		}
		if r.Header.Get("Authorization") != "Bearer T0K3N" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+front.URL+`/token",service="test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, storage.URL+r.URL.Path+"?X-Amz-Signature=s3cr3t", http.StatusTemporaryRedirect)
			return
		}
		reg.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	ref := strings.TrimPrefix(front.URL, "http://") + "/test/bb:v1"

	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := `{"auths":{"` + strings.TrimPrefix(front.URL, "http://") + `":{"auth":"` +
		base64.StdEncoding.EncodeToString([]byte("me:secret")) + `"}}}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600)

	s, _ := Open(t.TempDir())
	var narration, prog bytes.Buffer
	if _, err := s.Pull(context.Background(), ref, DefaultPlatform, explain.New(&narration, true), WithProgress(&prog, false)); err != nil {
		t.Fatalf("%v\n%s", err, narration.String())
	}
	if _, err := s.Image(ref); err != nil {
		t.Fatal(err)
	}
	n := narration.String()
	for _, want := range []string{"/v2/test/bb/manifests/v1 = 401 Unauthorized", "/token?scope=repository%3Atest%2Fbb%3Apull&service=test = 200 OK",
		"/v2/test/bb/manifests/v1 = 200 OK", "307 Temporary Redirect → " + storage.URL} {
		if !strings.Contains(n, want) {
			t.Errorf("-x lacks %q:\n%s", want, n)
		}
	}
	if strings.Contains(n, "s3cr3t") || strings.Contains(n, "T0K3N") {
		t.Errorf("-x shows a credential:\n%s", n)
	}
	// config + three layers, each a line
	if lines := strings.Count(prog.String(), ": pulled "); lines != 4 || strings.Contains(prog.String(), "\r") {
		t.Errorf("progress, not a terminal: want 4 plain 'pulled' lines:\n%q", prog.String())
	}

	// The wrong password: the token service's 401 in one line.
	cfg = strings.Replace(cfg, base64.StdEncoding.EncodeToString([]byte("me:secret")), base64.StdEncoding.EncodeToString([]byte("me:wrong")), 1)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600)
	s2, _ := Open(t.TempDir())
	_, err := s2.Pull(context.Background(), ref, DefaultPlatform, nil)
	if err == nil || !strings.Contains(err.Error(), "/token?scope=") || !strings.Contains(err.Error(), "401 Unauthorized") ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("pull with a wrong password: %v", err)
	}
}

func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	b := Descriptor{MediaType: MediaOCILayerGzip, Digest: FromBytes([]byte("x")), Size: 2000}
	r := p.reader(b, strings.NewReader(strings.Repeat("y", 2000)))
	buf := make([]byte, 500)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	p.done(b, false)
	s := out.String()
	if !strings.HasPrefix(s, "\r\x1b[K"+b.Digest.Short()+" layer: [") || !strings.Contains(s, "2.00kB/2.00kB") ||
		!strings.HasSuffix(s, "\r\x1b[K"+b.Digest.Short()+" layer: pulled 2.00kB\n") {
		t.Errorf("terminal progress:\n%q", s)
	}
	if got := bar(1, 2, 10); got != "[=====>    ] 1B/2B" {
		t.Errorf("bar(1, 2, 10) = %q", got)
	}
}
