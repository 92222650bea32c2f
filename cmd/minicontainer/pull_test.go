package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// pullHelperOnPath builds minicontainer-pull and puts it on PATH: the
// tests run minicontainer as this test binary, which has no sibling.
func pullHelperOnPath(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/minicontainer-pull", "./pull").CombinedOutput(); err != nil {
		t.Fatalf("go build minicontainer-pull: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// TestPullRun pulls the test rootfs as a one-layer image from
// go-containerregistry's registry, served in this test process on
// 127.0.0.1 (no network leaves the test), and runs it: pull, run IMAGE,
// an unknown image and tag in one line with exit 125, and rmi giving the
// disk back.
func TestPullRun(t *testing.T) {
	needRoot(t)
	pullHelperOnPath(t)
	if os.Getenv(envTestHost) != "" {
		// the test-made host network namespace (TestMain) starts with
		// its loopback down; the registry listens on 127.0.0.1
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v %s", err, out)
		}
	}
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	store := t.TempDir()
	t.Setenv("MINICONTAINER_IMAGES", store)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	base, err := exec.Command("tar", "-C", testRootfs, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(base)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"echo"}, Cmd: []string{"pulled"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/test/bb:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}

	before := du(t, store)
	d, _ := img.Digest()
	p := mc(t, "", "pull", "-x", ref)
	if p.code != 0 || p.stdout != ref+": "+d.String()+"\n" {
		t.Fatalf("pull: %+v", p)
	}
	// stderr is no terminal here: plain lines, one a blob, and -x's GETs
	for _, want := range []string{" config: pulled ", " layer: pulled ", "GET http://" + ref[:len(ref)-len(":1")] + "/manifests/1 = 200 OK"} {
		if !strings.Contains(strings.ReplaceAll(p.stderr, "/v2/", "/"), want) || strings.Contains(p.stderr, "\r") {
			t.Errorf("pull's stderr lacks %q (or has a carriage return):\n%s", want, p.stderr)
		}
	}
	if r := mc(t, "", "run", "--net", "none", ref); r.code != 0 || r.stdout != "pulled\n" {
		t.Errorf("run of the pulled image: %+v", r)
	}
	for _, c := range []struct{ ref, want string }{
		{host + "/test/bb:nope", "MANIFEST_UNKNOWN"},
		{host + "/test/none", "404 Not Found"},
	} {
		r := mc(t, "", "pull", c.ref)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "pull "+c.ref+": ") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("pull %s: exit %d, %q; want 125 and one line with %q", c.ref, r.code, r.stderr, c.want)
		}
	}
	if r := mc(t, "", "rmi", ref); r.code != 0 {
		t.Fatalf("rmi: %+v", r)
	}
	if after := du(t, store); after != before {
		t.Errorf("the store used %d bytes before the pull, %d after rmi", before, after)
	}
}
