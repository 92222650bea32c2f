package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/proc"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// testRootfs is a busybox rootfs built once for all tests (and never
// modified by them: the overlay tests check that). testState is the state
// root the tests' containers use (MINICONTAINER_ROOT, as --root), so that
// hostcheck sees only what these tests created even when other people run
// containers on the same machine.
var testRootfs, testState string

// TestMain makes this test binary minicontainer itself: testscript puts a
// copy named "minicontainer" on PATH, and the container init re-executes
// it as "minicontainer-init", which reexec.Init must catch first.
func TestMain(m *testing.M) {
	reexec.Init()
	if code, ran := inTestHostNetns(); ran {
		os.Exit(code)
	}
	testscript.Main(cleanRootfs{m}, map[string]func(){"minicontainer": main})
}

// envTestHost marks the copy of the test binary that runs in the
// test-made "host" network namespace.
const envTestHost = "MCTEST_HOST_NETNS"

// inTestHostNetns runs all the tests again in a child made with
// CLONE_NEWNET, as root: minicontainer's default network is a bridge with
// NAT, and tests must never make a bridge, a veth, an nftables rule or set
// ip_forward in the machine's own network namespace. In the child that
// namespace is a fresh one that plays the host, and vanishes with it.
func inTestHostNetns() (code int, ran bool) {
	if os.Geteuid() != 0 || os.Getenv(envTestHost) != "" {
		return 0, false
	}
	cmd := exec.Command(reexec.Self, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), envTestHost+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), true
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "running the tests in a network namespace of their own: %v\n", err)
		return 1, true
	}
	return 0, true
}

// cleanRootfs removes the test rootfs after all tests ran.
type cleanRootfs struct{ m *testing.M }

func (c cleanRootfs) Run() int {
	code := c.m.Run()
	if testRootfs != "" {
		os.RemoveAll(filepath.Dir(testRootfs))
	}
	return code
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("minicontainer needs root (namespaces, mounts): run the tests with sudo (make test does)")
	}
	if testRootfs == "" {
		dir, err := os.MkdirTemp("", "mctest-rootfs-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		testRootfs = filepath.Join(dir, "busybox")
		if err := rootfs.BuildBusybox(testRootfs, nil); err != nil {
			t.Fatalf("building the test rootfs: %v", err)
		}
		testState = filepath.Join(dir, "state")
		os.Setenv("MINICONTAINER_ROOT", testState)
		hostcheck.StateDirs = append(hostcheck.StateDirs, testState)
	}
}

// result is what one minicontainer run gave.
type result struct {
	stdout, stderr string
	code           int
}

// mc runs minicontainer with stdin and returns its output and exit code.
func mc(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command("minicontainer", args...)
	cmd.Stdin = strings.NewReader(stdin)
	return outcome(t, cmd)
}

// outcome runs cmd and returns what it printed and its exit code; a
// command that could not be started at all ends the test.
func outcome(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// run is mc with the test rootfs.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return mc(t, stdin, append([]string{"run", "--rootfs", testRootfs}, args...)...)
}

func TestScripts(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// The scripts run in parallel; t.Run returns when all are done, so
	// the host is checked after them.
	t.Run("scripts", func(t *testing.T) {
		testscript.Run(t, testscript.Params{
			Dir: "testdata/script",
			Setup: func(e *testscript.Env) error {
				e.Setenv("ROOTFS", testRootfs)
				e.Setenv("MINICONTAINER_ROOT", testState)
				return nil
			},
		})
	})
}

func TestInsideTheContainer(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "", "--hostname", "box", "--net", "none", "--", "sh", "-c",
		`hostname; echo pid=$$; ps -o pid,comm | wc -l; cut -d' ' -f2,3 /proc/mounts; ip link 2>/dev/null | grep -c '^[0-9]'; cat /proc/net/dev | grep -c :`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 6 {
		t.Fatalf("too few lines inside:\n%s", r.stdout)
	}
	if lines[0] != "box" || lines[1] != "pid=1" {
		t.Errorf("hostname and pid: got %q, want box, pid=1", lines[:2])
	}
	// ps: the header, sh, ps itself and maybe wc (started beside ps in
	// the pipeline): nothing of the host.
	if n, err := strconv.Atoi(lines[2]); err != nil || n < 3 || n > 4 {
		t.Errorf("ps inside shows %q lines, want 3 or 4 (nothing of the host):\n%s", lines[2], r.stdout)
	}
	mounts := strings.Join(lines[3:len(lines)-2], "\n")
	for _, want := range []string{"/ overlay", "/proc proc", "/sys sysfs", "/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("mounts inside lack %q:\n%s", want, mounts)
		}
	}
	for _, host := range hostcheck.Mounts(t) {
		if f := strings.Fields(host); f[0] == "/run" || strings.HasPrefix(f[0], "/work") || strings.HasPrefix(f[0], "/home") {
			if strings.Contains(mounts, f[0]+" ") {
				t.Errorf("host mount %s visible inside:\n%s", f[0], mounts)
			}
		}
	}
	if lines[len(lines)-1] != "1" {
		t.Errorf("network devices inside: %s, want only lo", lines[len(lines)-1])
	}
}

