package engines

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// podman is podman with its storage, run state and configuration in a
// temporary directory, and the runtime under test.
type podman struct {
	args []string // podman and its global flags
	env  []string
	dir  string
}

// The image podman runs: the busybox rootfs, imported.
const podmanImage = "localhost/mctest-busybox:latest"

// The cgroup podman puts its containers (ID under it, libpod-ID) and
// conmon ("conmon" under it) in: cgroupfs makes both and leaves the
// parent and conmon's directory behind, so the test removes them.
const podmanCgroup cgroupParent = "mctest-podman"

func newPodman(t *testing.T, runtime string) *podman {
	dir := t.TempDir()
	// containers.conf(5), alone (CONTAINERS_CONF replaces the system's):
	//   - cgroupfs: no systemd here, and a parent named for hostcheck;
	//   - k8s-file logs (conmon writes them; journald needs systemd);
	//   - no events log (journald, or a file under /run/libpod);
	//   - rlimits: podman's default nofile and nproc (1048576) are above
	//     what root may set where CAP_SYS_RESOURCE is not held (a container
	//     sandbox, setrlimit(2) EPERM, runc fails "error setting rlimits");
	//     1024 is below any hard limit, so any process may set it.
	conf := `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
`
	if err := os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &podman{
		args: []string{"podman",
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			// vfs: plain copies, no mounts; works on any filesystem
			// (overlay needs a backing filesystem overlay accepts).
			"--storage-driver", "vfs",
			"--runtime", runtime,
		},
		env: []string{"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf")},
		dir: dir,
	}
}

// run runs podman with args.
func (p *podman) run(t *testing.T, args ...string) result {
	t.Helper()
	return command(t, 60*time.Second, p.env, append(append([]string{}, p.args...), args...)...)
}

// cmd is podman with args as an exec.Cmd (for a terminal).
func (p *podman) cmd(args ...string) *exec.Cmd {
	c := exec.Command(p.args[0], append(append([]string{}, p.args[1:]...), args...)...)
	c.Env = append(os.Environ(), p.env...)
	return c
}

// podmanRunFlags run every container without a network (no traffic, no
// link on the host), in the test's cgroup parent.
var podmanRunFlags = []string{"--network", "none", "--cgroup-parent", "/" + string(podmanCgroup)}

