package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/testuser"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// sameNS is a script that prints "same KIND" for each namespace the
// process shares with the container's PID 1, whether a seccomp filter
// binds it and its cgroups are PID 1's, its user namespace, PID and uid.
const sameNS = `for n in user mnt pid net uts ipc cgroup; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo same $n; done
grep -q '^Seccomp:.2$' /proc/self/status && echo seccomp filter
[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo same cgroups
echo user $(readlink /proc/self/ns/user); echo pid=$$; id -u`

// checkSameNS checks sameNS's output: every namespace the init's, a
// seccomp filter, a user namespace other than the host's, uid 0, a PID
// other than 1. (A rootless container may have no cgroup of its own:
// the caller checks the cgroups.)
func checkSameNS(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "seccomp filter\n") {
		t.Errorf("the exec'd process runs without the container's seccomp filter:\n%s", out)
	}
	for _, n := range []string{"user", "mnt", "pid", "net", "uts", "ipc", "cgroup"} {
		if !strings.Contains(out, "same "+n+"\n") {
			t.Errorf("the exec'd process is not in the init's %s namespace:\n%s", n, out)
		}
	}
	host, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "user user:[") || strings.Contains(out, "user "+host+"\n") {
		t.Errorf("the exec'd process is in the host's user namespace (%s):\n%s", host, out)
	}
	if strings.Contains(out, "pid=1\n") || !strings.HasSuffix(out, "\n0\n") {
		t.Errorf("want a PID other than 1 and id -u 0 last:\n%s", out)
	}
}

// rootlessCLI makes a test user with a range (testuser) and returns
// minicontainer as that user: command to start, as to run and collect.
func rootlessCLI(t *testing.T) (command func(args ...string) *exec.Cmd, as func(args ...string) result) {
	t.Helper()
	needRoot(t)
	if _, err := userns.Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	snap := hostcheck.Take(t, "mctest", "minicontainer", "process ", "account ")
	t.Cleanup(func() { snap.Verify(t) })
	u := testuser.Make(t, 65536)
	bin := testuser.Executable(t, "minicontainer")
	stateRoot := fmt.Sprintf("/tmp/minicontainer-%d", u.UID)
	t.Cleanup(func() { os.RemoveAll(stateRoot) })
	data, err := os.MkdirTemp("", "mctest-rootless-exec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := os.Chown(data, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	command = func(args ...string) *exec.Cmd {
		cmd := u.Command(bin, args...)
		cmd.Env = append(cmd.Env, "XDG_DATA_HOME="+data)
		return cmd
	}
	as = func(args ...string) result {
		t.Helper()
		cmd := command(args...)
		return outcome(t, cmd)
	}
	return command, as
}