// A descriptor minicontainer inherits without close-on-exec (a shell's
// "exec 7<file", a CI runner's pipe) must not reach the container: it would
// be a way back to the host's files. The init marks everything above
// stderr close-on-exec before execve, as runc's init does.
func TestNoInheritedDescriptors(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0) // no O_CLOEXEC: exec.Command passes it on
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// "; true" keeps sh from exec'ing ls in place: $$ is the shell's own table.
	probe := []string{"sh", "-c", "ls /proc/$$/fd; true"}
	host, err := exec.Command(probe[0], probe[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+strings.Join(strings.Fields(string(host)), " ")+" ", " "+strconv.Itoa(fd)+" ") {
		t.Fatalf("the probe is blind: a host shell should see fd %d, it has %q", fd, host)
	}
	for _, mode := range [][]string{{"--net", "none"}, {"--net", "none", "--init"}} {
		r := run(t, "", append(append(mode, "--"), probe...)...)
		if got := strings.Fields(r.stdout); r.code != 0 || strings.Join(got, " ") != "0 1 2" {
			t.Errorf("run %v: the container's shell has fds %q (exit %d, %s), want only 0 1 2", mode, got, r.code, r.stderr)
		}
	}
}

func TestOverlayIsolation(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// Both write, say ready, and read back only once both have written
	// (the test closes their stdin then): the writes overlap for sure.
	type box struct {
		who     string
		cmd     *exec.Cmd
		out     *readyWriter
		release *os.File
	}
	var boxes []box
	for _, who := range []string{"one", "two"} {
		stdin, release, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		defer release.Close()
		out := newReadyWriter()
		cmd, _ := startBackgroundIn(t, stdin, out, "--", "sh", "-c", "echo "+who+" > /etc/who; echo ready; read x; cat /etc/who; ls /etc/who*")
		boxes = append(boxes, box{who, cmd, out, release})
	}
	for _, b := range boxes {
		b.out.wait(t, b.cmd)
	}
	for _, b := range boxes {
		b.release.Close()
	}
	for _, b := range boxes {
		if code := exitCode(t, b.cmd); code != 0 || b.out.String() != "ready\n"+b.who+"\n/etc/who\n" {
			t.Errorf("container %s saw %q (exit %d): writes leaked between containers", b.who, b.out.String(), code)
		}
	}
	if _, err := os.Stat(filepath.Join(testRootfs, "etc/who")); err == nil {
		t.Errorf("a container's write reached the base rootfs")
	}
}

func TestReadOnly(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "", "--read-only", "--", "sh", "-c", "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm")
	if !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stdout, "rc=1") {
		t.Errorf("--read-only: touch / gave %q", r.stdout)
	}
	if !strings.Contains(r.stdout, "shm") {
		t.Errorf("--read-only: /dev/shm must stay writable, got %q", r.stdout)
	}
}

