package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// These tests limit real processes with the host's real cgroups, on the
// driver the host calls for (v1 on this project's hybrid CI machine, v2 on
// a current distribution). Their cgroups live under testParent, a name
// hostcheck recognizes, and each test proves it left none behind.

const testParent = "mctest-cgroup"

func realHost(t *testing.T) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	h, err := Detect()
	if err != nil {
		t.Skipf("no cgroups on this host: %v", err)
	}
	return h
}

func busybox(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (Debian: busybox-static)")
	}
	return p
}

// checkHost proves at the very end of the test, after the cleanups
// newReal registers (they run last-registered first), that no cgroup under
// testParent is left.
func checkHost(t *testing.T) {
	snap := hostcheck.Take(t, testParent)
	t.Cleanup(func() { snap.Verify(t) })
}

// newReal creates a cgroup with limits l, and registers its removal.
func newReal(t *testing.T, h *Host, name string, l Limits) Cgroup {
	t.Helper()
	if err := l.Check(h); err != nil {
		t.Skipf("host cannot apply %+v: %v", l, err)
	}
	cg, err := New(h, testParent, fmt.Sprintf("%s-%d", name, os.Getpid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cg.KillAll(); err != nil {
			t.Errorf("KillAll: %v", err)
		}
		if err := cg.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(l); err != nil {
		t.Fatal(err)
	}
	return cg
}

// startIn starts a busybox shell script inside cg the way minicontainer
// does on v1: the process starts, waits on a pipe (here: its stdin) while
// the parent writes its PID into cgroup.procs, and only then runs the
// workload. It returns the command and a channel with its Wait result.
func startIn(t *testing.T, cg Cgroup, script string) (*exec.Cmd, chan error, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(busybox(t), "sh", "-c", "read go; "+script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := cg.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		<-done
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	stdin.Close()
	return cmd, done, &out
}

func TestRealMemoryHogIsOOMKilled(t *testing.T) {
	h := realHost(t)
	checkHost(t)
	const limit = 32 << 20
	cg := newReal(t, h, "oom", Limits{Memory: limit})
	// dd allocates one 256 MiB buffer and reads /dev/zero into it: every
	// page it touches is charged to the cgroup, so it crosses the limit.
	_, done, out := startIn(t, cg, "exec busybox dd if=/dev/zero of=/dev/null bs=256M count=1")
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("memory hog still running after 30 s")
	}
	st, serr := cg.Stats()
	if serr != nil {
		t.Fatal(serr)
	}
	t.Logf("limit %s: exit %v; oom_kill %d, limit hits %d, peak %d bytes (%s)", FormatSize(limit), err, st.OOMKills, st.MemoryMaxHits, st.MemoryPeak, h.Mode)
	ws, ok := exitStatus(err)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("want the hog killed by SIGKILL, got %v (output %q)", err, out.String())
	}
	if st.OOMKills < 1 {
		t.Errorf("OOM kill not counted: %+v", st)
	}
	if st.MemoryLimit != limit || st.MemoryPeak > limit {
		t.Errorf("limit %d, peak %d: want peak <= %d", st.MemoryLimit, st.MemoryPeak, limit)
	}
}

func exitStatus(err error) (syscall.WaitStatus, bool) {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ws, ok
}

func TestRealForkBombStopsAtPidsLimit(t *testing.T) {
	h := realHost(t)
	checkHost(t)
	const limit = 16
	cg := newReal(t, h, "pids", Limits{Pids: limit})
	// A bounded fork bomb: a binary tree of depth 7 would be 255
	// processes; each one left over sleeps. A shell whose fork fails
	// says "can't fork" and exits; the rest go on forking.
	startIn(t, cg, "f(){ if [ $1 -gt 0 ]; then f $(($1-1)) & f $(($1-1)) & fi; exec sleep 100; }; f 7")
	var st Stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if st, err = cg.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.PidsCurrent > limit {
			t.Fatalf("pids.current %d above pids.max %d", st.PidsCurrent, limit)
		}
		if st.PidsRefused > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the bomb settle, then check again that the limit held.
	time.Sleep(500 * time.Millisecond)
	st, _ = cg.Stats()
	peak := "n/a"
	if d := pidsDir(cg); d != "" {
		if p, err := os.ReadFile(filepath.Join(d, "pids.peak")); err == nil { // Linux 6.x
			peak = strings.TrimSpace(string(p))
			if peak != fmt.Sprint(limit) {
				t.Errorf("pids.peak %s, want exactly the limit %d", peak, limit)
			}
		}
	}
	procs, _ := cg.Procs()
	t.Logf("pids.max %d: forks refused %d, tasks now %d, peak %s, processes listed %d (%s)", limit, st.PidsRefused, st.PidsCurrent, peak, len(procs), h.Mode)
	if st.PidsRefused == 0 {
		t.Errorf("no fork was refused: %+v", st)
	}
	if st.PidsLimit != limit || st.PidsCurrent > limit {
		t.Errorf("pids limit %d, current %d", st.PidsLimit, st.PidsCurrent)
	}
	// The host is still fine: we can start a process outside the cgroup.
	if out, err := exec.Command(busybox(t), "true").CombinedOutput(); err != nil {
		t.Errorf("host cannot fork: %v %s", err, out)
	}
	if err := cg.KillAll(); err != nil {
		t.Fatal(err)
	}
	if procs, _ := cg.Procs(); len(procs) != 0 {
		t.Errorf("KillAll left %v", procs)
	}
}

func pidsDir(cg Cgroup) string {
	for _, p := range cg.Paths() {
		if exists(filepath.Join(p, "pids.max")) {
			return p
		}
	}
	return ""
}

// A busy loop under --cpus 0.5 gets about half a core. Measured from the
// cgroup's own CPU counter (cpuacct.usage on v1, cpu.stat usage_usec on
// v2) over two seconds — a check that the quota holds and that our CPU
// statistics are right, not a timing of our code.
func TestRealBusyLoopGetsHalfACore(t *testing.T) {
	h := realHost(t)
	checkHost(t)
	cg := newReal(t, h, "cpu", Limits{CPUs: 0.5})
	startIn(t, cg, "while :; do :; done")
	time.Sleep(300 * time.Millisecond) // past the first, unthrottled period
	s0, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(2 * time.Second)
	s1, _ := cg.Stats()
	wall := time.Since(t0)
	frac := float64(s1.CPUUsage-s0.CPUUsage) / float64(wall)
	t.Logf("--cpus 0.5: %v of CPU in %v = %.3f of a core; throttled in %d periods (%s)",
		(s1.CPUUsage - s0.CPUUsage).Round(time.Millisecond), wall.Round(time.Millisecond), frac, s1.CPUThrottled, h.Mode)
	// Upper bound: the quota (50 ms per 100 ms) plus one period's slack.
	// Lower bound looser: on a busy shared host the loop may not even get
	// its half.
	if frac > 0.6 || frac < 0.3 {
		t.Errorf("busy loop used %.3f of a core under --cpus 0.5", frac)
	}
	if s1.CPUThrottled == 0 {
		t.Errorf("never throttled: %+v", s1)
	}
}

// The cpuset trap on v1, for real: the cgroup Create made can take a task
// (cpuset.cpus and cpuset.mems were copied from the parent), and
// --cpuset-cpus pins it.
func TestRealCpuset(t *testing.T) {
	h := realHost(t)
	checkHost(t)
	cg := newReal(t, h, "cpuset", Limits{CpusetCPUs: "0"})
	cmd, _, _ := startIn(t, cg, "exec sleep 100")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var allowed string
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Cpus_allowed_list:"); ok {
			allowed = strings.TrimSpace(v)
		}
	}
	t.Logf("Cpus_allowed_list of a process in the cgroup: %s", allowed)
	if allowed != "0" {
		t.Errorf("Cpus_allowed_list = %q, want 0", allowed)
	}
}

