package network

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"golang.org/x/sys/unix"
)

// The helper process of the tests that kill the minicontainer side
// (TestReclaim, TestReclaimInAnotherNetns, TestKilledWhileMaking):
// `mctest-connect PID STATEDIR ID [PORT]` reserves an address for
// container ID (publishing PORT/tcp to its port 80), connects the
// container whose init is PID, prints "connected KEEPER" and waits to be
// killed. With envKeeper set (a network namespace of its own) it first
// starts a keeper process there, so that the namespace outlives the
// helper as the host of `ip netns exec` would, and KEEPER is its PID (0
// otherwise). MINICONTAINER_FAULT=die:STEP kills it at STEP (pkg/fault).
func init() {
	reexec.Register("mctest-connect", func() {
		var keeper *exec.Cmd
		fail := func(err error) {
			if keeper != nil {
				keeper.Process.Kill()
			}
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if os.Getenv(envKeeper) == "1" {
			keeper = exec.Command(busybox, "sleep", "600")
			if err := keeper.Start(); err != nil {
				fail(err)
			}
		}
		pid, _ := strconv.Atoi(os.Args[1])
		req := Request{ID: os.Args[3], StateDir: os.Args[2]}
		if len(os.Args) > 4 {
			port, _ := strconv.Atoi(os.Args[4])
			req.Ports = []Port{{uint16(port), 80, "tcp"}}
		}
		ep, err := Reserve(req, nil)
		if err == nil {
			err = ep.Connect(pid, nil)
		}
		if err != nil {
			fail(err)
		}
		if keeper != nil {
			fmt.Println("connected", keeper.Process.Pid)
		} else {
			fmt.Println("connected 0")
		}
		select {}
	})
}

// envKeeper asks mctest-connect for a keeper process.
const envKeeper = "MCTEST_KEEPER"

// connectHelper starts mctest-connect with args (after PID STATEDIR), in a
// network namespace of its own with newNet, and with MINICONTAINER_FAULT
// set to faultAt unless it is "". It returns the first line the helper
// printed ("" if it died first) and the helper, still running when it
// printed "connected".
func connectHelper(t *testing.T, faultAt string, newNet bool, args ...string) (string, *exec.Cmd) {
	t.Helper()
	helper := reexec.Command("mctest-connect", args...)
	helper.Env = os.Environ()
	if faultAt != "" {
		helper.Env = append(helper.Env, fault.EnvVar+"="+faultAt)
	}
	if newNet {
		helper.Env = append(helper.Env, envKeeper+"=1")
		helper.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}
	}
	helper.Stdout = nil
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	return line, helper
}

// killedBy waits for helper and reports whether SIGKILL ended it.
func killedBy(helper *exec.Cmd) bool {
	helper.Wait()
	ws, ok := helper.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func TestMain(m *testing.M) {
	reexec.Init()
	os.Exit(m.Run())
}

const busybox = "/usr/bin/busybox"

// envInNetns marks the copy of the test binary that runs inside the
// test-made "host" network namespace.
const envInNetns = "MCTEST_IN_HOST_NETNS"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and nftables rules")
	}
	if _, err := os.Stat(busybox); err != nil {
		t.Skip("needs busybox-static (" + busybox + ")")
	}
}

// inHostNetns runs the calling test again in a child process made with
// CLONE_NEWNET: the whole child — every thread, every goroutine — lives in a
// fresh network namespace that plays "the host". Whatever the code under
// test does to "the host" (a bridge, veths, nftables rules, ip_forward)
// happens there, never in the machine's own namespace, and the namespace
// vanishes with the child. It returns true in the child, where the test
// body runs; in the parent it returns false after checking that the child
// ran the test and passed, and that the real host kept no mc* link.
func inHostNetns(t *testing.T) bool {
	t.Helper()
	requireRoot(t)
	if os.Getenv(envInNetns) == "1" {
		return true
	}
	defer hostcheck.Take(t, "link mc", "process ").Verify(t)
	tablesBefore := realHostTables(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("in a test-made host network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in the host namespace failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("test did not run in the host namespace")
	}
	if after := realHostTables(t); after != tablesBefore {
		t.Errorf("the machine's nftables tables changed:\nbefore:\n%s\nafter:\n%s", tablesBefore, after)
	}
	return false
}

// realHostTables lists the nftables tables of the machine's namespace (read only).
func realHostTables(t *testing.T) string {
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Logf("nft list tables: %v %s", err, out)
	}
	return string(out)
}

// startNetns starts a process in a network namespace of its own (a
// "container" or the "outside"), killed when the test ends.
func startNetns(t *testing.T) int {
	t.Helper()
	cmd := sleeperInNetns(t)
	t.Cleanup(func() { stop(cmd) })
	return cmd.Process.Pid
}

// sleeperInNetns starts busybox sleep in a new network namespace; it dies
// with the test binary (Pdeathsig) at the latest. A benchmark stops it
// with stop after each round.
func sleeperInNetns(tb testing.TB) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(busybox, "sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting a process in a new network namespace: %v", err)
	}
	return cmd
}

// stop kills and reaps a process started by sleeperInNetns.
func stop(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// in runs a command inside the network namespace of pid (nsenter(1)).
func in(pid int, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{fmt.Sprintf("--net=/proc/%d/ns/net", pid), "--"}, args...)...)
}

// run runs a command and fails the test when it fails.
func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// sh runs a shell command line in the current ("host") namespace.
func sh(t *testing.T, line string) string {
	t.Helper()
	return run(t, exec.Command("sh", "-c", line))
}

// output collects a command's output while the test reads it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// background starts cmd and stops it when the test ends; its output is
// collected in the returned buffer.
func background(t *testing.T, cmd *exec.Cmd) *output {
	t.Helper()
	buf := &output{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return buf
}

// eventually retries fn every 100 ms for up to 30 s (a server that is
// still starting, on a machine that may be busy), then fails with fn's
// last error.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (still failing after 30 s): %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkedStateDir returns a new network state directory for the test, and
// checks when the test ends — after its other cleanups, which run
// last-first — that the links and processes of the test's host namespace
// and that directory are as they were before.
func checkedStateDir(t *testing.T) string {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), "network")
	check := hostcheck.Take(t, "link ", "process ", stateDir)
	t.Cleanup(func() { check.Verify(t) })
	return stateDir
}

// assertHostClean checks, inside the test's host namespace, that no link
// but lo and no nftables table of ours is left, and the state dir is empty.
func assertHostClean(t *testing.T, stateDir string) {
	t.Helper()
	links := sh(t, "ip -o link show | awk -F': ' '{print $2}'")
	for _, l := range strings.Fields(links) {
		if l != "lo" {
			t.Errorf("link left behind in the host namespace: %s", l)
		}
	}
	if tables := sh(t, "nft list tables"); strings.Contains(tables, TableName) {
		t.Errorf("nftables table left behind: %s", tables)
	}
	if entries, err := os.ReadDir(stateDir); err == nil {
		for _, e := range entries {
			t.Errorf("state left behind: %s", e.Name())
		}
	}
}
