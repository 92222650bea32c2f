package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// runningBundle creates and starts a busybox bundle whose init sleeps,
// with a marker file in its root; it returns the init's host PID and
// remove, which deletes the container and reaps its init: defer it after
// hostcheck's Verify, so that it runs first.
func runningBundle(t *testing.T, id string, edit func(*specs.Spec)) (bundleDir string, pid int, remove func()) {
	t.Helper()
	b := bundle(t, id, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Hostname = "mctest-exec-host"
		if edit != nil {
			edit(s)
		}
	})
	if err := os.WriteFile(filepath.Join(b, "rootfs", "marker"), []byte("the container's root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustOCI(t, "create", "--bundle", b, id)
	st := ociState(t, id)
	remove = func() {
		oci(t, "delete", "--force", id)
		// Reap the init, and any exec'd process left to this test (made
		// subreaper by hostcheck.Take) that a failed test did not reap:
		// PID 1 of a pid namespace finishes its exit only once all the
		// others are reaped (pid_namespaces(7)).
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if p == st.Pid || err == unix.ECHILD {
				return
			}
			if p == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		reap(st.Pid)
	}
	if r := oci(t, "start", id); r.code != 0 {
		remove()
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	return b, st.Pid, remove
}

// TestOCIExecJoins: an exec'd process is in every namespace of the init
// (compared by /proc/PID/ns/* inside, where PID 1 is the init), sees the
// container's hostname, root and processes, has a PID other than 1, and
// its cgroup is the init's; its exit status comes back.
func TestOCIExecJoins(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-joins"
	_, _, remove := runningBundle(t, id, nil)
	defer remove()
	script := `echo pid=$$; hostname; cat /marker; ps -o pid,args | sed -n 2p
for n in cgroup ipc uts net pid mnt; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo same $n; done
[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo same cgroups`
	r := oci(t, "exec", id, "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exec: exit %d: %s", r.code, r.stderr)
	}
	want := []string{"mctest-exec-host", "the container's root", "1 sleep 1000",
		"same cgroup", "same ipc", "same uts", "same net", "same pid", "same mnt", "same cgroups"}
	for _, w := range want {
		if !strings.Contains(r.stdout, w+"\n") {
			t.Errorf("exec's output lacks %q:\n%s", w, r.stdout)
		}
	}
	if !strings.HasPrefix(r.stdout, "pid=") || strings.HasPrefix(r.stdout, "pid=1\n") {
		t.Errorf("exec's $$ is not a PID other than 1 of the container: %q", r.stdout)
	}
	for cmd, code := range map[string]int{"exit 7": 7, "kill -9 $$": 128 + 9, "true": 0} {
		if r := oci(t, "exec", id, "sh", "-c", cmd); r.code != code {
			t.Errorf("exec sh -c %q: exit %d, want %d (%s)", cmd, r.code, code, r.stderr)
		}
	}
	if r := oci(t, "exec", id, "no-such-command"); r.code != 127 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exec of a missing command: exit %d, stderr %q; want 127 and one line", r.code, r.stderr)
	}
}

