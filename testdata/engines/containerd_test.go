package engines

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// The containerd namespace the test works in: containerd names the
// containers' cgroups /NAMESPACE/ID, and the runtime's state dir
// --runc-root/NAMESPACE, so hostcheck watches them ("mctest").
const ctrNamespace cgroupParent = "mctest-containerd"

// The image ctr runs: the name in the OCI layout's index
// (org.opencontainers.image.ref.name), which ctr image import keeps.
const ctrImage = "docker.io/library/mctest-busybox:latest"

// containerd is a containerd daemon of the test's own: config, root, state
// and socket in a temporary directory.
type containerd struct {
	dir, sock string
	cmd       *exec.Cmd
	done      chan error
}

// The shims' sockets: containerd 1.6 puts them in /run/containerd/s, a
// path built in (not under its configured state dir), and creates the
// directories. They are removed at the end if the test made them.
var shimSocketDirs = []string{"/run/containerd", "/run/containerd/s"}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	dir := t.TempDir()
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), done: make(chan error, 1)}
	// containerd-config.toml(5), version 2. The CRI plugin is for
	// Kubernetes' kubelet and would try to set up CNI: off. No metrics or
	// debug listener. The snapshotter is chosen per container (ctr run
	// --snapshotter).
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c.cmd = exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if exec.Command("ctr", "--address", c.sock, "version").Run() == nil {
			break
		}
		select {
		case err := <-c.done:
			t.Fatalf("containerd exited: %v\n%s", err, c.log())
		default:
		}
		if time.Now().After(deadline) {
			c.stop(t)
			t.Fatalf("containerd does not answer on %s after 20 s\n%s", c.sock, c.log())
		}
	}
	return c
}

func (c *containerd) log() string {
	data, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	return string(data)
}

func (c *containerd) stop(t *testing.T) {
	t.Helper()
	stopProcess(t, c.cmd, c.done, 10*time.Second)
}

// ctr runs ctr on this containerd, in the test's namespace.
func (c *containerd) ctr(t *testing.T, args ...string) result {
	t.Helper()
	return command(t, 60*time.Second, nil, append([]string{"ctr", "--address", c.sock, "--namespace", string(ctrNamespace)}, args...)...)
}

