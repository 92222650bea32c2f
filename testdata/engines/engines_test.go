// Package engines is the judge of issue 9's runc command line: real
// container engines, written by others, drive an OCI runtime.
//
//	make test-engines                                  # RUNTIME=bin/minicontainer
//	make test-engines RUNTIME=/usr/sbin/runc           # the harness proven with runc
//
// TestPodman runs Debian's podman 4.3.1 (with conmon) and TestContainerd
// Debian's containerd 1.6.20 (with ctr and containerd-shim-runc-v2), both
// with the runtime named by $RUNTIME (default: this repository's
// bin/minicontainer), on images made here from the project's busybox rootfs,
// so no registry and no network are needed. make engine-deps installs them.
//
// The package lives under testdata/ so that `go test ./...` (make test, CI)
// does not run it: it needs two engines that make test-deps does not
// install, a containerd daemon of its own, and tens of seconds; and its
// purpose is to judge any runtime, runc included, not to unit-test ours.
//
// Every test leaves the host as it found it (pkg/hostcheck): the engines
// make their own mounts, cgroups and namespaces, and their own clean-up
// must be complete; the test stops its containerd and removes the cgroup
// parents it named and the temporary directories.
//
// The runtime is called through a wrapper script that logs each command
// line (with the caller's name: podman, conmon or containerd-shim) and
// execs the real one; the log is printed with -v or on failure. What the
// engines asked of runc 1.1.5 here (IDs and paths shortened; U is
// ROOT/vfs-containers/ID/userdata, R the same under RUNROOT):
//
// podman 4.3.1 (cgroupfs, --network none), for runtime "runc":
//
//	conmon: --log-format=json --log R/oci-log create --bundle U --pid-file R/pidfile ID
//	conmon: ... create --bundle U --pid-file R/pidfile --console-socket /tmp/conmon-term.XXXXXX ID   (run -it)
//	podman: start ID
//	conmon: --log-format=json --log U/EXEC/oci-log exec --pid-file U/EXEC/exec_pid --process U/EXEC/exec-process-N --detach ID
//	podman: kill ID 15             (stop; then kill ID 9 after --time)
//	podman: delete --force ID      (after the exit, and by rm --force)
//
// No --root: podman uses the runtime's default state dir (/run/runc,
// /run/minicontainer), and learns of the exit from conmon, never by
// `state`. The runtime's name matters: for a runtime named minicontainer,
// conmon passes no --log-format=json --log (the rest is the same).
//
// containerd 1.6.20 (ctr run, io.containerd.runc.v2 shim), G being
// --root RUNC_ROOT/NAMESPACE --log STATE/io.containerd.runtime.v2.task/NAMESPACE/ID/log.json --log-format json:
//
//	containerd-shim: G create --bundle STATE/.../NAMESPACE/ID --pid-file STATE/.../ID/init.pid ID
//	containerd-shim: G create ... --pid-file STATE/.../ID/init.pid --console-socket /tmp/ptyN/pty.sock ID   (run -t)
//	containerd-shim: G start ID
//	containerd-shim: G exec --process /tmp/runc-processN --detach --pid-file STATE/.../ID/EXEC_ID.pid ID
//	containerd-shim: G kill ID 15
//	containerd-shim: G delete ID, then G delete --force ID
//
// What their config.json holds besides namespaces and the usual mounts (runc
// 1.1.5 honours all of it): podman: process.capabilities, linux.seccomp (errno 38
// default), linux.maskedPaths and readonlyPaths, process.user.umask,
// rlimits, linux.resources.pids.limit 2048, a mount of type "cgroup" at
// /sys/fs/cgroup (ro), bind mounts with "rprivate" (/etc/hosts,
// /etc/hostname, /run/.containerenv, /dev/shm from a tmpfs podman mounts),
// annotations; containerd: process.capabilities, noNewPrivileges,
// additionalGids [0], maskedPaths and readonlyPaths, linux.resources.cpu.shares
// 1024, rootfs "rootfs" relative to the bundle, a tmpfs on /run.
package engines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

