// Command stress is `make stress`: minicontainer under load, as a
// benchmark, not a test (it takes minutes at full size). As root:
//
//	go run ./testdata/stress [-bin bin/minicontainer]
//
// It runs, in a network and mount namespace of its own (its bridge, NAT
// table and ip_forward are private and go with it):
//
//  1. concurrent: N containers on the bridge at once, with --memory and
//     --pids, each printing its address and pinging the gateway once,
//     then waiting until all are up (their addresses must be distinct);
//  2. sequential: M runs one after the other;
//  3. kills: K runs SIGKILLed at a random moment in their first 80 ms,
//     each followed by `minicontainer gc`.
//
// It prints successes, failures, leaks (processes, mounts, links, nftables
// tables, cgroups, state entries, ip_forward: compared with a snapshot
// taken before each phase) and the start time (from exec to the command's
// first byte on stdout) at p50 and p99. It exits 1 unless failures and
// leaks are 0.
//
// N=100, M=1000, K=200, times STRESS_SCALE (default 1; e.g. 0.1), or set
// one by one with STRESS_CONCURRENT, STRESS_SEQUENTIAL, STRESS_KILLS.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

const (
	envInside = "STRESS_INSIDE"
	gateway   = "172.30.0.1" // network.DefaultSubnet's gateway
)

var (
	bin      = flag.String("bin", "bin/minicontainer", "the minicontainer binary")
	stateDir string
	rootfs   string
	// cgroupParent is this run's own (cgroups are not namespaced), so
	// nothing else on the machine shows in its snapshots.
	cgroupParent = fmt.Sprintf("mcstress-%d", os.Getpid())
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal(errors.New("needs root (sudo make stress)"))
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	*bin = abs
	if os.Getenv(envInside) == "" {
		os.Exit(reexecInside())
	}
	os.Exit(stress())
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "stress: %v\n", err)
	os.Exit(2)
}

// reexecInside runs this program again in a new network and mount
// namespace: the bridge, veths, NAT table and ip_forward of the runs are
// then its own, and nobody else's mounts or links show in its snapshots.
func reexecInside() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		fatal(err)
	}
	return 0
}

func scaled(env string, full int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v >= 0 {
		return v
	}
	scale := 1.0
	if v, err := strconv.ParseFloat(os.Getenv("STRESS_SCALE"), 64); err == nil && v > 0 {
		scale = v
	}
	return max(1, int(float64(full)*scale+0.5))
}

func stress() int {
	// Mounts made here stay here (a new mount namespace copies the
	// propagation of the old one: shared on systemd hosts).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fatal(fmt.Errorf("making / private: %w", err))
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fatal(fmt.Errorf("ip link set lo up: %v %s", err, out))
	}
	// Processes left behind are re-parented to us, where snapshot finds them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fatal(err)
	}
	dir, err := os.MkdirTemp("", "mcstress-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	stateDir, rootfs = filepath.Join(dir, "state"), filepath.Join(dir, "rootfs")
	if out, err := exec.Command(*bin, "rootfs", "busybox", rootfs).CombinedOutput(); err != nil {
		fatal(fmt.Errorf("building the rootfs: %v %s", err, out))
	}
	os.Setenv("MINICONTAINER_ROOT", stateDir)
	os.Setenv("MINICONTAINER_CGROUP_PARENT", cgroupParent)

	n, m, k := scaled("STRESS_CONCURRENT", 100), scaled("STRESS_SEQUENTIAL", 1000), scaled("STRESS_KILLS", 200)
	fmt.Printf("stress: %d concurrent, %d sequential, %d kills (%s); load %s\n", n, m, k, *bin, loadavg())
	bad := 0
	for _, phase := range []struct {
		run   func(int) int
		count int
	}{{concurrent, n}, {sequential, m}, {kills, k}} {
		before := snapshot()
		bad += phase.run(phase.count)
		bad += leaks(before)
	}
	if bad > 0 {
		fmt.Printf("FAILED: %d failures and leaks\n", bad)
		return 1
	}
	fmt.Println("ok: 0 failures, 0 leaks")
	return 0
}

// runResult is one run: exit code, output, how long until the command's
// first byte on stdout (its start) and until minicontainer exited.
type runResult struct {
	code         int
	out          string
	start, total time.Duration
	err          error
}