func TestPodman(t *testing.T) {
	need(t, "podman", "conmon")
	// podman import writes a cache of the blobs it has seen in
	// /var/lib/containers/cache whatever --root says (containers/image's
	// blob info cache): removed at the end if the test made it.
	made := missing("/var/lib/containers", "/var/lib/containers/cache")
	hostcheck.StateDirs = append(hostcheck.StateDirs, "/run/runc")
	defer hostcheck.Take(t, watched(podmanCgroup)...).Verify(t)
	begin := time.Now()

	dir := t.TempDir()
	runtime, showArgv := wrapRuntime(t, dir)
	defer showArgv()
	p := newPodman(t, runtime)
	defer func() {
		// Whatever a failed step left: containers (stopped at once), then
		// the image; then what cgroupfs leaves behind. The last resorts
		// (processes, mounts left) make the test fail.
		p.run(t, "rm", "--all", "--force", "--time", "0")
		podmanCgroup.killLeft(t, "conmon")
		p.run(t, "rm", "--all", "--force", "--time", "0")
		p.run(t, "rmi", "--all", "--force")
		reapZombies()
		unmountUnder(t, p.dir)
		podmanCgroup.remove(t, "conmon")
		removeMissing(t, made)
		t.Logf("TestPodman: %v", time.Since(begin).Round(time.Millisecond))
	}()

	tarball := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayer(f, rootfsDir); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if r := p.run(t, "import", tarball, podmanImage); r.code != 0 {
		t.Fatalf("podman import: %s", r)
	}

	// podman asks for its default seccomp filter unless told otherwise. A
	// runtime whose features(7)-style JSON (runtime-spec features.md)
	// says seccomp is not enabled refuses that config.json, so podman is
	// run as its user would run it there: seccomp=unconfined. A runtime
	// that says nothing (no features verb) gets podman's defaults.
	containerFlags := slices.Clone(podmanRunFlags)
	if seccompDisabled(t) {
		t.Logf("%s features: linux.seccomp.enabled is false: podman runs with --security-opt seccomp=unconfined", runtimePath)
		containerFlags = append(containerFlags, "--security-opt", "seccomp=unconfined")
	}

	markArgv(t, dir, "podman run --rm")
	t.Run("run --rm: output and exit code", func(t *testing.T) {
		r := p.run(t, append(append([]string{"run", "--rm"}, containerFlags...),
			podmanImage, "sh", "-c", "echo hi; echo to-stderr >&2; ulimit -n; exit 3")...)
		if r.code != 3 || r.stdout != "hi\n1024\n" || !strings.Contains(r.stderr, "to-stderr") {
			t.Errorf("want exit 3, stdout \"hi\\n1024\\n\", to-stderr on stderr; got %s", r)
		}
		if r := p.run(t, "ps", "--all", "--quiet"); r.stdout != "" {
			t.Errorf("run --rm left a container: %s", r)
		}
	})

	markArgv(t, dir, "podman run -d; podman exec; podman stop; podman rm")
	t.Run("run -d, exec, logs, stop", func(t *testing.T) {
		// The shell, PID 1, has no default action for SIGTERM (the kernel
		// ignores it for a namespace's init, pid_namespaces(7)): it traps it
		// and exits 7, so stop must deliver it.
		r := p.run(t, append(append([]string{"run", "-d", "--name", "mctest-d"}, containerFlags...),
			podmanImage, "sh", "-c", `trap 'echo got TERM; exit 7' TERM; echo started; while :; do sleep 0.1; done`)...)
		if r.code != 0 {
			t.Fatalf("podman run -d: %s", r)
		}
		id := strings.TrimSpace(r.stdout)
		waitLogs(t, p, "mctest-d", "started\n")
		// The runtime put the container in the cgroup podman named
		// (linux.cgroupsPath) with podman's default pids limit
		// (linux.resources.pids.limit).
		pid := strings.TrimSpace(p.run(t, "inspect", "--format", "{{.State.Pid}}", "mctest-d").stdout)
		checkCgroup(t, pid, "pids", "/"+string(podmanCgroup)+"/libpod-"+id, "pids.max", "2048")
		t.Run("exec", func(t *testing.T) {
			if r := p.run(t, "exec", "mctest-d", "sh", "-c", "echo in $(hostname); exit 4"); r.code != 4 || r.stdout != "in "+id[:12]+"\n" {
				t.Errorf("podman exec: want exit 4, stdout \"in %s\\n\"; got %s", id[:12], r)
			}
		})
		if r := p.run(t, "stop", "--time", "10", "mctest-d"); r.code != 0 {
			t.Errorf("podman stop: %s", r)
		}
		if r := p.run(t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "mctest-d"); r.stdout != "exited 7\n" {
			t.Errorf("after stop: want \"exited 7\"; got %s", r)
		}
		if r := p.run(t, "logs", "mctest-d"); r.stdout != "started\ngot TERM\n" {
			t.Errorf("podman logs: want \"started\\ngot TERM\\n\"; got %s", r)
		}
		if r := p.run(t, "rm", "mctest-d"); r.code != 0 {
			t.Errorf("podman rm: %s", r)
		}
	})

	markArgv(t, dir, "podman run -it --rm")
	t.Run("run -it on a terminal", func(t *testing.T) {
		shellOnTerminal(t, p.cmd(append(append([]string{"run", "-it", "--rm"}, containerFlags...), podmanImage, "sh")...))
	})
	checkLesson(t, dir, "podman")
}

// waitLogs waits until podman logs NAME prints want.
func waitLogs(t *testing.T, p *podman, name, want string) {
	t.Helper()
	var r result
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = p.run(t, "logs", name); r.stdout == want {
			return
		}
	}
	t.Fatalf("podman logs %s: want %q; got %s", name, want, fmt.Sprint(r))
}

// seccompDisabled reports whether the runtime's features JSON says it has
// no seccomp support; false when it does, or says nothing.
func seccompDisabled(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command(runtimePath, "features").Output()
	if err != nil {
		t.Logf("%s features: %v: podman's defaults", runtimePath, err)
		return false
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Errorf("%s features: %v", runtimePath, err)
		return false
	}
	return f.Linux != nil && f.Linux.Seccomp != nil && f.Linux.Seccomp.Enabled != nil && !*f.Linux.Seccomp.Enabled
}