func TestVolumes(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	defer hostcheck.Take(t, "mctest", "process ", dir).Verify(t)
	os.WriteFile(filepath.Join(dir, "in"), []byte("from host\n"), 0o644)
	r := run(t, "", "-v", dir+":/data", "--", "sh", "-c", "cat /data/in; echo from container > /data/out")
	if r.code != 0 || r.stdout != "from host\n" {
		t.Fatalf("rw volume: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "out")); string(data) != "from container\n" {
		t.Errorf("the container's write to the volume is not on the host: %q", data)
	}
	r = run(t, "", "-v", dir+":/data:ro", "--", "sh", "-c", "cat /data/in; echo x > /data/out2")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("ro volume: exit %d, stderr %q: want a read-only failure", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Errorf("a write through a :ro volume reached the host")
	}
}

func TestPipes(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "hello\nworld\n", "--", "sort", "-r")
	if r.code != 0 || r.stdout != "world\nhello\n" {
		t.Errorf("stdin through the container: got %q, exit %d", r.stdout, r.code)
	}
	r = run(t, "", "--", "sh", "-c", "echo out; echo err >&2; [ -t 0 ] && echo tty")
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("stdout/stderr: got %q / %q", r.stdout, r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"no-such-command"}, 127},
		{[]string{"/no/such/path"}, 127},
		{[]string{"/etc/passwd"}, 126},
		{[]string{"/etc"}, 126},
		{[]string{""}, 127}, // as docker: not "exec \"\": is a directory"
	} {
		r := run(t, "", append([]string{"--"}, c.args...)...)
		if r.code != c.code {
			t.Errorf("%q: exit %d, want %d (%s)", c.args, r.code, c.code, r.stderr)
		}
		if c.code >= 126 && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: want one line on stderr, got %q", c.args, r.stderr)
		}
		if c.code == 127 && !strings.Contains(r.stderr, "executable file not found in $PATH") && !strings.Contains(r.stderr, "no such file") {
			t.Errorf("%q: want docker's \"not found\", got %q", c.args, r.stderr)
		}
	}
}

// startBackground starts minicontainer and returns once the container's
// command runs, with the container's state.
func startBackground(t *testing.T, stdout io.Writer, args ...string) (*exec.Cmd, *container.State) {
	t.Helper()
	return startBackgroundIn(t, nil, stdout, args...)
}

// startBackgroundIn is startBackground with the container's stdin.
//
// "Runs" means exec'd: the state file names the init as soon as it is
// cloned, long before its execve(2), and a signal sent in between reaches
// minicontainer's set-up, not the command. Nothing announces another
// process's exec, so this polls, against a deadline, until PID 1 (or with
// --init a child of PID 1) is no longer the minicontainer binary.
func startBackgroundIn(t *testing.T, stdin io.Reader, stdout io.Writer, args ...string) (*exec.Cmd, *container.State) {
	t.Helper()
	name := fmt.Sprintf("mctest-%d", time.Now().UnixNano())
	cmd := exec.Command("minicontainer", append([]string{"run", "--rootfs", testRootfs, "--name", name}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runtime, runtimeStart := cmd.Process.Pid, proc.StartTime(cmd.Process.Pid)
	var s *container.State
	ok := waitUntil(startTimeout, func() bool {
		if !proc.Alive(runtime, runtimeStart) {
			return true // exited: reported below
		}
		if s == nil {
			states, _ := container.List(testState)
			for _, st := range states {
				if st.Name == name && st.Pid != 0 {
					s = st
				}
			}
		}
		return s != nil && commandRuns(runtime, s.Pid)
	})
	if !ok || s == nil || !proc.Alive(runtime, runtimeStart) {
		cmd.Process.Kill()
		err := cmd.Wait()
		t.Fatalf("container %s: its command did not start within %v (minicontainer: %v; state: %+v)", name, startTimeout, err, s)
	}
	return cmd, s
}

// startTimeout bounds every wait for a container to start: generous, for
// a loaded machine, and still a clear failure rather than a hang.
const startTimeout = 30 * time.Second

// waitUntil polls cond every 5 ms until it holds (true) or d has passed
// (false). Only for what no event announces: another process's execve, a
// state file, a zombie.
func waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// commandRuns reports whether the container's command has been exec'd:
// the init is minicontainer re-executed (same binary as the runtime
// process), so the command runs once pid1, or with --init one of its
// children, is another program.
func commandRuns(runtime, pid1 int) bool {
	self, err := os.Stat(fmt.Sprintf("/proc/%d/exe", runtime))
	if err != nil {
		return false
	}
	for _, pid := range append([]int{pid1}, childrenOf(pid1)...) {
		if exe, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && !os.SameFile(exe, self) {
			return true
		}
	}
	return false
}

// cmdlineIs reports whether pid's command line is argv (after an exec).
func cmdlineIs(pid int, argv ...string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && string(b) == strings.Join(argv, "\x00")+"\x00"
}

// waitCmdline waits until pid's command line is argv: the program the
// test waits for has been exec'd.
func waitCmdline(t *testing.T, pid int, argv ...string) {
	t.Helper()
	if !waitUntil(startTimeout, func() bool { return cmdlineIs(pid, argv...) }) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Fatalf("process %d did not exec %q within %v (its command line: %q)", pid, argv, startTimeout, b)
	}
}

// startOnTerminal starts cmd on a new pty, as a shell on a terminal runs
// (its own session, the pty its controlling terminal and stdio), and
// copies what it prints into out; copied is closed at the end of the
// output. The caller types into master and ends with finishOnTerminal.
func startOnTerminal(t *testing.T, cmd *exec.Cmd) (master *os.File, out *readyWriter, copied chan struct{}) {
	t.Helper()
	master, slave := openPTY(t)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		t.Fatal(err)
	}
	slave.Close()
	out = newReadyWriter()
	copied = make(chan struct{})
	go func() { io.Copy(out, master); close(copied) }()
	return master, out, copied
}