var (
	// runtimePath is the OCI runtime under test, absolute.
	runtimePath string
	// rootfsDir is the busybox rootfs the images are made of, built once.
	rootfsDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	runtimePath = os.Getenv("RUNTIME")
	if runtimePath == "" {
		runtimePath = "../../bin/minicontainer"
	}
	var err error
	if runtimePath, err = filepath.Abs(runtimePath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat(runtimePath); err != nil {
			fmt.Fprintf(os.Stderr, "RUNTIME: %v (make build, or RUNTIME=/usr/sbin/runc)\n", err)
			return 1
		}
		dir, err := os.MkdirTemp("", "mctest-engines-rootfs-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		rootfsDir = filepath.Join(dir, "busybox")
		if err := rootfs.BuildBusybox(rootfsDir, nil); err != nil {
			fmt.Fprintf(os.Stderr, "building the busybox rootfs: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// need skips the test unless it runs as root and the programs are installed.
func need(t *testing.T, programs ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the engines need root: sudo make test-engines")
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed: make engine-deps", p)
		}
	}
	t.Logf("RUNTIME=%s", runtimePath)
}

// wrapRuntime writes, in dir, a script with the runtime's own base name
// (engines may adapt to the name: podman knows runc and crun by name) that
// appends its command line, after the name of its caller, to dir/argv.log
// and then execs the runtime. It returns the script's path and a function
// that logs what was recorded.
func wrapRuntime(t *testing.T, dir string) (string, func()) {
	t.Helper()
	log := filepath.Join(dir, "argv.log")
	path := filepath.Join(dir, filepath.Base(runtimePath))
	script := fmt.Sprintf("#!/bin/sh\n"+
		"# Logs how the engine calls the OCI runtime, then runs it.\n"+
		"echo \"$(cat /proc/$PPID/comm): $*\" >> %s\n"+
		"exec %s \"$@\"\n", shellQuote(log), shellQuote(runtimePath))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		data, _ := os.ReadFile(log)
		t.Logf("the runtime's command lines:\n%s", data)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// result is what one command gave.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// command runs argv with env added. It fails the test (without stopping
// it: the clean-up must go on) if the command cannot start or outlives
// timeout; it is killed then, so that a hung engine fails the test instead
// of blocking the suite, and the result's code is -1.
func command(t *testing.T, timeout time.Duration, env []string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// conmon and the shim daemonize and may keep our pipes open; do not
	// wait for them after the command itself has exited.
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	t.Logf("%s: %s (%v)", strings.Join(argv, " "), r, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Errorf("%s: still running after %v: killed", strings.Join(argv, " "), timeout)
		r.code = -1
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Errorf("%s: %v", strings.Join(argv, " "), err)
		r.code = -1
	}
	return r
}

// watched narrows hostcheck to what this test could have made: all it
// records but the cgroups of other tests running on the machine at the same
// time (hostcheck sees every cgroup named mctest*), except the engine's
// cgroup parent.
func watched(c cgroupParent) []string {
	return []string{"mount ", "link ", "nft table ", "sysctl ", "state ", "process ", "/" + string(c)}
}

// missing returns those of paths that do not exist, deepest first: what an
// engine will create outside the test's directories, for removeMissing.
func missing(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			out = append([]string{p}, out...)
		}
	}
	return out
}

// removeMissing removes the paths missing returned, with all the engine put
// in them, and fails the test if one cannot be removed.
func removeMissing(t *testing.T, paths []string) {
	t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("removing %s: %v", p, err)
		}
	}
}

// cgroupParent is a cgroup the engine is told to put its containers in,
// named so that hostcheck watches it ("mctest"): one directory of that
// name in every mounted hierarchy.
type cgroupParent string

// dirs is the parent's directory in every mounted hierarchy.
func (c cgroupParent) dirs() []string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", string(c)))
	if d := filepath.Join("/sys/fs/cgroup", string(c)); isDir(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

// killLeft is the last resort when the engine's clean-up has run and
// processes remain in a container's cgroup under the parent (a runtime
// under test may ignore kill or fail delete): it fails the test and
// SIGKILLs them, so that the engine can then unmount and delete, and the
// next run starts clean. except names sub-cgroups left alone (conmon's).
func (c cgroupParent) killLeft(t *testing.T, except ...string) {
	t.Helper()
	for _, d := range c.dirs() {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			sub := filepath.Join(d, e.Name())
			if !e.IsDir() || slices.Contains(except, e.Name()) || !hasProcs(sub) {
				continue
			}
			t.Errorf("processes left in %s: killing them", sub)
			killCgroup(sub)
		}
	}
}