func TestContainerd(t *testing.T) {
	need(t, "containerd", "ctr", "containerd-shim-runc-v2")
	made := missing(shimSocketDirs...)
	hostcheck.StateDirs = append(hostcheck.StateDirs, "/run/containerd/s")
	defer hostcheck.Take(t, watched(ctrNamespace)...).Verify(t)
	begin := time.Now()

	dir := t.TempDir()
	runtime, showArgv := wrapRuntime(t, dir)
	defer showArgv()
	runtimeRoot := filepath.Join(dir, "runtime-root")
	c := startContainerd(t)
	defer func() {
		// Whatever a failed step left: tasks, containers, the image; then
		// containerd, and what it leaves: the shims' socket directory and
		// the namespace's cgroup parent. The last resorts (processes,
		// mounts left) make the test fail.
		for _, id := range []string{"mctest-rm", "mctest-rm-overlay", "mctest-tty", "mctest-d"} {
			if r := c.ctr(t, "task", "ls", "--quiet"); strings.Contains(r.stdout, id) {
				c.ctr(t, "task", "kill", "--signal", "SIGKILL", id)
				ctrNamespace.killLeft(t)
				c.ctr(t, "task", "delete", "--force", id)
			}
			if r := c.ctr(t, "container", "ls", "--quiet"); strings.Contains(r.stdout, id) {
				c.ctr(t, "container", "rm", id)
			}
		}
		c.ctr(t, "image", "rm", ctrImage)
		c.stop(t)
		reapZombies()
		unmountUnder(t, c.dir)
		// Sockets left there would be in hostcheck's report (a state dir):
		// the directories are removed only if empty.
		for _, d := range made {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				var left []string
				filepath.WalkDir(d, func(p string, _ os.DirEntry, _ error) error { left = append(left, p); return nil })
				t.Errorf("containerd left %v: %v", err, left)
			}
		}
		ctrNamespace.remove(t)
		t.Logf("TestContainerd: %v", time.Since(begin).Round(time.Millisecond))
	}()

	archive := filepath.Join(dir, "oci.tar")
	if err := writeOCIArchive(archive, rootfsDir, ctrImage); err != nil {
		t.Fatal(err)
	}
	if r := c.ctr(t, "image", "import", archive); r.code != 0 {
		t.Fatalf("ctr image import: %s", r)
	}
	// The runtime's state (--root) and ctr's stdio fifos in the test's
	// directory, not /run/containerd/runc and /run/containerd/fifo.
	fifos := filepath.Join(dir, "fifo")
	runFlags := []string{"run", "--runc-binary", runtime, "--runc-root", runtimeRoot, "--fifo-dir", fifos}

	// Both snapshotters: native (the rootfs a plain directory, a bind
	// mount) and overlayfs (an overlay mount the shim makes and the
	// runtime must pivot into).
	for _, s := range []struct{ snapshotter, id string }{{"native", "mctest-rm"}, {"overlayfs", "mctest-rm-overlay"}} {
		markArgv(t, dir, "ctr run --rm")
		t.Run("run --rm, "+s.snapshotter, func(t *testing.T) {
			run := func() result {
				return c.ctr(t, append(append([]string{}, runFlags...), "--rm", "--snapshotter", s.snapshotter,
					ctrImage, s.id, "sh", "-c", "echo hi; echo to-stderr >&2; exit 3")...)
			}
			r := run()
			if r.code == 3 && r.stdout == "hi\n" && r.stderr == "" {
				// Seen once in a full suite beside a qemu VM loading both
				// cores: exit code and stdout right, stderr empty, and
				// then 6 of 6 passing runs. The process's stderr is the
				// shim's pipe, copied by the shim to ctr's fifo; the copy
				// that lost it is containerd's, not the runtime's. One
				// retry, logged, so that a lost copy shows without
				// failing CI; twice in a row is a failure.
				t.Logf("stderr lost once (containerd's copy under load?); again: %s", r)
				if err := c.ctr(t, "container", "rm", s.id); err.code != 0 {
					t.Logf("container rm: %s", err)
				}
				r = run()
			}
			if r.code != 3 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "to-stderr") {
				t.Errorf("want exit 3, stdout \"hi\\n\", to-stderr on stderr; got %s", r)
			}
			if r := c.ctr(t, "container", "ls", "--quiet"); r.stdout != "" {
				t.Errorf("run --rm left a container: %s", r)
			}
		})
	}

	markArgv(t, dir, "ctr run -t --rm")
	t.Run("run -t on a terminal", func(t *testing.T) {
		shellOnTerminal(t, exec.Command("ctr", append([]string{"--address", c.sock, "--namespace", string(ctrNamespace)},
			append(append([]string{}, runFlags...), "-t", "--rm", "--snapshotter", "native", ctrImage, "mctest-tty", "sh")...)...))
	})

	markArgv(t, dir, "ctr run -d; ctr task exec; ctr task kill; ctr task delete")
	t.Run("run -d, task exec, kill, ls, delete", func(t *testing.T) {
		// As in TestPodman: PID 1 traps SIGTERM and exits 7.
		r := c.ctr(t, append(append([]string{}, runFlags...), "-d", "--snapshotter", "native",
			ctrImage, "mctest-d", "sh", "-c", `trap 'exit 7' TERM; while :; do sleep 0.1; done`)...)
		if r.code != 0 {
			t.Fatalf("ctr run -d: %s", r)
		}
		r = c.ctr(t, "task", "ls")
		if r.code != 0 || !taskLine(r.stdout, "mctest-d", "RUNNING") {
			t.Errorf("ctr task ls: want mctest-d RUNNING; got %s", r)
		}
		// The runtime put the container in the cgroup containerd named
		// (linux.cgroupsPath /NAMESPACE/ID) with its cpu shares.
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "mctest-d" {
				checkCgroup(t, f[1], "cpu", "/"+string(ctrNamespace)+"/mctest-d", "cpu.shares", "1024")
			}
		}
		t.Run("task exec", func(t *testing.T) {
			if r := c.ctr(t, "task", "exec", "--fifo-dir", fifos, "--exec-id", "mctest-exec", "mctest-d", "sh", "-c", "echo in exec; exit 4"); r.code != 4 || r.stdout != "in exec\n" {
				t.Errorf("ctr task exec: want exit 4, stdout \"in exec\\n\"; got %s", r)
			}
		})
		if r := c.ctr(t, "task", "kill", "mctest-d"); r.code != 0 {
			t.Errorf("ctr task kill: %s", r)
		}
		var ls result
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if ls = c.ctr(t, "task", "ls"); taskLine(ls.stdout, "mctest-d", "STOPPED") {
				break
			}
		}
		if !taskLine(ls.stdout, "mctest-d", "STOPPED") {
			t.Errorf("ctr task ls after kill: want mctest-d STOPPED; got %s", ls)
		}
		// ctr task delete reports the exit status it collected.
		if r := c.ctr(t, "task", "delete", "mctest-d"); r.code != 0 || !strings.Contains(r.stderr, "exit code 7") {
			t.Errorf("ctr task delete: want exit 0 and \"exit code 7\"; got %s", r)
		}
		if r := c.ctr(t, "container", "rm", "mctest-d"); r.code != 0 {
			t.Errorf("ctr container rm: %s", r)
		}
	})
	checkLesson(t, dir, "containerd")
}

// taskLine reports whether a line of out names task id with status
// (ctr task ls: TASK PID STATUS).
func taskLine(out, id, status string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id && f[2] == status {
			return true
		}
	}
	return false
}