// finishOnTerminal waits (20 s at most) for cmd, which runs on the pty
// whose master is master, to exit with code want, and checks that it put
// the terminal back as it found it (raw mode off).
func finishOnTerminal(t *testing.T, cmd *exec.Cmd, master *os.File, out *readyWriter, want int, what string) {
	t.Helper()
	done := make(chan int)
	go func() { done <- exitCode(t, cmd) }()
	select {
	case code := <-done:
		if code != want {
			t.Errorf("%s: exit %d, want %d", what, code, want)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not finish; output:\n%s", what, out.String())
	}
	termios, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil || termios.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO {
		t.Errorf("the terminal was left in raw mode (lflag %#x, %v)", termios.Lflag, err)
	}
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// readyWriter collects a container's output, and waitFor returns when a
// given text has appeared in it: wait waits for the line "ready", which a
// command prints once it has set itself up (a trap installed), so a
// signal sent then cannot arrive too early.
type readyWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed (and replaced) at every write
}

func newReadyWriter() *readyWriter { return &readyWriter{changed: make(chan struct{})} }

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *readyWriter) wait(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	w.waitFor(t, cmd, "ready\n")
}

// waitFor returns once the output holds text; after startTimeout it kills
// cmd and fails the test.
func (w *readyWriter) waitFor(t *testing.T, cmd *exec.Cmd, text string) {
	t.Helper()
	timeout := time.After(startTimeout)
	for {
		w.mu.Lock()
		has, changed := strings.Contains(w.buf.String(), text), w.changed
		w.mu.Unlock()
		if has {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the container never printed %q; output %q", text, w.String())
		}
	}
}

func TestSignals(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		out := newReadyWriter()
		// PID 1 with a handler: the signal arrives.
		cmd, _ := startBackground(t, out, "--", "sh", "-c", `trap 'echo got it; exit 7' `+unix.SignalName(sig)[3:]+`; echo ready; sleep 100 & wait`)
		out.wait(t, cmd)
		cmd.Process.Signal(sig)
		if code := exitCode(t, cmd); code != 7 || !strings.Contains(out.String(), "got it") {
			t.Errorf("%v to minicontainer: exit %d, output %q; want the trap's 7", sig, code, out.String())
		}
	}
	// --init: the command is not PID 1, so SIGINT kills it: 128+2.
	out := newReadyWriter()
	cmd, _ := startBackground(t, out, "--init", "--", "sh", "-c", "echo ready; exec sleep 100")
	out.wait(t, cmd)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != 130 {
		t.Errorf("SIGINT with --init: exit %d, want 130", code)
	}
	// Killed from the host: 128+9.
	cmd, s := startBackground(t, io.Discard, "--", "sleep", "100")
	syscall.Kill(s.Pid, syscall.SIGKILL)
	if code := exitCode(t, cmd); code != 137 {
		t.Errorf("PID 1 killed by SIGKILL: exit %d, want 137", code)
	}
}

// procStat returns the state and the parent of pid from /proc/PID/stat
// (see proc(5)); ok is false when there is no such process.
func procStat(pid int) (state string, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
}

// childrenOf lists the processes whose parent is pid, zombies included.
func childrenOf(pid int) []int {
	var out []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		child, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// nsPid is pid's number in its own (innermost) PID namespace: the last
// field of NSpid in /proc/PID/status (see proc(5)).
func nsPid(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "NSpid:" {
			return f[len(f)-1]
		}
	}
	return ""
}

