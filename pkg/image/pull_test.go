package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrreg "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/image"
	"github.com/minicontainer/minicontainer/pkg/registry"
)

// testRegistry is go-containerregistry's registry served over httptest
// (no network leaves the test). A GET of the blob named in cut is
// answered with its full Content-Length and half its bytes, then the
// connection is dropped: a registry that dies mid-blob.
type testRegistry struct {
	*httptest.Server
	host string
	cut  atomic.Pointer[string]
	gets atomic.Int64 // blob GETs served whole
}

func newTestRegistry(t *testing.T) *testRegistry {
	reg := ggcrreg.New(ggcrreg.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := tr.cut.Load(); d != nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+*d) {
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // net/http closes the connection, quietly
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			tr.gets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.Close)
	tr.host = strings.TrimPrefix(tr.URL, "http://")
	return tr
}

// ggcrImage is the image of layers (uncompressed tars) built with
// go-containerregistry, gzip layers, the config cc.
func ggcrImage(t *testing.T, cc image.ContainerConfig, arch string, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		gl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, gl); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", arch
	cf.Config = v1.Config{Entrypoint: cc.Entrypoint, Cmd: cc.Cmd, Env: cc.Env, WorkingDir: cc.WorkingDir, User: cc.User, StopSignal: cc.StopSignal}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// pushIndex pushes a two-platform index to ref: linux/amd64 is the busybox
// image with its add/change/delete and opaque layers, linux/arm64 busybox
// alone. It returns the amd64 image.
func pushIndex(t *testing.T, ref string) v1.Image {
	layers, _ := image.TestLayers(t)
	cc := image.ContainerConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, WorkingDir: "/etc"}
	amd := ggcrImage(t, cc, "amd64", layers...)
	arm := ggcrImage(t, cc, "arm64", layers[0])
	ix := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, ix); err != nil {
		t.Fatal(err)
	}
	return amd
}

func TestPull(t *testing.T) {
	image.RequireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	reg := newTestRegistry(t)
	ref := reg.host + "/test/bb:v1"
	amd := pushIndex(t, ref)
	_, want := image.TestLayers(t)
	ctx := context.Background()

	t.Run("multi-arch", func(t *testing.T) {
		s, _ := image.Open(t.TempDir())
		var narration bytes.Buffer
		d, err := registry.Pull(ctx, s, ref, image.DefaultPlatform, explain.New(&narration, true))
		if err != nil {
			t.Fatal(err)
		}
		if md, _ := amd.Digest(); string(d) != md.String() {
			t.Errorf("pulled %s, want the amd64 manifest %s", d, md)
		}
		img, err := s.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		got := image.OverlayTree(t, img)
		image.DiffTrees(t, "pulled amd64", got, want)
		if img.Config.Config.WorkingDir != "/etc" || img.Config.Config.Cmd[0] != "sh" {
			t.Errorf("config = %+v", img.Config.Config)
		}
		if !strings.Contains(narration.String(), "GET http://"+reg.host+"/v2/test/bb/manifests/v1 = 200 OK") {
			t.Errorf("-x narration lacks the manifest GET:\n%s", narration.String())
		}

		// Cross-check: go-containerregistry's own flattening of the same
		// image lists the same paths (a check, not our code: its
		// hard-link handling has bugs we do not want).
		theirs := extractedNames(t, amd)
		ours := map[string]string{}
		for k := range got {
			ours[k] = "x"
		}
		image.DiffTrees(t, "our overlay vs mutate.Extract", ours, theirs)

		s2, _ := image.Open(t.TempDir())
		if _, err := registry.Pull(ctx, s2, ref, image.Platform{OS: "linux", Architecture: "arm64"}, nil); err != nil {
			t.Fatal(err)
		}
		img2, err := s2.Image(ref)
		if err != nil || len(img2.Layers) != 1 || img2.Config.Architecture != "arm64" {
			t.Fatalf("arm64 pull: %v %+v", err, img2)
		}
		if _, err := registry.Pull(ctx, s2, ref, image.Platform{OS: "linux", Architecture: "riscv64"}, nil); err == nil ||
			!strings.Contains(err.Error(), "no image for platform linux/riscv64") {
			t.Errorf("pull of a platform the index lacks: %v", err)
		}
	})

	t.Run("concurrent pulls store one copy", func(t *testing.T) {
		s, _ := image.Open(t.TempDir())
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = registry.Pull(ctx, s, ref, image.DefaultPlatform, nil) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// manifest, config and three layers: once each
		if ents, _ := os.ReadDir(s.BlobDir()); len(ents) != 5 {
			t.Errorf("%d blobs stored, want 5", len(ents))
		}
		image.EmptyDir(t, s.TmpDir())
		if _, err := s.Image(ref); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cut mid-blob", func(t *testing.T) {
		s, _ := image.Open(t.TempDir())
		layers, _ := amd.Layers()
		// the last layer: those before it are stored when it is cut
		big, _ := layers[len(layers)-1].Digest()
		cut := big.String()
		reg.cut.Store(&cut)
		_, err := registry.Pull(ctx, s, ref, image.DefaultPlatform, nil)
		reg.cut.Store(nil)
		if err == nil {
			t.Fatal("a pull whose blob was cut mid-way succeeded")
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("the error is not one line: %q", err)
		}
		if s.HasBlob(image.Digest(cut)) {
			t.Errorf("the cut blob %s is visible in the store", cut)
		}
		image.EmptyDir(t, s.TmpDir())
		if l, _ := s.List(); len(l) != 0 {
			t.Errorf("a failed pull left an image: %v", l)
		}
		before := reg.gets.Load()
		if _, err := registry.Pull(ctx, s, ref, image.DefaultPlatform, nil); err != nil {
			t.Fatalf("the next pull: %v", err)
		}
		if _, err := s.Image(ref); err != nil {
			t.Fatal(err)
		}
		// the blobs stored before the cut were not fetched again
		if n := reg.gets.Load() - before; n != 1 {
			t.Errorf("the next pull fetched %d blobs, want the cut one only", n)
		}
	})

	t.Run("registry errors", func(t *testing.T) {
		s, _ := image.Open(t.TempDir())
		for _, r := range []string{reg.host + "/test/bb:nope", reg.host + "/test/none", "UPPER/case"} {
			_, err := registry.Pull(ctx, s, r, image.DefaultPlatform, nil)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "pull "+r+": ") {
				t.Errorf("pull %s: %q, want one line naming it", r, err)
			}
		}
	})
}

// extractedNames is the path list of mutate.Extract's flattening of img.
func extractedNames(t *testing.T, img v1.Image) map[string]string {
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean(strings.TrimPrefix(h.Name, "/"))] = "x"
	}
}

// TestPullAuthRedirect puts a token service in front of the test
// registry (distribution's token.md: 401 with a Bearer challenge, a token
// given for the credentials docker login would have written) and answers
// blob GETs with a redirect to a storage host, as Docker Hub does.
func TestPullAuthRedirect(t *testing.T) {
	image.RequireRoot(t)
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

	s, _ := image.Open(t.TempDir())
	var narration, prog bytes.Buffer
	if _, err := registry.Pull(context.Background(), s, ref, image.DefaultPlatform, explain.New(&narration, true), registry.WithProgress(&prog, false)); err != nil {
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
	s2, _ := image.Open(t.TempDir())
	_, err := registry.Pull(context.Background(), s2, ref, image.DefaultPlatform, nil)
	if err == nil || !strings.Contains(err.Error(), "/token?scope=") || !strings.Contains(err.Error(), "401 Unauthorized") ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("pull with a wrong password: %v", err)
	}
}