// TestOCIExecStopped: exec into a stopped container or an unknown ID
// fails with one line: exit 1 and runc's words for runc's exec.
func TestOCIExecStopped(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-stopped"
	_, _, remove := runningBundle(t, id, nil)
	defer remove()
	mustOCI(t, "kill", id, "KILL")
	waitStatus(t, id, specs.StateStopped)
	r := oci(t, "exec", id, "true")
	if r.code != 1 || r.stderr != "minicontainer: cannot exec in a stopped container\n" {
		t.Errorf("exec in a stopped container: exit %d, stderr %q", r.code, r.stderr)
	}
	// An unknown container with no flag of runc's own is docker's exec
	// (engines always pass --process): 125. With one, runc's words and 1.
	r = oci(t, "exec", "mctest-exec-nosuch", "true")
	if r.code != 125 || r.stderr != "minicontainer: no such container: mctest-exec-nosuch\n" {
		t.Errorf("exec in an unknown container: exit %d, stderr %q", r.code, r.stderr)
	}
	r = oci(t, "exec", "--cwd", "/", "mctest-exec-nosuch", "true")
	if r.code != 1 || r.stderr != "minicontainer: container mctest-exec-nosuch does not exist\n" {
		t.Errorf("runc's exec in an unknown container: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestOCIExecProcessJSON: --process gives args, env, cwd, user and
// no_new_privs; a bad document is one line naming the field by its JSON
// path, exit 1, and nothing is started in the container.
func TestOCIExecProcessJSON(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-process"
	b, _, remove := runningBundle(t, id, nil)
	defer remove()
	if err := os.MkdirAll(filepath.Join(b, "rootfs", "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args": ["sh", "-c", "id -u; id -g; id -G; pwd; echo $GREETING; grep NoNewPrivs /proc/self/status"],
		"env": ["PATH=/bin:/sbin", "GREETING=hello"], "cwd": "/work", "noNewPrivileges": true,
		"user": {"uid": 1000, "gid": 100, "additionalGids": [10]}}`), 0o644)
	r := oci(t, "exec", "--process", proc, id)
	if want := "1000\n100\n100 10\n/work\nhello\nNoNewPrivs:\t1\n"; r.code != 0 || r.stdout != want {
		t.Errorf("exec --process: exit %d, stdout %q, want %q (stderr %s)", r.code, r.stdout, want, r.stderr)
	}
	os.WriteFile(proc, []byte(`{"args": ["sh", "-c", "touch /started"], "cwd": "/", "user": {"uid": "root"}}`), 0o644)
	r = oci(t, "exec", "--process", proc, id)
	if r.code != 1 || !strings.Contains(r.stderr, "user.uid: cannot be a string") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("bad --process: exit %d, stderr %q; want 1 and one line naming user.uid", r.code, r.stderr)
	}
	os.WriteFile(proc, []byte(`{"args": [], "cwd": "/"}`), 0o644)
	r = oci(t, "exec", "--process", proc, id)
	if r.code != 1 || !strings.Contains(r.stderr, ": args: must not be empty") {
		t.Errorf("--process without args: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs", "started")); err == nil {
		t.Error("a bad --process started something")
	}
}

// TestOCIExecDetach: --detach returns at once and --pid-file names the
// process's host PID, alive, in the init's pid namespace and cgroups.
func TestOCIExecDetach(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-detach"
	_, initPid, remove := runningBundle(t, id, nil)
	defer remove()
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	start := time.Now()
	mustOCI(t, "exec", "--detach", "--pid-file", pidFile, id, "sleep", "1000")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("exec --detach took %v", d)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil || pid <= 0 {
		t.Fatalf("--pid-file holds %q", data)
	}
	defer reap(pid)
	if cmdline, _ := os.ReadFile(filepath.Join("/proc", string(data), "cmdline")); string(cmdline) != "sleep\x001000\x00" {
		t.Errorf("PID %d runs %q, want sleep 1000", pid, cmdline)
	}
	for _, f := range []string{"ns/pid", "ns/mnt", "ns/net"} {
		theirs, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(initPid), f))
		ours, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), f))
		if err != nil || ours != theirs {
			t.Errorf("%s of the exec'd process %q, of the init %q (%v)", f, ours, theirs, err)
		}
	}
	// Nothing of exec's reaches the process: no sync socket (whose end of
	// file is how exec knows the process runs), no namespace file.
	if fds, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd")); len(fds) != 3 {
		t.Errorf("the exec'd process has %d descriptors open, want 3 (stdio)", len(fds))
	}
	theirs, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(initPid), "cgroup"))
	ours, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if len(theirs) == 0 || string(ours) != string(theirs) {
		t.Errorf("cgroups of the exec'd process:\n%s\nof the init:\n%s", ours, theirs)
	}
}

// TestOCIExecConsoleSocket: exec --tty --console-socket sends a pty
// master, the container's (/dev/pts/N of its devpts), as containerd's
// shim asks for `ctr task exec -t`.
func TestOCIExecConsoleSocket(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-tty"
	_, _, remove := runningBundle(t, id, nil)
	defer remove()
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() { got <- receiveMaster(l) }()
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	mustOCI(t, "exec", "--tty", "--detach", "--console-socket", sock, "--pid-file", pidFile, id,
		"sh", "-c", "tty; sleep 1000")
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	defer reap(pid)
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(10 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master came over the console socket")
	}
	defer master.Close()
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := master.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "/dev/pts/") {
		t.Fatalf("read %q from the pty master, want /dev/pts/N", buf[:n])
	}
	if r := oci(t, "exec", "--tty", "--detach", id, "true"); r.code != 1 || !strings.Contains(r.stderr, "--console-socket") {
		t.Errorf("--tty --detach without a console socket: exit %d, %q", r.code, r.stderr)
	}
}

// receiveMaster accepts one connection and takes the descriptor its
// message carries (SCM_RIGHTS, unix(7)); nil when there is none.
func receiveMaster(l *net.UnixListener) *os.File {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 {
		return nil
	}
	fds, _ := unix.ParseUnixRights(&msgs[0])
	if len(fds) != 1 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), "master")
}

// TestOCIExecSeccomp: the container's seccomp filter (linux.seccomp of
// the config it was created with, kept in its state dir) binds an exec'd
// process too. spec.Validate still refuses linux.seccomp in a bundle, so
// the test writes the filter into the saved config after create, as a
// config that had it would have left it: mkdir(2) fails with EPERM.
func TestOCIExecSeccomp(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-seccomp"
	_, _, remove := runningBundle(t, id, nil)
	defer remove()
	saved := filepath.Join(os.Getenv("MINICONTAINER_ROOT"), id, "config.json")
	data, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	eperm := uint(unix.EPERM)
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm}}}
	if data, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, nnp := range []string{"", "--no-new-privs"} {
		args := append([]string{"exec"}, nnp)
		if nnp == "" {
			args = args[:1]
		}
		r := oci(t, append(args, id, "sh", "-c", "mkdir /made && echo made; touch /touched && echo touched")...)
		if r.stdout != "touched\n" || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("exec %s under the container's filter: stdout %q, stderr %q; want mkdir refused, touch allowed", nnp, r.stdout, r.stderr)
		}
	}
}

// TestOCIExecTTY: exec -t without a console socket proxies exec's own
// terminal (raw mode, put back after) to a pty of the container's, at
// the caller's window size; the exit status comes back.
func TestOCIExecTTY(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-exec-proxy"
	_, _, remove := runningBundle(t, id, nil)
	defer remove()
	cmd := exec.Command("minicontainer", "exec", "-t", id, "sh")
	master, out, copied := startOnTerminal(t, cmd) // 33 rows, 101 columns
	defer master.Close()
	fmt.Fprint(master, "tty; stty size; echo $$; exit 3\n")
	finishOnTerminal(t, cmd, master, out, 3, "exec -t")
	master.Close()
	<-copied
	for _, want := range []string{"/dev/pts/", "33 101"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("exec -t output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestExecInRun: a foreground `run` container has a state with its Spec
// saved, so the OCI exec verb works on it by its ID: the exec'd process
// starts from run's Process (its -e, -w, hostname) in the container's
// namespaces, and its exit status comes back. Once run has ended, exec
// finds no container.
func TestExecInRun(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ", "mount ").Verify(t)
	cmd := exec.Command("minicontainer", "run", "--rootfs", testRootfs, "--name", "mctest-exec-run", "--net", "none",
		"--hostname", "mctest-run-host", "-e", "FROM_RUN=yes", "-w", "/work", "--", "sleep", "1000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var id string
	var pid1 int
	if !waitUntil(startTimeout, func() bool {
		states, _ := container.List(testState)
		for _, s := range states {
			if s.Name == "mctest-exec-run" && s.Pid != 0 && cmdlineIs(s.Pid, "sleep", "1000") {
				id, pid1 = s.ID, s.Pid
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the run container did not start within %v: %s", startTimeout, out.String())
	}
	r := mc(t, "", "exec", id, "sh", "-c", `echo $FROM_RUN; pwd; hostname; tr '\0' ' ' </proc/1/cmdline; echo; [ "$(readlink /proc/self/ns/pid)" = "$(readlink /proc/1/ns/pid)" ] && echo same pid ns; exit 7`)
	want := "yes\n/work\nmctest-run-host\nsleep 1000 \nsame pid ns\n"
	if r.code != 7 || r.stdout != want {
		t.Errorf("exec in a run container: exit %d, stdout %q, stderr %q; want exit 7, stdout %q", r.code, r.stdout, r.stderr, want)
	}
	cmd.Process.Kill() // the init dies with it (PR_SET_PDEATHSIG)
	cmd.Wait()
	reap(pid1)
	if r := mc(t, "", "exec", id, "true"); r.code == 0 {
		t.Errorf("exec after run ended: exit 0, want a failure")
	}
	mc(t, "", "gc")
}