// remove removes the parent from every hierarchy, and with it the
// sub-directories the engine makes and never removes (conmon's "conmon",
// whose processes have exited by then). rmdir(2) only: another cgroup left
// inside (a container's) fails the test.
func (c cgroupParent) remove(t *testing.T, leftByEngine ...string) {
	t.Helper()
	for _, d := range c.dirs() {
		for _, sub := range leftByEngine {
			if s := filepath.Join(d, sub); isDir(s) {
				rmdirRetry(t, s)
			}
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("the engine left cgroup %s", filepath.Join(d, e.Name()))
				killCgroup(filepath.Join(d, e.Name()))
				rmdirRetry(t, filepath.Join(d, e.Name()))
			}
		}
		rmdirRetry(t, d)
	}
}

func hasProcs(cgroup string) bool {
	data, _ := os.ReadFile(filepath.Join(cgroup, "cgroup.procs"))
	return len(strings.Fields(string(data))) > 0
}

// unmountUnder is the last resort for mounts an engine left under dir (a
// container's rootfs, a shm): it fails the test and detaches them, deepest
// first (umount2(2), MNT_DETACH), so the temporary directory can go.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	var under []string
	for _, m := range hostcheck.Mounts(t) {
		if p := strings.Fields(m)[0]; strings.HasPrefix(p, dir+"/") {
			under = append(under, p)
		}
	}
	for i := len(under) - 1; i >= 0; i-- {
		t.Errorf("mount left: %s", under[i])
		if err := unix.Unmount(under[i], unix.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", under[i], err)
		}
	}
}

// killCgroup SIGKILLs the processes of a cgroup (cgroup.procs, one PID a
// line; cgroups(7)) until there are none, for up to 5 s.
func killCgroup(dir string) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		pids := strings.Fields(string(data))
		if err != nil || len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		reapZombies()
	}
}

// rmdirRetry removes a cgroup directory, waiting a little while its last
// processes are reaped (rmdir says EBUSY until then).
func rmdirRetry(t *testing.T, dir string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	t.Errorf("rmdir %s: %v (cgroups inside: %v)", dir, err, names)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// reapZombies collects the exit status of children that were re-parented
// to this test (hostcheck makes it a subreaper) and have exited: conmon and
// containerd-shim daemonize, and once their engine is done they are ours.
// Called when no command of ours is running, so it takes no one's status.
func reapZombies() {
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// stopProcess sends SIGTERM and waits up to timeout, then SIGKILL.
func stopProcess(t *testing.T, cmd *exec.Cmd, done <-chan error, timeout time.Duration) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		t.Errorf("%s did not exit %v after SIGTERM: killed", cmd.Path, timeout)
		cmd.Process.Kill()
		<-done
	}
}

// checkCgroup checks that process pid is in cgroup path of the v1
// controller's hierarchy (cgroups(7): /proc/PID/cgroup) and that the
// cgroup's file holds want. On a host with the controller in cgroup v2
// only, it checks membership in the unified hierarchy and skips the
// v1 file.
func checkCgroup(t *testing.T, pid, controller, path, file, want string) {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Errorf("the container's init (PID %q): %v", pid, err)
		return
	}
	// hierarchy-ID:controller-list:path, one line per hierarchy.
	v1, v2 := "", ""
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			v2 = f[2]
		}
		if slices.Contains(strings.Split(f[1], ","), controller) {
			v1 = f[2]
		}
	}
	if v1 == "" {
		if v2 != path {
			t.Errorf("the container's init is in cgroup %q, want %q", v2, path)
		}
		return
	}
	if v1 != path {
		t.Errorf("the container's init is in %s cgroup %q, want %q", controller, v1, path)
		return
	}
	got, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, path, file))
	if err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("%s of the container's cgroup: want %s, got %q (%v)", file, want, got, err)
	}
}