// An orphan is re-parented to the container's PID 1. Without --init PID 1
// is the command, here a `sleep` that never calls wait(2): the orphan,
// once dead, stays a zombie. With --init, minicontainer's init reaps it.
//
// Each step waits for an event, not for time: the script prints the
// orphan's PID, the test waits for the command's exec of sleep (by then
// the orphan exists and has been re-parented), kills the orphan itself,
// and then waits for the zombie, or for it to be reaped.
func TestInitReapsZombies(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// The subshell prints its background child's PID and exits at once:
	// that child is orphaned.
	script := "(sleep 1000 & echo orphan $!); exec sleep 1000"
	for _, init := range []bool{false, true} {
		args := []string{"--", "sh", "-c", script}
		if init {
			args = append([]string{"--init"}, args...)
		}
		out := newReadyWriter()
		cmd, s := startBackground(t, out, args...)
		out.waitFor(t, cmd, "\n")
		var inner string
		if _, err := fmt.Sscanf(out.String(), "orphan %s", &inner); err != nil {
			t.Fatalf("--init=%v: output %q: %v", init, out.String(), err)
		}
		orphan, command := 0, 0
		if !waitUntil(startTimeout, func() bool {
			orphan, command = 0, 0
			for _, pid := range append([]int{s.Pid}, childrenOf(s.Pid)...) {
				switch {
				case pid != s.Pid && nsPid(pid) == inner:
					orphan = pid
				case cmdlineIs(pid, "sleep", "1000"):
					command = pid
				}
			}
			return orphan != 0 && command != 0
		}) {
			t.Fatalf("--init=%v: no orphan %s under PID 1 (%d) beside the exec'd command (found %d, %d)", init, inner, s.Pid, orphan, command)
		}
		syscall.Kill(orphan, syscall.SIGKILL)
		if !init {
			if !waitUntil(startTimeout, func() bool { st, ppid, ok := procStat(orphan); return ok && st == "Z" && ppid == s.Pid }) {
				st, ppid, ok := procStat(orphan)
				t.Errorf("without --init: the killed orphan is %q (parent %d, exists %v), want a zombie of PID 1 %d (this is why --init exists)", st, ppid, ok, s.Pid)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if !initGone(s.Pid) {
				t.Errorf("the container's PID 1 (%d) outlived a SIGKILLed minicontainer", s.Pid)
			}
			continue
		}
		if !waitUntil(startTimeout, func() bool { _, _, ok := procStat(orphan); return !ok }) {
			st, _, _ := procStat(orphan)
			t.Errorf("with --init: the killed orphan %d is still there (state %s), want it reaped by the init", orphan, st)
		}
		// The init passes SIGTERM on to the command, and exits as it did.
		cmd.Process.Signal(syscall.SIGTERM)
		if code := exitCode(t, cmd); code != 128+int(syscall.SIGTERM) {
			t.Errorf("--init: exit %d after SIGTERM, want %d", code, 128+int(syscall.SIGTERM))
		}
	}
}

// initGone waits for pid to exit; a zombie counts as gone (the test
// process, a subreaper, inherits it and reaps it later).
func initGone(pid int) bool {
	return waitUntil(startTimeout, func() bool { st, _, ok := procStat(pid); return !ok || st == "Z" })
}

func TestKilledRuntimeLeavesNothingAfterGC(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// Several times: PR_SET_PDEATHSIG is per thread, and an init that
	// exec'd from the wrong thread lost it in about 1 run in 7.
	for i := 0; i < 6; i++ {
		cmd, s := startBackground(t, io.Discard, "--", "sleep", "100")
		cmd.Process.Signal(syscall.SIGKILL)
		// PR_SET_PDEATHSIG: the container dies with its parent (checked
		// before Wait, which would otherwise wait for the sleep to end).
		if !initGone(s.Pid) {
			t.Errorf("run %d: the container's PID 1 (%d) outlived a SIGKILLed minicontainer", i, s.Pid)
			syscall.Kill(s.Pid, syscall.SIGKILL)
		}
		cmd.Wait()
		if _, err := os.Stat(s.Dir()); err != nil {
			t.Fatalf("a SIGKILLed run cannot clean up, its state should remain for gc: %v", err)
		}
		r := mc(t, "", "ps")
		if !strings.Contains(r.stdout, s.ID+" ") || !strings.Contains(r.stdout, "dead") {
			t.Errorf("ps should list %s as dead:\n%s", s.ID, r.stdout)
		}
		r = mc(t, "", "gc")
		if r.code != 0 || !strings.Contains(r.stdout, "removed "+s.ID) {
			t.Errorf("gc: exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(s.Dir()); err == nil {
			t.Errorf("gc left %s", s.Dir())
		}
	}
}

func TestPs(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	cmd, s := startBackground(t, io.Discard, "--", "sleep", "100")
	r := mc(t, "", "ps")
	var line string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, s.ID) {
			line = l
		}
	}
	f := strings.Fields(line)
	if len(f) < 7 || f[1] != s.Name || f[2] != strconv.Itoa(s.Pid) || f[3] != "sleep" || f[5] != "running" {
		t.Errorf("ps line for %s: %q\n%s", s.ID, line, r.stdout)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	mc(t, "", "gc")
}

// openPTY opens a pseudo-terminal pair for the test to drive, as a
// terminal emulator does (pty(7)).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	// O_NONBLOCK puts the master in Go's poller, so that closing it (the
	// window closes) interrupts a goroutine reading it: a blocking read(2)
	// would hold the file open, and the terminal would never hang up.
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101})
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

