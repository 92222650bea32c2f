package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/proc"
)

// runDetached starts a container with run -d and returns its ID and
// state. The caller removes it: defer rmf(t, id), after hostcheck.Take
// (deferred calls run last first; t.Cleanup would run after Verify).
func runDetached(t *testing.T, args ...string) (string, *container.State) {
	t.Helper()
	r := mc(t, "", append([]string{"run", "-d", "--rootfs", testRootfs, "--net", "none"}, args...)...)
	if r.code != 0 || !regexp.MustCompile(`^[0-9a-f]{12}\n$`).MatchString(r.stdout) {
		t.Fatalf("run -d %q: exit %d, stdout %q (want the ID and a newline), stderr %q", args, r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	states, _ := container.List(testState)
	for _, s := range states {
		if s.ID == id {
			return id, s
		}
	}
	t.Fatalf("run -d printed %s, which is not in ps", id)
	return "", nil
}

// rmf removes a container whatever its state.
func rmf(t *testing.T, ref string) { mc(t, "", "rm", "-f", ref) }

// statField is field n (1-based, after the command name) of /proc/PID/stat.
func statField(pid, n int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	v, _ := strconv.Atoi(f[n-3])
	return v
}

func TestRunDetached(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	start := time.Now()
	id, s := runDetached(t, "--name", "mctest-detached", "--", "sh", "-c", "echo out; echo err >&2; exec sleep 100")
	defer rmf(t, id)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run -d took %v: it must return once the command runs", d)
	}
	// The container's init is the monitor's child; the monitor is in a
	// session of its own (its PID is its session ID: setsid), and the
	// CLI that made it has exited.
	if !s.Detached || !proc.Alive(s.Runtime, s.RuntimeStart) || !proc.Alive(s.Pid, s.PidStart) {
		t.Fatalf("state after run -d: %+v; want detached, monitor %d and init %d alive", s, s.Runtime, s.Pid)
	}
	if _, ppid, _ := procStat(s.Pid); ppid != s.Runtime {
		t.Errorf("the init's parent is %d, want the monitor %d", ppid, s.Runtime)
	}
	if sid := statField(s.Runtime, 6); sid != s.Runtime {
		t.Errorf("the monitor's session is %d, want its own (%d): setsid", sid, s.Runtime)
	}
	if argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.Runtime)); string(argv) != "minicontainer-monitor\x00" {
		t.Errorf("the monitor's argv: %q", argv)
	}
	waitUntil(startTimeout, func() bool { return cmdlineIs(s.Pid, "sleep", "100") })
	// The monitor copies each pipe to the log as the lines come: a
	// container that has printed them may not have them logged yet (run
	// 1 of a make test-repeat, under load, read an empty log here).
	waitUntil(startTimeout, func() bool {
		b, _ := os.ReadFile(s.LogPath)
		return bytes.Count(b, []byte("\n")) >= 2
	})

	// Its output, in Docker's json-file format, one line per line.
	r := mc(t, "", "logs", "mctest-detached")
	if r.code != 0 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("logs: exit %d, stdout %q, stderr %q; want out and err on their streams", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	var streams []string
	for sc.Scan() {
		var e struct {
			Log, Stream string
			Time        time.Time
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Time.IsZero() {
			t.Errorf("log line %q: %v (time %v)", sc.Text(), err, e.Time)
		}
		streams = append(streams, e.Stream+":"+e.Log)
	}
	f.Close()
	sort.Strings(streams) // two pipes, two copies: either may come first
	if got := strings.Join(streams, ""); got != "stderr:err\nstdout:out\n" {
		t.Errorf("the log file's entries: %q", got)
	}

	// rm refuses a running container without -f: one line, 125.
	r = mc(t, "", "rm", id[:5])
	if r.code != container.ExitSetup || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container: exit %d, stderr %q", r.code, r.stderr)
	}
	r = mc(t, "", "ps")
	if !strings.Contains(r.stdout, id+" ") || !strings.Contains(r.stdout, "running") {
		t.Errorf("ps while it runs:\n%s", r.stdout)
	}
	// stop: sleep as PID 1 has no handler for SIGTERM: SIGKILL after -t.
	start = time.Now()
	r = mc(t, "", "stop", "-t", "1", "mctest-detached")
	if r.code != 0 || r.stdout != "mctest-detached\n" {
		t.Errorf("stop: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Errorf("stop -t 1 of a PID 1 that ignores SIGTERM took %v", d)
	}
	if proc.Alive(s.Pid, s.PidStart) {
		t.Errorf("the init %d runs after stop", s.Pid)
	}
	if proc.Alive(s.Runtime, s.RuntimeStart) {
		t.Errorf("the monitor %d runs after stop returned", s.Runtime)
	}
	if r = mc(t, "", "ps"); strings.Contains(r.stdout, id) {
		t.Errorf("ps lists the stopped container:\n%s", r.stdout)
	}
	r = mc(t, "", "ps", "-a")
	if !regexp.MustCompile(id + ` .* Exited \(137\) \d+ seconds? ago`).MatchString(r.stdout) {
		t.Errorf("ps -a after stop:\n%s", r.stdout)
	}
	if r = mc(t, "", "wait", id); r.code != 0 || r.stdout != "137\n" {
		t.Errorf("wait: exit %d, %q %q; want 137", r.code, r.stdout, r.stderr)
	}
	if r = mc(t, "", "stop", id); r.code != 0 || r.stderr != "" {
		t.Errorf("stop of a stopped container: exit %d, %q; want a quiet success", r.code, r.stderr)
	}
	// The log outlives the container, until rm.
	if r = mc(t, "", "logs", id); r.stdout != "out\n" {
		t.Errorf("logs after the end: %q", r.stdout)
	}
	if r = mc(t, "", "rm", id); r.code != 0 || r.stdout != id+"\n" {
		t.Errorf("rm: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(s.LogPath); err == nil {
		t.Errorf("rm left the log %s", s.LogPath)
	}
	if _, err := os.Stat(s.Dir()); err == nil {
		t.Errorf("rm left the state dir %s", s.Dir())
	}
}

// TestDetachedMonitorKilled: a SIGKILLed monitor takes its container
// with it (PR_SET_PDEATHSIG), and gc reclaims all, the log included.
func TestDetachedMonitorKilled(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, s := runDetached(t, "--name", "mctest-monitor-killed", "--", "sleep", "100")
	defer rmf(t, id)
	waitUntil(startTimeout, func() bool { return cmdlineIs(s.Pid, "sleep", "100") })
	syscall.Kill(s.Runtime, syscall.SIGKILL)
	if !initGone(s.Pid) {
		t.Errorf("the container's init %d outlived its SIGKILLed monitor", s.Pid)
		syscall.Kill(s.Pid, syscall.SIGKILL)
	}
	r := mc(t, "", "ps")
	if !strings.Contains(r.stdout, "mctest-monitor-killed") || !strings.Contains(r.stdout, "dead") {
		t.Errorf("ps should list the container as dead:\n%s", r.stdout)
	}
	if r = mc(t, "", "gc"); r.code != 0 || !strings.Contains(r.stdout, "removed "+s.ID) {
		t.Errorf("gc: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{s.Dir(), s.LogPath, s.Scratch} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("gc left %s", p)
		}
	}
}

// TestDetachedSurvivesHangUp: run -d from a terminal that then closes.
// The CLI was the session leader: its terminal's hang-up sends SIGHUP to
// the terminal's foreground process group (credentials(7), termios(3)).
// The monitor, in a session of its own, gets none; with --init, a
// SIGHUP reaching the monitor would be passed on to the sleep and end it.
func TestDetachedSurvivesHangUp(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	master, slave := openPTY(t)
	cmd := exec.Command("minicontainer", "run", "-d", "--rootfs", testRootfs, "--net", "none", "--init",
		"--name", "mctest-hangup", "--", "sleep", "100")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := make([]byte, 64)
	n, _ := master.Read(out)
	cmd.Wait()
	id := strings.TrimSpace(string(out[:n]))
	defer rmf(t, "mctest-hangup")
	master.Close() // the window closes
	states, _ := container.List(testState)
	var s *container.State
	for _, st := range states {
		if st.Name == "mctest-hangup" {
			s = st
		}
	}
	if s == nil {
		t.Fatalf("run -d on a terminal printed %q and made no container", id)
	}
	time.Sleep(500 * time.Millisecond) // a SIGHUP, had one come, is handled by now
	if s.Status() != "running" {
		t.Errorf("after the terminal closed the container is %s, want running", s.Status())
	}
}

func TestDetachedBadInput(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	taken, _ := runDetached(t, "--name", "mctest-taken", "--", "sleep", "100")
	defer rmf(t, taken)
	// The CREATED column ages while the bad inputs run (6 s of them under
	// qemu's TCG): compare without it.
	psList := func() string { return agoRE.ReplaceAllString(mc(t, "", "ps", "-a").stdout, "ago") }
	before := psList()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "-d", "--rootfs", testRootfs, "--net", "none", "--name", "mctest-taken", "--", "true"}, 125, "already in use"},
		{[]string{"run", "-d", "--rootfs", testRootfs, "--net", "none", "--", "mctest-no-such-command"}, 127, "not found"},
		{[]string{"run", "-d", "--rootfs", testRootfs, "--net", "none", "--name", "bad/name", "--", "true"}, 125, "name"},
		{[]string{"logs", "mctest-nobody"}, 125, "no such container: mctest-nobody"},
		{[]string{"stop", "mctest-nobody"}, 125, "no such container"},
		{[]string{"rm", "mctest-nobody"}, 125, "no such container"},
		{[]string{"wait", "mctest-nobody"}, 125, "no such container"},
		{[]string{"inspect", "mctest-nobody"}, 125, "no such container"},
		{[]string{"kill", "-s", "KILL", "mctest-nobody"}, 125, "no such container"},
		{[]string{"kill", "-s", "NOSIG", "mctest-taken"}, 125, "unknown signal"},
		{[]string{"logs", "--tail", "x", "mctest-taken"}, 125, "--tail"},
	} {
		r := mc(t, "", c.args...)
		if r.code != c.code || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and one line with %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	if after := psList(); after != before {
		t.Errorf("bad input changed ps -a:\n%s\nthen\n%s", before, after)
	}
}