// runOne runs minicontainer with args and times it.
func runOne(args ...string) runResult {
	cmd := exec.Command(*bin, append([]string{"run", "--rootfs", rootfs}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return runResult{err: err}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return runResult{err: err}
	}
	var r runResult
	var out bytes.Buffer
	first := make([]byte, 1)
	if n, _ := io.ReadFull(stdout, first); n == 1 {
		r.start = time.Since(t0)
		out.Write(first)
	}
	io.Copy(&out, stdout)
	err = cmd.Wait()
	r.total = time.Since(t0)
	r.code = cmd.ProcessState.ExitCode()
	r.out = out.String() + stderr.String()
	if _, ok := err.(*exec.ExitError); !ok {
		r.err = err
	}
	return r
}

// concurrentScript prints the container's address, pings the gateway
// once, then waits at a barrier (the volume /barrier) until the stress
// program has seen every container get there or end: so all the
// containers that succeed held their addresses at the same moment, and
// must have distinct ones.
const concurrentScript = `ip -4 -o addr show eth0 | awk '{print $4}'
ping -c 1 -W 2 ` + gateway + ` >/dev/null || { echo no answer from the gateway; exit 1; }
touch /barrier/ready.$(cat /proc/sys/kernel/random/uuid)
i=0; while [ ! -e /barrier/go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
[ -e /barrier/go ] || { echo the barrier never opened; exit 1; }`

func concurrent(n int) int {
	barrier, err := os.MkdirTemp("", "mcstress-barrier-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(barrier)
	t0 := time.Now()
	results := make([]runResult, n)
	var wg sync.WaitGroup
	var ended atomic.Int32
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			results[i] = runOne("--memory", "64m", "--pids", "64", "-v", barrier+":/barrier", "--", "sh", "-c", concurrentScript)
			ended.Add(1)
		}()
	}
	close(gate)
	for {
		ready, _ := filepath.Glob(filepath.Join(barrier, "ready.*"))
		if len(ready)+int(ended.Load()) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	allUp := time.Since(t0)
	if err := os.WriteFile(filepath.Join(barrier, "go"), nil, 0o644); err != nil {
		fatal(err)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	ok, failed, unanswered := 0, 0, 0
	addrs := map[string]bool{}
	var starts []time.Duration
	for i, r := range results {
		addr, _, _ := strings.Cut(r.out, "\n")
		switch {
		case r.err != nil || r.code != 0:
			failed++
			if strings.Contains(r.out, "no answer from the gateway") {
				unanswered++
			}
			fmt.Printf("  concurrent #%d: exit %d %v: %s\n", i, r.code, r.err, strings.TrimSpace(r.out))
		case addrs[addr]:
			failed++
			fmt.Printf("  concurrent #%d: address %s given twice\n", i, addr)
		default:
			ok++
			addrs[addr] = true
			starts = append(starts, r.start)
		}
	}
	fmt.Printf("concurrent: %d containers (--memory 64m --pids 64), each pinging %s once: %d ok, %d failed (%d without an answer to the first ping), %d distinct addresses held at once; all up in %.1f s, done in %.1f s; start %s\n",
		n, gateway, ok, failed, unanswered, len(addrs), allUp.Seconds(), elapsed.Seconds(), percentiles(starts))
	return failed
}

func sequential(m int) int {
	t0 := time.Now()
	ok, failed := 0, 0
	var starts, totals []time.Duration
	for i := range m {
		r := runOne("--", "echo", "started")
		if r.err != nil || r.code != 0 || r.out != "started\n" {
			failed++
			fmt.Printf("  sequential #%d: exit %d %v: %s\n", i, r.code, r.err, strings.TrimSpace(r.out))
			continue
		}
		ok++
		starts, totals = append(starts, r.start), append(totals, r.total)
	}
	fmt.Printf("sequential: %d runs (bridge): %d ok, %d failed, %.1f s; start %s; whole run %s\n",
		m, ok, failed, time.Since(t0).Seconds(), percentiles(starts), percentiles(totals))
	return failed
}

func kills(k int) int {
	t0 := time.Now()
	failed := 0
	for i := range k {
		cmd := exec.Command(*bin, "run", "--rootfs", rootfs, "--memory", "64m", "--pids", "64", "--", "sleep", "10")
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		time.Sleep(rand.N(80 * time.Millisecond))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		reap()
		if out, err := exec.Command(*bin, "gc").CombinedOutput(); err != nil {
			failed++
			fmt.Printf("  kill #%d: gc: %v %s\n", i, err, bytes.TrimSpace(out))
		}
	}
	reap()
	fmt.Printf("kills: %d runs SIGKILLed at 0-80 ms, each followed by gc: %d gc failed, %.1f s\n", k, failed, time.Since(t0).Seconds())
	return failed
}

// reap waits for the children re-parented to us that have exited (the
// inits of killed runs, which die by PR_SET_PDEATHSIG).
func reap() {
	for {
		if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "p50 - p99 -"
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("p50 %.1f ms p99 %.1f ms", ms(at(0.50)), ms(at(0.99)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// leaks compares the host with before, giving exiting processes and the
// kernel's background work (a dying network namespace takes its veth
// with it) up to 5 s, prints what differs and returns how many lines.
func leaks(before map[string]bool) int {
	var d []string
	for range 50 {
		reap()
		d = diff(before, snapshot())
		if len(d) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range d {
		fmt.Printf("  leak: %s\n", l)
	}
	fmt.Printf("leaks: %d\n", len(d))
	return len(d)
}

func diff(before, after map[string]bool) []string {
	var d []string
	for l := range after {
		if !before[l] {
			d = append(d, "left behind: "+l)
		}
	}
	for l := range before {
		if !after[l] {
			d = append(d, "removed: "+l)
		}
	}
	slices.Sort(d)
	return d
}

// snapshot is what a run may change: our child processes, mounts, links,
// nftables tables, the cgroups under our parent, the state root's
// entries, ip_forward.
func snapshot() map[string]bool {
	s := map[string]bool{}
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		st := string(data)
		f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(self) {
			cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			s["process "+filepath.Base(filepath.Dir(p))+" "+strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")] = true
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if i := slices.Index(fields, "-"); i > 4 && len(fields) > i+2 {
				s["mount "+fields[4]+" "+fields[i+1]+" "+fields[i+2]] = true
			}
		}
		f.Close()
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		s["link "+i.Name] = true
	}
	if c, err := nftables.New(); err == nil {
		tables, _ := c.ListTables()
		for _, t := range tables {
			s[fmt.Sprintf("nft table %d %s", t.Family, t.Name)] = true
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent)
	unified, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupParent)
	for _, c := range append(cgroups, unified...) {
		s["cgroup "+c] = true
		ids, _ := filepath.Glob(c + "/*/cgroup.procs")
		for _, id := range ids {
			s["cgroup "+filepath.Dir(id)] = true
		}
	}
	entries, _ := os.ReadDir(stateDir)
	for _, e := range entries {
		s["state "+e.Name()] = true
	}
	if v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		s["sysctl net.ipv4.ip_forward="+strings.TrimSpace(string(v))] = true
	}
	return s
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