func TestTTY(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	cmd := exec.Command("minicontainer", "run", "--rootfs", testRootfs, "-it", "--", "/bin/sh")
	master, out, copied := startOnTerminal(t, cmd)
	defer master.Close()
	// Job control: a background job, `jobs`, then the terminal's own view.
	// Each step waits for what the shell printed; the quotes in the
	// markers keep the terminal's echo of the typed line from matching.
	fmt.Fprint(master, "tty; stty size; sleep 100 & echo first''done\n")
	out.waitFor(t, cmd, "firstdone")
	// The window is resized: the kernel sends SIGWINCH to minicontainer
	// (the foreground of this terminal), which passes the size on when
	// the signal arrives; the shell is asked until it sees the new size.
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 44, Col: 111})
	for i := 0; !strings.Contains(out.String(), "44 111"); i++ {
		if i == 100 {
			cmd.Process.Kill()
			t.Fatalf("the container never saw the new size 44 111; output:\n%s", out.String())
		}
		fmt.Fprintf(master, "stty size; echo size''%d\n", i)
		out.waitFor(t, cmd, fmt.Sprintf("size%d\r", i))
	}
	fmt.Fprint(master, "jobs; echo $((6*7)); kill %1; exit 5\n")
	finishOnTerminal(t, cmd, master, out, 5, "-it shell")
	master.Close()
	<-copied
	text := out.String()
	for _, want := range []string{"/dev/pts/0", "33 101", "44 111", "Running", "sleep 100", "42"} {
		if !strings.Contains(text, want) {
			t.Errorf("-it output lacks %q:\n%s", want, text)
		}
	}
}

// TestTerminalHangUp closes the user's terminal under a shell that, as
// PID 1, ignores the SIGHUP passed on: minicontainer must kill the
// container after its grace period, exit 129 (128+SIGHUP, as a shell
// reports a session that died of a hang-up) and leave nothing behind.
// With the pty as controlling terminal minicontainer gets SIGHUP from the
// kernel and EIO on read; without, only EIO.
func TestTerminalHangUp(t *testing.T) {
	needRoot(t)
	for _, ctty := range []bool{true, false} {
		t.Run(fmt.Sprintf("controlling=%v", ctty), func(t *testing.T) {
			defer hostcheck.Take(t, "mctest-rootfs", "minicontainer", "process ").Verify(t)
			master, slave := openPTY(t)
			name := fmt.Sprintf("mctest-hup-%d", time.Now().UnixNano())
			cmd := exec.Command("minicontainer", "run", "--rootfs", testRootfs, "--name", name, "-it", "--", "/bin/sh")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: ctty}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close()
			out := newReadyWriter()
			copied := make(chan struct{})
			go func() { io.Copy(out, master); close(copied) }()
			// -opost: "ready\n" without the terminal's CR; the quotes keep the
			// echoed input line from matching.
			fmt.Fprint(master, "stty -opost; echo rea''dy\n")
			out.wait(t, cmd)
			var pid1 int
			states, _ := container.List(testState)
			for _, s := range states {
				if s.Name == name {
					pid1 = s.Pid
				}
			}
			if pid1 == 0 {
				t.Fatalf("no state for %s", name)
			}
			master.Close() // the terminal window closes
			<-copied
			done := make(chan int)
			go func() { done <- exitCode(t, cmd) }()
			select {
			case code := <-done:
				if code != 129 {
					t.Errorf("after the hang-up: exit %d, want 129", code)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill() // its Pdeathsig kills the container
				<-done
				t.Fatalf("minicontainer still runs 20 s after its terminal hung up")
			}
			if err := syscall.Kill(pid1, 0); err == nil {
				t.Errorf("the container's PID 1 (%d) outlived minicontainer", pid1)
			}
		})
	}
	// A SIGHUP with no terminal hung up is only passed on: see
	// TestHangUpSignalIsOnlyForwarded.
}

