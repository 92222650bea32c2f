package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestImageVerbs: import, images, rmi through the CLI; errors are one
// line and exit 125; rmi gives the disk back.
func TestImageVerbs(t *testing.T) {
	needRoot(t)
	pullHelperOnPath(t)
	defer hostcheck.Take(t, "mctest").Verify(t)
	store := t.TempDir()
	t.Setenv("MINICONTAINER_IMAGES", store)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", testRootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	empty := du(t, store)
	if r := mc(t, "", "import", tarball, "bb:one"); r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("import: %+v", r)
	}
	if r := mc(t, "", "images"); r.code != 0 || !strings.Contains(r.stdout, "\nbb:one ") {
		t.Fatalf("images: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rmi", "nope"}, `image "nope": not in the store`},
		{[]string{"load", "-i", "/nonexistent.tar"}, "load: stat /nonexistent.tar: no such file or directory"},
		{[]string{"load", "-i", "/etc/passwd"}, "not a tar archive"},
		{[]string{"import", "/etc/passwd", "x"}, "not a tar archive"},
		{[]string{"load", "-i", tarball}, "neither an OCI layout"},
		{[]string{"load", "-i", tarball, "--platform", "linux"}, "want os/arch"},
		{[]string{"pull", "127.0.0.1:1/no/registry"}, "pull 127.0.0.1:1/no/registry: "},
		{[]string{"pull", "Not A Ref"}, `pull Not A Ref: reference "Not A Ref": `},
		{[]string{"pull", "--platform", "linux", "x"}, "want os/arch"},
	} {
		r := mc(t, "", c.args...)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("minicontainer %s: exit %d, stderr %q; want 125 and one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if r := mc(t, "", "rmi", "bb:one"); r.code != 0 {
		t.Fatalf("rmi: %+v", r)
	}
	if r := mc(t, "", "images", "-q"); r.code != 0 || r.stdout != "" {
		t.Fatalf("images -q after rmi: %+v", r)
	}
	if after := du(t, store); after != empty {
		t.Errorf("the store used %d bytes before import, %d after rmi", empty, after)
	}
}

// du is the bytes of the regular files under dir (the store's own lock
// and repositories.json included).
func du(t *testing.T, dir string) (n int64) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Name() != "repositories.json" && fi.Name() != "lock" {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestRunImage loads a three-layer image (a docker save archive built
// here: the test rootfs, a layer that adds and deletes a file, one that
// hides a directory) and runs it: the layers are the overlay's lower dirs
// and the image's config gives the command, environment and workdir.
func TestRunImage(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// ',' and ':' separate overlay's options and lower dirs: each
	// layer's path must be escaped in lowerdir.
	store := filepath.Join(t.TempDir(), "images,a:b")
	t.Setenv("MINICONTAINER_IMAGES", store)
	work := t.TempDir()
	base, err := exec.Command("tar", "-C", testRootfs, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	layers := [][]byte{base,
		tarOf(t, "etc/added", "new\n", "etc/.wh.group", ""),
		tarOf(t, "usr/sbin/.wh..wh..opq", "", "usr/sbin/only", "o\n")}
	save := saveTar(t, work, "test/run:1", map[string]any{"Cmd": []string{"sh", "-c", "echo cmd $FOO"}, "Env": []string{"FOO=from-image"}, "WorkingDir": "/etc"}, layers...)
	if r := mc(t, "", "load", "-i", save); r.code != 0 || r.stdout != "Loaded image: test/run:1\n" {
		t.Fatalf("load: %+v", r)
	}

	r := mc(t, "", "run", "--image", "test/run:1", "--net", "none", "-x", "--", "sh", "-c",
		`cat /etc/added; test -e /etc/group || echo no-group; ls /usr/sbin; pwd; echo $FOO; touch /etc/w && echo writable`)
	if want := "new\nno-group\nonly\n/etc\nfrom-image\nwritable\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("run --image: exit %d\n got %q\nwant %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	if !regexp.MustCompile(`mount\("overlay", .*"lowerdir=[^"]*images\\+,a\\+:b/layers/sha256/[0-9a-f]{64}:[^"]*/layers/sha256/[0-9a-f]{64}:[^"]*/layers/sha256/[0-9a-f]{64},upperdir=`).MatchString(r.stderr) {
		t.Errorf("-x does not show the overlay with 3 lower dirs:\n%s", r.stderr)
	}
	if r := mc(t, "", "run", "--image", "test/run:1", "--net", "none"); r.code != 0 || r.stdout != "cmd from-image\n" {
		t.Errorf("run --image with the image's Cmd: %+v", r)
	}
	if r := mc(t, "", "run", "--image", "test/run:1", "--net", "none", "-e", "FOO=flag", "-w", "/", "--", "sh", "-c", "echo $FOO; pwd"); r.stdout != "flag\n/\n" {
		t.Errorf("-e and -w over the image's: %+v", r)
	}
	if r := mc(t, "", "run", "--image", "no/such", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, `image "no/such": not in the store`) {
		t.Errorf("run of an unknown image: %+v", r)
	}
	imageConfig(t, work, base)
	// The plain runs of imageConfig made the built-in image in this store.
	if r := mc(t, "", "rmi", "busybox:builtin"); r.code != 0 {
		t.Errorf("rmi busybox:builtin: %+v", r)
	}

	// An image a running container uses is not removed without -f; with
	// -f its name goes and its layers stay while they are mounted.
	bg := exec.Command("minicontainer", "run", "--image", "test/run:1", "--net", "none", "--init", "--", "sleep", "60")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	defer bg.Wait()
	defer bg.Process.Signal(syscall.SIGTERM)
	for i := 0; !strings.Contains(mc(t, "", "ps").stdout, "sleep 60"); i++ {
		if i == 100 {
			t.Fatal("the background container did not show in ps")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // ps lists it from "starting"; the overlay comes before the exec
	if r := mc(t, "", "rmi", "test/run:1"); r.code != 125 || !strings.Contains(r.stderr, "uses it") {
		t.Errorf("rmi of an image in use: %+v", r)
	}
	if r := mc(t, "", "rmi", "-f", "test/run:1"); r.code != 0 {
		t.Fatalf("rmi -f: %+v", r)
	}
	if ents, _ := os.ReadDir(filepath.Join(store, "layers", "sha256")); len(ents) != 3 {
		t.Errorf("rmi -f left %d layers, want the 3 in use kept", len(ents))
	}
	if r := mc(t, "", "images", "-q"); r.stdout != "" {
		t.Errorf("rmi -f left the image listed: %q", r.stdout)
	}
}

// saveTar writes a docker save archive of one image, tagged tag, with
// the given container config (Cmd, Entrypoint, User...) and layers
// (uncompressed tars, bottom first), and returns its path.
func saveTar(t *testing.T, dir, tag string, config map[string]any, layers ...[]byte) string {
	t.Helper()
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}}
	files := map[string][]byte{}
	var paths []string
	for i, l := range layers {
		sum := sha256.Sum256(l)
		cfg["rootfs"].(map[string]any)["diff_ids"] = append(cfg["rootfs"].(map[string]any)["diff_ids"].([]string), "sha256:"+hex.EncodeToString(sum[:]))
		p := fmt.Sprintf("l%d/layer.tar", i)
		files[p], paths = l, append(paths, p)
	}
	files["config.json"], _ = json.Marshal(cfg)
	files["manifest.json"], _ = json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{tag}, "Layers": paths}})
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var kv []string
	for _, n := range names {
		kv = append(kv, n, string(files[n]))
	}
	save := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(tag)+".tar")
	if err := os.WriteFile(save, tarOf(t, kv...), 0o644); err != nil {
		t.Fatal(err)
	}
	return save
}