func TestLogsFollowTailRm(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, s := runDetached(t, "--rm", "--", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done; exit 3")
	defer rmf(t, id)
	// wait and logs -f, both started while it runs: wait reads the exit
	// code although --rm removes the container when it ends.
	wait := exec.Command("minicontainer", "wait", id)
	var waitOut strings.Builder
	wait.Stdout = &waitOut
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	r := mc(t, "", "logs", "-f", "-t", id)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("logs -f -t: exit %d, %q %q; want 3 lines", r.code, r.stdout, r.stderr)
	}
	for i, l := range lines {
		ts, text, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || text != strconv.Itoa(i+1) {
			t.Errorf("logs -t line %q: %v", l, err)
		}
	}
	wait.Wait()
	if waitOut.String() != "3\n" {
		t.Errorf("wait on a --rm container: %q, want 3", waitOut.String())
	}
	if !waitUntil(startTimeout, func() bool { _, err := os.Stat(s.Dir()); return err != nil }) {
		t.Errorf("--rm left %s", s.Dir())
	}

	id, _ = runDetached(t, "--", "sh", "-c", "echo 1; echo 2; echo 3")
	defer rmf(t, id)
	mc(t, "", "wait", id)
	for tail, want := range map[string]string{"1": "3\n", "0": "", "all": "1\n2\n3\n", "5": "1\n2\n3\n"} {
		if r := mc(t, "", "logs", "--tail", tail, id); r.stdout != want {
			t.Errorf("logs --tail %s: %q, want %q", tail, r.stdout, want)
		}
	}
}