func TestBadInput(t *testing.T) {
	needRoot(t)
	empty := t.TempDir()
	defer hostcheck.Take(t, "mctest", "process ", empty).Verify(t)
	long := strings.Repeat("h", 65)
	badProfile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(badProfile, []byte(`{"defaultAction": "SCMP_ACT_MAYBE"}`), 0o644)
	for _, c := range []struct {
		args []string
		want string // in the one line on stderr
	}{
		{[]string{"run", "--rootfs", "/nonexistent-mctest", "--", "true"}, "/nonexistent-mctest"},
		{[]string{"run", "--rootfs", empty, "--", "true"}, "empty"},
		{[]string{"run", "--rootfs", testRootfs, "-v", "nocolon", "--", "true"}, "nocolon"},
		{[]string{"run", "--rootfs", testRootfs, "-v", "/nonexistent-mctest:/data", "--", "true"}, "/nonexistent-mctest"},
		{[]string{"run", "--rootfs", testRootfs, "-v", "/tmp:relative", "--", "true"}, "relative"},
		{[]string{"run", "--rootfs", testRootfs, "--hostname", long, "--", "true"}, "64"},
		{[]string{"run", "--rootfs", testRootfs, "--"}, "command"},
		{[]string{"run", "--rootfs", testRootfs, "--no-such-flag", "--", "true"}, "no-such-flag"},
		{[]string{"run", "--rootfs", testRootfs, "--name", "bad/name", "--", "true"}, "invalid name"},
		{[]string{"run", "--rootfs", testRootfs, "-e", "=x", "--", "true"}, "environment"},
		{[]string{"run", "--rootfs", testRootfs, "-w", "relative", "--", "true"}, "workdir"},
		{[]string{"run", "--rootfs", testRootfs, "-w", "/etc/passwd/x", "--", "true"}, "workdir /etc/passwd/x"},
		// Limits a container cannot start with are refused up front.
		{[]string{"run", "--rootfs", testRootfs, "--memory", "1", "--", "true"}, `--memory "1": the minimum is 6MiB`},
		{[]string{"run", "--rootfs", testRootfs, "--pids", "2", "--", "true"}, `--pids "2": the minimum is 6`},
		{[]string{"run", "--rootfs", testRootfs, "--init", "--pids", "8", "--", "true"}, `--pids 8: the minimum with --init is 16`},
		{[]string{"no-such-subcommand"}, "unexpected argument"},
		// Confinement (issue 10): run and spec refuse the same input.
		{[]string{"run", "--rootfs", testRootfs, "--cap-add", "SYS_NOPE", "--", "true"}, `--cap-add "SYS_NOPE": unknown capability`},
		{[]string{"spec", "--cap-drop", "nope"}, `--cap-drop "nope": unknown capability`},
		{[]string{"run", "--rootfs", testRootfs, "--security-opt", "seccomp=/nonexistent-mctest.json", "--", "true"}, "/nonexistent-mctest.json: no such file"},
		{[]string{"spec", "--security-opt", "seccomp=" + badProfile}, `unknown action "SCMP_ACT_MAYBE"`},
		{[]string{"run", "--rootfs", testRootfs, "--security-opt", "seccomp=" + badProfile, "--", "true"}, `unknown action "SCMP_ACT_MAYBE"`},
		{[]string{"spec", "--security-opt", "label=disable"}, `"label=disable": unknown option`},
	} {
		r := mc(t, "", c.args...)
		if r.code != 125 {
			t.Errorf("%q: exit %d, want 125", c.args, r.code)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "minicontainer: ") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: want one line mentioning %q on stderr, got %q", c.args, c.want, r.stderr)
		}
		if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") || r.stdout != "" {
			t.Errorf("%q: stdout %q stderr %q", c.args, r.stdout, r.stderr)
		}
	}
}