// tarOf is a tar of name, content pairs (regular files).
func tarOf(t *testing.T, kv ...string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i < len(kv); i += 2 {
		tw.WriteHeader(&tar.Header{Name: kv[i], Mode: 0o644, Size: int64(len(kv[i+1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(kv[i+1]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// imageConfig runs images whose config has an Entrypoint, a User and a
// StopSignal, in docker's form run IMAGE [CMD...].
func imageConfig(t *testing.T, work string, base []byte) {
	if r := mc(t, "", "run", "--net", "none", "test/run:1"); r.code != 0 || r.stdout != "cmd from-image\n" {
		t.Errorf("run IMAGE: %+v", r)
	}
	ep := saveTar(t, work, "test/ep:1", map[string]any{"Entrypoint": []string{"echo", "ep"}, "Cmd": []string{"from-cmd"}}, base)
	users := saveTar(t, work, "test/user:1", map[string]any{"Cmd": []string{"id"}, "User": "app", "StopSignal": "SIGQUIT"}, base,
		tarOf(t, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n", "etc/group", "root:x:0:\napp:x:1001:\nextra:x:2000:app\n"))
	for _, f := range []string{ep, users} {
		if r := mc(t, "", "load", "-i", f); r.code != 0 {
			t.Fatalf("load: %+v", r)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"test/ep:1"}, "ep from-cmd\n"},
		{[]string{"test/ep:1", "a", "b"}, "ep a b\n"},
		{[]string{"--entrypoint", "sh", "test/ep:1", "-c", "echo over"}, "over\n"},
		{[]string{"--entrypoint", "", "test/ep:1", "echo", "z"}, "z\n"},
		{[]string{"busybox", "echo", "built-in"}, "built-in\n"},
		{[]string{"--", "echo", "plain"}, "plain\n"},
	} {
		r := mc(t, "", append([]string{"run", "--net", "none"}, c.args...)...)
		if r.code != 0 || r.stdout != c.want {
			t.Errorf("run %q: exit %d, %q, want %q\n%s", c.args, r.code, r.stdout, c.want, r.stderr)
		}
	}
	// The user is resolved from the image's /etc/passwd and /etc/group
	// into process.user, the stop signal kept as an annotation.
	r := mc(t, "", "spec", "test/user:1")
	var s struct {
		Process struct {
			Args []string
			User struct {
				UID            uint32   `json:"uid"`
				GID            uint32   `json:"gid"`
				AdditionalGids []uint32 `json:"additionalGids"`
			}
		}
		Annotations map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || r.code != 0 {
		t.Fatalf("spec IMAGE: %v %+v", err, r)
	}
	if u := s.Process.User; u.UID != 1000 || u.GID != 1001 || len(u.AdditionalGids) != 1 || u.AdditionalGids[0] != 2000 ||
		s.Annotations["org.opencontainers.image.stopSignal"] != "SIGQUIT" || s.Process.Args[0] != "id" {
		t.Errorf("spec test/user:1: process %+v, annotations %v", s.Process, s.Annotations)
	}
	// run executes that Spec: the process runs as the image's user, with
	// its groups (id is the image's Cmd).
	if r := mc(t, "", "run", "--net", "none", "test/user:1"); r.code != 0 || !strings.Contains(r.stdout, "uid=1000") || !strings.Contains(r.stdout, "gid=1001") || !strings.Contains(r.stdout, "2000") {
		t.Errorf("run of an image with a User: %+v", r)
	}
	if r := mc(t, "", "rmi", "test/ep:1", "test/user:1"); r.code != 0 {
		t.Errorf("rmi: %+v", r)
	}
}

// TestBuiltinImage: a plain run makes the built-in image busybox:builtin
// in an empty store on first use (-x says so) and mounts its layer as the
// overlay's lower dir; images lists it, it runs by name; rmi is refused
// while a container uses it, then leaves the store empty, and the next
// plain run makes it again.
func TestBuiltinImage(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	store := t.TempDir()
	t.Setenv("MINICONTAINER_IMAGES", store)
	r := mc(t, "", "run", "--net", "none", "-x", "--", "true")
	lower := regexp.MustCompile(`"lowerdir=` + regexp.QuoteMeta(store) + `/layers/sha256/[0-9a-f]{64},upperdir=`)
	if r.code != 0 || !strings.Contains(r.stderr, "first use: making the image busybox:builtin in "+store) || !lower.MatchString(r.stderr) {
		t.Fatalf("first run: exit %d; want the image made and its layer the lower dir:\n%s", r.code, r.stderr)
	}
	if r := mc(t, "", "run", "--net", "none", "-x", "--", "true"); r.code != 0 || strings.Contains(r.stderr, "first use") || !lower.MatchString(r.stderr) {
		t.Errorf("second run: exit %d; want the same layer, nothing made:\n%s", r.code, r.stderr)
	}
	if r := mc(t, "", "images"); !regexp.MustCompile(`(?m)^busybox:builtin +[0-9a-f]{12} `).MatchString(r.stdout) {
		t.Errorf("images: %q, want busybox:builtin", r.stdout)
	}
	// inspect: a name that is no container's is looked up as an image.
	var in []struct {
		RepoTags, LayerDirs []string
	}
	if r := mc(t, "", "inspect", "busybox:builtin"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &in) != nil || len(in) != 1 ||
		len(in[0].RepoTags) != 1 || in[0].RepoTags[0] != "busybox:builtin" || len(in[0].LayerDirs) != 1 ||
		!strings.Contains(mc(t, "", "run", "--net", "none", "-x", "--", "true").stderr, `"lowerdir=`+in[0].LayerDirs[0]+`,`) {
		t.Errorf("inspect busybox:builtin: %+v; want its name and its layer, the lower dir", r)
	}
	if r := mc(t, "", "run", "--net", "none", "busybox:builtin", "echo", "by name"); r.code != 0 || r.stdout != "by name\n" {
		t.Errorf("run busybox:builtin: %+v", r)
	}

	bg := exec.Command("minicontainer", "run", "--net", "none", "--init", "--", "sleep", "60")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(mc(t, "", "ps").stdout, "sleep 60"); i++ {
		if i == 100 {
			bg.Process.Kill()
			t.Fatal("the background container did not show in ps")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // ps lists it from "starting"; the overlay comes before the exec
	r = mc(t, "", "rmi", "busybox:builtin")
	bg.Process.Signal(syscall.SIGTERM)
	bg.Wait()
	if r.code != 125 || !strings.Contains(r.stderr, "uses it") {
		t.Errorf("rmi of the built-in image in use: %+v", r)
	}
	if r := mc(t, "", "rmi", "busybox:builtin"); r.code != 0 {
		t.Fatalf("rmi: %+v", r)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
			t.Errorf("%s after rmi: %d entries, want none", d, len(ents))
		}
	}
	if r := mc(t, "", "run", "--net", "none", "-x", "--", "true"); r.code != 0 || !strings.Contains(r.stderr, "first use: making the image") {
		t.Errorf("run after rmi: exit %d; want the image made again:\n%s", r.code, r.stderr)
	}
	// --images: the built-in image of that store.
	other := t.TempDir()
	if r := mc(t, "", "run", "--images", other, "--net", "none", "-x", "--", "true"); r.code != 0 || !strings.Contains(r.stderr, "first use: making the image busybox:builtin in "+other) {
		t.Errorf("run --images %s: exit %d; want the image made there:\n%s", other, r.code, r.stderr)
	}
}