// A cgroup left by a killed minicontainer (processes still in it) is
// reclaimed by a fresh Cgroup value for the same name: KillAll, Destroy.
func TestRealReclaimLeftover(t *testing.T) {
	h := realHost(t)
	checkHost(t)
	name := fmt.Sprintf("gc-%d", os.Getpid())
	cg, _ := New(h, testParent, name, nil)
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	_, done, _ := startIn(t, cg, "sleep 100 & sleep 100 & exec sleep 100")
	again, _ := New(h, testParent, name, nil) // what gc does, knowing only the ID
	if err := again.KillAll(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := again.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, p := range cg.Paths() {
		if exists(p) {
			t.Errorf("%s left", p)
		}
	}
}

// The trap Create avoids, shown for real on v1: a cpuset cgroup made with
// a bare mkdir has empty cpuset.cpus and cpuset.mems, and no task can join
// it (ENOSPC, see cpuset(7)).
func TestRealCpusetTrapV1(t *testing.T) {
	h := realHost(t)
	root, ok := h.V1["cpuset"]
	if !ok || h.Mode == Unified {
		t.Skip("needs a v1 cpuset hierarchy")
	}
	checkHost(t)
	dir := filepath.Join(root, fmt.Sprintf("%s-trap-%d", testParent, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	cpus, _ := os.ReadFile(filepath.Join(dir, "cpuset.cpus"))
	err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0)
	t.Logf("fresh cpuset cgroup: cpuset.cpus=%q, joining it: %v", strings.TrimSpace(string(cpus)), err)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("joining an unset cpuset: %v, want ENOSPC", err)
	}
}

// The v2 driver for real. This project's CI host is hybrid: its cgroup2
// (/sys/fs/cgroup/unified) carries no memory, pids or cpu controller, so
// the limits can only be tested on the fake tree. What works without
// controllers is tested here on the real cgroup2: Create (mkdir; nothing
// to enable), clone3's CLONE_INTO_CGROUP through SysProcAttr.UseCgroupFD,
// cgroup.procs, cgroup.events, cpu.stat's usage, cgroup.kill, Destroy.
func TestRealV2WithoutControllers(t *testing.T) {
	h := realHost(t)
	if h.Unified == "" {
		t.Skip("no cgroup2 mounted")
	}
	checkHost(t)
	v2host := &Host{Mode: Unified, Unified: h.Unified, V2: h.V2, OnlineCPUs: h.OnlineCPUs}
	name := fmt.Sprintf("v2-%d", os.Getpid())
	cg := newReal(t, v2host, "v2", Limits{})
	f, ok, err := cg.CloneFD()
	if err != nil || !ok {
		t.Fatalf("CloneFD: %v %v", ok, err)
	}
	cmd := exec.Command(busybox(t), "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 100 & exec sleep 100")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("clone3 with CLONE_INTO_CGROUP: %v", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	self, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	want := "0::/" + testParent + "/" + name
	if !strings.Contains(string(self), want+"\n") {
		t.Errorf("/proc/PID/cgroup lacks %q:\n%s", want, self)
	}
	populated, err := cg.(*v2).populated()
	if err != nil || !populated {
		t.Errorf("cgroup.events populated = %v, %v", populated, err)
	}
	// The shell counts to 20000 before it starts its second process: wait
	// for that (not a fixed time: under emulation the loop alone takes
	// longer than 200 ms), then the cgroup must list both.
	var procs []int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if procs, _ = cg.Procs(); len(procs) >= 2 {
			break
		}
	}
	st, _ := cg.Stats()
	t.Logf("born in %s; cgroup.procs %v; cpu.stat usage %v", want, procs, st.CPUUsage)
	if len(procs) != 2 || st.CPUUsage == 0 {
		t.Errorf("want the shell's two processes and some CPU use, got %v, %v", procs, st.CPUUsage)
	}
	if err := cg.KillAll(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("sleep was not killed")
	}
	if populated, _ := cg.(*v2).populated(); populated {
		t.Error("still populated after cgroup.kill")
	}
}