// TestRootlessExec: a test user (testuser) runs a rootless container
// detached, and execs into it as the same user: the exec'd process is in
// the init's user namespace and every other one, uid 0 there, sees the
// file the init wrote, its exit status comes back (7, 127 for a missing
// command, 128+9 when killed), and -it gives a shell on a pty.
func TestRootlessExec(t *testing.T) {
	command, as := rootlessCLI(t)
	d := as("run", "-d", "--", "sh", "-c", "echo from-init > /tmp/f; exec sleep 1000")
	id := strings.TrimSpace(d.stdout)
	if d.code != 0 || id == "" {
		t.Fatalf("run -d: exit %d, %q, %q", d.code, d.stdout, d.stderr)
	}
	defer as("rm", "-f", id)

	r := as("exec", id, "sh", "-c", "cat /tmp/f; "+sameNS)
	if r.code != 0 {
		t.Fatalf("exec: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "from-init\n") {
		t.Errorf("exec does not see the file the init wrote:\n%s", r.stdout)
	}
	checkSameNS(t, r.stdout)
	for cmd, code := range map[string]int{"exit 7": 7, "kill -9 $$": 128 + 9, "true": 0} {
		if r := as("exec", id, "sh", "-c", cmd); r.code != code {
			t.Errorf("exec sh -c %q: exit %d, want %d (%s)", cmd, r.code, code, r.stderr)
		}
	}
	if r := as("exec", id, "no-such-command"); r.code != 127 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exec of a missing command: exit %d, stderr %q; want 127 and one line", r.code, r.stderr)
	}

	cmd := command("exec", "-it", id, "/bin/sh")
	master, out, copied := startOnTerminal(t, cmd)
	defer master.Close()
	fmt.Fprint(master, "tty; echo uid''$(id -u); exit 3\n")
	finishOnTerminal(t, cmd, master, out, 3, "rootless exec -it shell")
	master.Close()
	<-copied
	for _, w := range []string{"/dev/pts/", "uid0"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("exec -it output lacks %q:\n%s", w, out.String())
		}
	}
	if r := as("rm", "-f", id); r.code != 0 {
		t.Errorf("rm -f: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIExecUserNamespace: root execs into a bundle whose Spec has a
// user namespace (0-65535 inside are 100000- outside, host root
// unmapped): the process is in every namespace and the cgroups of the
// init, under its seccomp filter, uid 0 inside, which is 100000 on the
// host.
func TestOCIExecUserNamespace(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-userns"
	_, _, remove := runningBundle(t, id, func(s *specs.Spec) {
		withUserNS(s)
		// t.TempDir's dirs are root's, 0700: 100000 must reach the
		// rootfs (see TestOCIUserNamespace). The bundle's dir is made by
		// now, beside this one.
		parent := filepath.Dir(t.TempDir())
		dirs, _ := filepath.Glob(filepath.Join(parent, "*"))
		for _, d := range append(dirs, parent) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	})
	defer remove()
	r := oci(t, "exec", id, "sh", "-c", "cat /marker; "+sameNS)
	if r.code != 0 {
		t.Fatalf("exec: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "the container's root\n") {
		t.Errorf("exec does not see the container's root:\n%s", r.stdout)
	}
	checkSameNS(t, r.stdout)
	if !strings.Contains(r.stdout, "same cgroups\n") {
		t.Errorf("the exec'd process is not in the init's cgroups:\n%s", r.stdout)
	}
	pidFile := t.TempDir() + "/pid"
	r = oci(t, "exec", "--detach", "--pid-file", pidFile, id, "sleep", "30")
	if r.code != 0 {
		t.Fatalf("exec --detach: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil || !strings.Contains(string(status), "\nUid:\t100000\t100000\t100000\t100000\n") {
		t.Errorf("the exec'd process %d on the host: %v\n%s; want uid 100000", pid, err, status)
	}
	unix.Kill(pid, unix.SIGKILL)
	for cmd, code := range map[string]int{"exit 7": 7, "true": 0} {
		if r := oci(t, "exec", id, "sh", "-c", cmd); r.code != code {
			t.Errorf("exec sh -c %q: exit %d, want %d (%s)", cmd, r.code, code, r.stderr)
		}
	}
}

// TestRootlessExecCannotReachTheHostBinary: CVE-2019-5736's shape
// (TestExecCannotReachTheHostBinary) in a rootless container whose
// processes hold CAP_SYS_PTRACE in its user namespace, which passes over
// the exec init's non-dumpable flag: the probe sees the exec inits and
// holds their exe, which must be on a read-only mount (made by child 1,
// execuserns.go: a user has no mount namespace of its own outside).
func TestRootlessExecCannotReachTheHostBinary(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/exeprobe", "./testdata/exeprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the probe: %v\n%s", err, out)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, as := rootlessCLI(t)
	d := as("run", "-d", "--cap-add", "SYS_PTRACE", "-v", dir+":/probe:ro", "--", "/probe/exeprobe", "60")
	id := strings.TrimSpace(d.stdout)
	if d.code != 0 || id == "" {
		t.Fatalf("run -d: exit %d, %q, %q", d.code, d.stdout, d.stderr)
	}
	defer as("rm", "-f", id)
	waitUntil(startTimeout, func() bool { return strings.Contains(as("logs", id).stdout, "ready") })
	for i := 0; i < 30; i++ {
		if r := as("exec", id, "true"); r.code != 0 {
			t.Fatalf("exec %d: %d %q", i, r.code, r.stderr)
		}
	}
	as("exec", id, "touch", "/tmp/probe-stop")
	as("wait", id)
	out := as("logs", id).stdout
	seen, held := strings.Count(out, "seen "), strings.Count(out, "held: ")
	if strings.Contains(out, "reopen for writing: opened") || strings.Contains(out, "held: on a writable mount") ||
		strings.Contains(out, "O_WRONLY:opened") || !strings.Contains(out, "done") {
		t.Errorf("a process in the rootless container could write the exec init's binary:\n%s", out)
	}
	if seen == 0 || held == 0 {
		t.Errorf("the probe saw %d exec children and held %d exes: the test proves nothing\n%s", seen, held, out)
	}
	t.Logf("the probe saw %d exec children and held %d exes, all on a read-only mount", seen, held)
}