// TestCommaAndColonInPaths: overlayfs separates its mount options with ','
// and its lower dirs with ':'; a --rootfs or --root path holding them (or
// a backslash, its escape) still gives a container, and nothing is left.
func TestCommaAndColonInPaths(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	dir := t.TempDir()
	base := filepath.Join(dir, `r,o:o\t`, "busybox")
	os.Mkdir(filepath.Dir(base), 0o755)
	if err := rootfs.BuildBusybox(base, nil); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "st,a:te")
	r := mc(t, "", "--root", state, "run", "--net", "none", "--rootfs", base, "--", "sh", "-c", "echo hi >/f; cat /f")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("--rootfs %q --root %q: exit %d, stdout %q, stderr %q", base, state, r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(base, "f")); err == nil {
		t.Errorf("the container wrote into its base rootfs")
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("left in the state root: %s", e.Name())
		}
	}
}

// TestWorkdirIsMade: -w names a directory that the image lacks; as docker
// does, it is made (in the container's writable layer), not refused.
func TestWorkdirIsMade(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "", "--net", "none", "-w", "/made/here", "--", "pwd")
	if r.code != 0 || r.stdout != "/made/here\n" {
		t.Errorf("-w /made/here: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(testRootfs, "made")); err == nil {
		t.Error("the workdir was made in the base rootfs")
	}
}

// TestDuplicateName: the second run with a name in use fails, 125, and
// does not disturb the first.
func TestDuplicateName(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// The first container runs until the test writes its line: the second
	// run meets it however long it takes to get there.
	stdin, release, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	defer release.Close()
	var out bytes.Buffer
	cmd, s := startBackgroundIn(t, stdin, &out, "--", "sh", "-c", "read line; echo first done $line")
	r := run(t, "", "--name", s.Name, "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "already in use") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("duplicate --name: exit %d, %q", r.code, r.stderr)
	}
	release.Write([]byte("undisturbed\n"))
	release.Close()
	if code := exitCode(t, cmd); code != 0 || out.String() != "first done undisturbed\n" {
		t.Errorf("the first container: exit %d, %q", code, out.String())
	}
}

// TestNotRoot runs a copy of minicontainer as nobody with root's state
// root (MINICONTAINER_ROOT, inherited): a user other than root runs
// rootless (TestRootlessRun), but never in a state root another user
// owns, where a link could lead its writes anywhere: one line, exit 125.
func TestNotRoot(t *testing.T) {
	needRoot(t)
	// t.TempDir's parent is private to root: nobody could not run the copy.
	dir, err := os.MkdirTemp("", "mctest-notroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	defer hostcheck.Take(t, "mctest", "process ", dir).Verify(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "minicontainer")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--rootfs", testRootfs, "--", "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 125 || !strings.Contains(errb.String(), "not a directory of yours that only you may write") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("as nobody: %v, stderr %q; want exit 125 and one line", err, errb.String())
	}
}

// TestNothingPropagatesFromASharedRoot runs minicontainer in a mount
// namespace whose "/" is shared, as on a systemd host, and looks at that
// namespace's mount table while the container runs: none of the container's
// mounts may appear there (rootfs.Setup makes propagation private first).
func TestNothingPropagatesFromASharedRoot(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// The container says ready once its mounts are all made, and runs on
	// until the script writes to the go fifo (on a volume): the count is
	// taken while the container's mounts exist, whatever the machine's load.
	script := `d=$2; mkfifo "$d/out" "$d/go" || exit 1
		before=$(grep -c . /proc/self/mountinfo)
		minicontainer run --rootfs "$1" -v "$d:/s" -- sh -c 'echo ready; read x < /s/go; echo ran' > "$d/out" &
		exec 3< "$d/out"
		read line <&3
		[ "$line" = ready ] || { echo "the container did not start"; exit 1; }
		echo $before $(grep -c . /proc/self/mountinfo)
		echo go > "$d/go"
		cat <&3
		wait`
	cmd := exec.Command("unshare", "--mount", "--propagation", "shared", "sh", "-c", script, "sh", testRootfs, t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	timer := time.AfterFunc(2*startTimeout, func() { cmd.Process.Kill() })
	out, err := cmd.CombinedOutput()
	timer.Stop()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 3 || f[0] != f[1] || f[2] != "ran" {
		t.Errorf("mount count in a shared parent namespace before and while the container runs differ (want equal, then ran): %v\n%s", err, out)
	}
}