func TestDetachedTTY(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, _ := runDetached(t, "-it", "--", "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
	defer rmf(t, id)
	if r := mc(t, "", "wait", id); r.stdout != "0\n" {
		t.Errorf("wait: %q %q", r.stdout, r.stderr)
	}
	r := mc(t, "", "logs", id)
	if !regexp.MustCompile(`^/dev/pts/\d+\r\nstdin-is-a-tty\r\n$`).MatchString(r.stdout) {
		t.Errorf("logs of run -dit: %q", r.stdout)
	}
}

func TestInspect(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, s := runDetached(t, "--name", "mctest-inspect", "--hostname", "box", "-e", "A=1", "-w", "/tmp",
		"-v", testRootfs+":/mnt:ro", "--", "sh", "-c", "exit 4")
	defer rmf(t, id)
	mc(t, "", "wait", id)
	r := mc(t, "", "inspect", "mctest-inspect")
	var got []container.Inspection
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect: %v\n%s%s", err, r.stdout, r.stderr)
	}
	in := got[0]
	if in.ID != id || in.Name != "mctest-inspect" || in.Path != "sh" || in.State.Status != "exited" ||
		in.State.ExitCode != 4 || in.State.StartedAt.IsZero() || in.State.FinishedAt.Before(in.State.StartedAt) ||
		in.Created.After(in.State.StartedAt) || in.LogPath != s.LogPath {
		t.Errorf("inspect: %+v", in)
	}
	if c := in.Config; c == nil || c.Hostname != "box" || c.WorkingDir != "/tmp" || !strings.Contains(strings.Join(c.Env, " "), "A=1") {
		t.Errorf("inspect's config: %+v", in.Config)
	}
	found := false
	for _, m := range in.Mounts {
		found = found || m.Destination == "/mnt" && m.Source == testRootfs
	}
	if !found {
		t.Errorf("inspect's mounts lack the volume: %+v", in.Mounts)
	}
}

