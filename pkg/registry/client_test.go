package registry

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/image"
)

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
		image.DockerHub: enc("hub:pw"), "reg.example:5000": enc("me:secret"), "other.example": enc("u:p"), "none.example": "",
	} {
		if got := dockerCredentials(domain); got != want {
			t.Errorf("dockerCredentials(%s) = %q, want %q", domain, got, want)
		}
	}
}

func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	b := image.Descriptor{MediaType: image.MediaOCILayerGzip, Digest: image.FromBytes([]byte("x")), Size: 2000}
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