// TestExecDockerStyle: exec by name or prefix joins every namespace and
// the cgroup of a run -d container, with its env and cwd; -i, -w, -e, -u
// as docker's; failures 125, as docker exec.
func TestExecDockerStyle(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, s := runDetached(t, "--name", "mctest-exec-d", "-e", "FOO=bar", "-w", "/tmp", "--", "sleep", "100")
	defer rmf(t, id)
	waitUntil(startTimeout, func() bool { return cmdlineIs(s.Pid, "sleep", "100") })
	// Every namespace and the cgroup: the same as PID 1's, seen from inside.
	script := `for n in /proc/1/ns/*; do k=${n##*/}; [ "$(readlink $n)" = "$(readlink /proc/self/ns/$k)" ] || echo "ns $k differs"; done
cmp -s /proc/1/cgroup /proc/self/cgroup || echo "cgroup differs"; echo "$FOO $(pwd) $(id -u):$(id -g)"`
	r := mc(t, "", "exec", id[:6], "sh", "-c", script)
	if r.code != 0 || r.stdout != "bar /tmp 0:0\n" {
		t.Errorf("exec by prefix: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = mc(t, "", "exec", "-w", "/", "-e", "FOO=baz", "-u", "nobody", "mctest-exec-d", "sh", "-c", `echo "$FOO $(pwd) $(id -un)"`)
	if r.code != 0 || r.stdout != "baz / nobody\n" {
		t.Errorf("exec -w -e -u: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// stdin only with -i.
	if r = mc(t, "piped\n", "exec", "mctest-exec-d", "cat"); r.code != 0 || r.stdout != "" {
		t.Errorf("exec without -i read stdin: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r = mc(t, "piped\n", "exec", "-i", "mctest-exec-d", "cat"); r.code != 0 || r.stdout != "piped\n" {
		t.Errorf("exec -i: %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"mctest-exec-d", "sh", "-c", "exit 7"}, 7, ""},
		{[]string{"mctest-exec-d", "mctest-no-such-command"}, 127, "not found"},
		{[]string{"mctest-exec-nobody", "true"}, 125, "no such container: mctest-exec-nobody"},
		{[]string{"-u", "mctest-no-user", "mctest-exec-d", "true"}, 125, "no user"},
	} {
		r := mc(t, "", append([]string{"exec"}, c.args...)...)
		if r.code != c.code || c.want != "" && (strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want)) {
			t.Errorf("exec %q: exit %d, stderr %q; want %d, %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	mc(t, "", "stop", "-t", "0", id)
	r = mc(t, "", "exec", "mctest-exec-d", "true")
	if r.code != 125 || r.stderr != "minicontainer: cannot exec in a stopped container\n" {
		t.Errorf("exec into a stopped container: exit %d, %q", r.code, r.stderr)
	}
}

// TestExecCannotReachTheHostBinary: the shape of CVE-2019-5736. While
// exec joins a container, the host's minicontainer binary runs in the
// container's PID namespace (the exec init, until its execve): a process
// in there that opened its /proc/PID/exe could write the host's binary
// (at once, or through the descriptor once nothing runs it). The probe,
// the container's command, watches for every exec init and tries
// O_WRONLY, O_RDONLY and O_PATH on its exe, keeps what it got, and at the
// end reopens it for writing: the binary it holds must be on a read-only
// mount (exec.go, readOnlySelf), and the reopen must fail.
//
// Twice: without CAP_SYS_PTRACE (Docker's capability set lacks it), where
// the exec init's non-dumpable flag makes the kernel refuse the opens
// (ptrace access mode, proc(5)) but for the time from its execve to the
// Go code that sets the flag; and with it (--cap-add SYS_PTRACE, as a
// debugger's container gets), which passes over the flag. The probe must have seen exec inits, and in
// the second round held their binary, or the test proves nothing.
func TestExecCannotReachTheHostBinary(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/exeprobe", "./testdata/exeprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the probe: %v\n%s", err, out)
	}
	defer hostcheck.Take(t, "mctest", "process ", dir).Verify(t)
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	fastPath := h.Mode != cgroup.Unified
	probe := func(flags []string, args ...string) (seen int, out string) {
		runArgs := append(append([]string{"-v", dir + ":/probe:ro"}, flags...), "--", "/probe/exeprobe", "60")
		id, _ := runDetached(t, append(runArgs, args...)...)
		defer rmf(t, id)
		waitUntil(startTimeout, func() bool { return strings.Contains(mc(t, "", "logs", id).stdout, "ready") })
		for i := 0; i < 30; i++ {
			if r := mc(t, "", "exec", id, "true"); r.code != 0 {
				t.Fatalf("exec %d: %d %q", i, r.code, r.stderr)
			}
		}
		mc(t, "", "exec", id, "touch", "/tmp/probe-stop")
		mc(t, "", "wait", id)
		out = mc(t, "", "logs", id).stdout
		return strings.Count(out, "seen "), out
	}
	for _, round := range []struct {
		name  string
		flags []string
		args  []string
	}{{"without CAP_SYS_PTRACE", nil, []string{"drop-ptrace"}}, {"with CAP_SYS_PTRACE", []string{"--cap-add", "SYS_PTRACE"}, nil}} {
		seen, out := probe(round.flags, round.args...)
		held := strings.Count(out, "held: ")
		if strings.Contains(out, "reopen for writing: opened") || strings.Contains(out, "held: on a writable mount") ||
			strings.Contains(out, "O_WRONLY:opened") || !strings.Contains(out, "done") {
			t.Errorf("%s, a process in the container could write the exec init's binary:\n%s", round.name, out)
		}
		// Without CAP_SYS_PTRACE, on the fast path (not cgroup v2), the
		// kernel refuses the exe of every child (minicontainer is not
		// dumpable), and the probe may see none: the child is our binary
		// for a few system calls only. (The exec init is dumpable from its
		// execve until its package's init: there the read-only view holds.)
		// With CAP_SYS_PTRACE, the probe sees and holds them, and they must
		// all be on a read-only mount.
		if round.args == nil && (seen == 0 || held == 0) {
			t.Errorf("%s, the probe saw %d exec children and held %d exes: the test proves nothing\n%s", round.name, seen, held, out)
		}
		if round.args != nil && fastPath && strings.Contains(out, ":opened:") {
			t.Errorf("%s, a process in the container opened the exe of minicontainer's child:\n%s", round.name, out)
		}
		t.Logf("%s: the probe saw %d exec children and held %d exes, all on a read-only mount", round.name, seen, held)
	}
}

// TestExecForksFromTheCLI: in a container with Docker's capabilities and
// seccomp profile, exec forks the command from one locked thread of the
// CLI (no exec init; cgroup v1 and hybrid hosts, see fastRefused), and the process gets what the container's init
// has: every namespace, every cgroup, the same capability sets, seccomp
// mode and no_new_privs, and the cwd, env and user asked for.
func TestExecForksFromTheCLI(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	id, s := runDetached(t, "-e", "FOO=bar", "-w", "/tmp", "--", "sleep", "100")
	defer rmf(t, id)
	waitUntil(startTimeout, func() bool { return cmdlineIs(s.Pid, "sleep", "100") })
	script := `for n in /proc/1/ns/*; do k=${n##*/}; [ "$(readlink $n)" = "$(readlink /proc/self/ns/$k)" ] || echo "ns $k differs"; done
cmp -s /proc/1/cgroup /proc/self/cgroup || echo "cgroup differs"
for f in CapBnd CapEff CapPrm CapInh CapAmb NoNewPrivs Seccomp Seccomp_filters; do [ "$(grep "^$f:" /proc/1/status)" = "$(grep "^$f:" /proc/self/status)" ] || echo "$f differs: $(grep "^$f:" /proc/1/status /proc/self/status)"; done
echo "$FOO $(pwd) $(id -u):$(id -g)"`
	r := mc(t, "", "exec", "-x", id, "sh", "-c", script)
	if r.code != 0 || r.stdout != "bar /tmp 0:0\n" {
		t.Errorf("exec: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode == cgroup.Unified {
		// A child cannot be placed in a v2 cgroup from the confined
		// thread (no clone3 under Docker's profile): the exec init's path.
		if !strings.Contains(r.stderr, "re-exec as the exec init: cgroups v2") {
			t.Errorf("exec -x on cgroup v2 does not say why it re-executes:\n%s", r.stderr)
		}
	} else {
		for _, want := range []string{"unshare(CLONE_FS) = 0", "CLONE_NEWNS) = 0", "tasks\", \"0\"): this thread alone = 0", "seccomp(SECCOMP_SET_MODE_FILTER", "clone(CLONE_VM|CLONE_VFORK|SIGCHLD)"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("exec -x does not narrate %q: did it fork from the CLI?\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "re-exec") || strings.Contains(r.stderr, "[exec]") {
			t.Errorf("exec -x took the re-exec path:\n%s", r.stderr)
		}
	}
	// No thread of the CLI stays behind in the container: Go parks, not
	// ends, a main thread whose locked goroutine returns.
	mnt, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", s.Pid))
	for i := 0; i < 5; i++ {
		cli := exec.Command("minicontainer", "exec", "-x", id, "sleep", "1")
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", cli.Process.Pid))
		for _, task := range tasks {
			dir := fmt.Sprintf("/proc/%d/task/%s", cli.Process.Pid, task.Name())
			status, _ := os.ReadFile(dir + "/status")
			theirs, _ := os.Readlink(dir + "/ns/mnt")
			if theirs == mnt || strings.Contains(string(status), "Seccomp:\t2") {
				t.Errorf("exec's thread %s is in the container's mount namespace or seccomp mode (%s):\n%s", task.Name(), theirs, status)
			}
		}
		cli.Wait()
	}
	// A user of the container: the process's credentials, not the CLI's.
	r = mc(t, "", "exec", "-u", "1000:1000", id, "sh", "-c", `id -u; id -g; grep ^CapEff: /proc/self/status`)
	if r.code != 0 || r.stdout != "1000\n1000\nCapEff:\t0000000000000000\n" {
		t.Errorf("exec -u 1000:1000: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// agoRE is how ps words an age ("5 seconds ago", pkg/container/ps.go).
var agoRE = regexp.MustCompile(`[0-9]+ [a-z]+ ago`)
