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
//  2. sequential: M runs one after the other; the median start of the
//     last tenth of the runs must be within growthLimit of the first
//     tenth's (the per-run time does not grow);
//  3. idle: I detached containers (run -d -- sleep) on the bridge, started
//     one after the other and all kept up: the start time per block of 100
//     as the count grows, the PSS of each container's monitor and init,
//     the address book's reservations per second under 20 concurrent
//     processes (with 1 lease in the book, then I), then rm -f of each;
//  4. kills: K runs SIGKILLed at a random moment in their first 80 ms,
//     each followed by `minicontainer gc`.
//
// It prints successes, failures, leaks (processes, mounts, links, nftables
// tables, cgroups, state entries, the address book's files, ip_forward:
// compared with a snapshot taken before each phase) and the start time
// (from exec to the command's first byte on stdout; for run -d, until it
// exits, having printed the ID) at p50 and p99. It exits 1 unless failures and leaks are 0 and the
// sequential runs did not slow down.
//
// N=100, M=1000, I=1000, K=200, times STRESS_SCALE (default 1; e.g. 0.1),
// or set one by one with STRESS_CONCURRENT, STRESS_SEQUENTIAL, STRESS_IDLE,
// STRESS_KILLS.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	"github.com/minicontainer/minicontainer/pkg/network"
	"golang.org/x/sys/unix"
)

const (
	envInside = "STRESS_INSIDE"
	// envReserver makes this program one of reservations' processes: the
	// value is when to start and stop (unix nanoseconds, "START END").
	envReserver = "STRESS_RESERVER"
	gateway     = "172.30.0.1" // network.DefaultSubnet's gateway
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
	if v := os.Getenv(envReserver); v != "" {
		os.Exit(reserver(v))
	}
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
	idleN := scaled("STRESS_IDLE", 1000)
	fmt.Printf("stress: %d concurrent, %d sequential, %d idle, %d kills (%s); load %s\n", n, m, idleN, k, *bin, loadavg())
	bad := 0
	for _, phase := range []struct {
		run   func(int) int
		count int
	}{{concurrent, n}, {sequential, m}, {idle, idleN}, {kills, k}} {
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
	g, slower := growth(starts)
	fmt.Printf("sequential: %d runs (bridge): %d ok, %d failed, %.1f s; start %s; whole run %s; %s\n",
		m, ok, failed, time.Since(t0).Seconds(), percentiles(starts), percentiles(totals), g)
	if slower {
		failed++
	}
	return failed
}

// growthLimit is how much slower the last tenth of the sequential runs
// may start than the first tenth (their medians) before the phase fails.
// A median of 100 runs (M=1000) ignores the odd slow run, but not a change
// in what else the machine does meanwhile: a start is CPU time for the
// most part, and on a 2-core machine one other busy process (a build, the
// kernel dismantling network namespaces) takes up to half of it, so a
// neighbour that starts halfway through can nearly double the last
// tenth's median with no fault of ours: 1.5x would fail on that. A cost
// of ours that grows with every run (a book, a table or a directory that
// keeps what each run adds) keeps growing with M and passes 2x.
const growthLimit = 2.0

// growth compares the median start of the first and the last tenth of
// starts, in run order; it reports whether the last is more than
// growthLimit times the first. Under 10 runs a tenth is too few to say.
func growth(starts []time.Duration) (string, bool) {
	tenth := len(starts) / 10
	if tenth < 1 {
		return "growth: too few runs to compare", false
	}
	first, last := median(starts[:tenth]), median(starts[len(starts)-tenth:])
	ratio := float64(last) / float64(first)
	verdict := "ok"
	slower := ratio > growthLimit
	if slower {
		verdict = "SLOWER"
	}
	return fmt.Sprintf("growth: median start of the first %d runs %.1f ms, of the last %d %.1f ms, ratio %.2f (limit %.1f): %s",
		tenth, ms(first), tenth, ms(last), ratio, growthLimit, verdict), slower
}

// median of d, which it leaves in its order.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// idle starts n detached containers on the bridge one after the other and
// keeps them all up: it prints the start time (run -d, until it exits) per
// block of 100 starts, the PSS of the monitors and inits, the address
// book's reservations per second with 1 container on the bridge and with
// all of them, then removes each (rm -f). Three failed starts in a row end
// the starting: the count reached and the last error are printed.
func idle(n int) int {
	t0 := time.Now()
	availBefore := memAvailable()
	var ids []string
	var starts []time.Duration
	failed, inARow := 0, 0
	var reserveOne string
	for i := 0; i < n && inARow < 3; i++ {
		t := time.Now()
		out, err := exec.Command(*bin, "run", "-d", "--rootfs", rootfs, "--", "sleep", "3600").CombinedOutput()
		d := time.Since(t)
		id := strings.TrimSpace(string(out))
		if err != nil || len(id) != 12 {
			failed++
			inARow++
			fmt.Printf("  idle #%d: %v: %s\n", i, err, id)
			continue
		}
		inARow = 0
		ids, starts = append(ids, id), append(starts, d)
		if len(ids) == 1 {
			reserveOne = reservations(20, 3*time.Second)
		}
	}
	upIn := time.Since(t0)
	block := min(100, max(1, len(starts)/10))
	fmt.Printf("idle: %d containers (run -d -- sleep 3600) started one after the other: %d up, %d failed, %.1f s; start per block of %d (containers already up: p50, p99):\n",
		n, len(ids), failed, upIn.Seconds(), block)
	for b := 0; b < len(starts); b += block {
		blk := slices.Clone(starts[b:min(len(starts), b+block)])
		fmt.Printf("  %4d-%-4d  %s\n", b, b+len(blk)-1, percentiles(blk))
	}
	availUp := memAvailable()
	var monitor, init []int
	for _, id := range ids {
		st, err := readState(id)
		if err != nil {
			failed++
			fmt.Printf("  idle %s: %v\n", id, err)
			continue
		}
		monitor, init = append(monitor, pss(st.Runtime)), append(init, pss(st.Pid))
	}
	fmt.Printf("idle: PSS per container (smaps_rollup): monitor %s, init %s; MemAvailable %.0f MB lower with them up (%.2f MB per container, the kernel's part included)\n",
		meanKB(monitor), meanKB(init), float64(availBefore-availUp)/1024, float64(availBefore-availUp)/1024/float64(max(1, len(ids))))
	if len(monitor) >= 2*block {
		fmt.Printf("idle: monitor PSS of the first %d started %s, of the last %d %s\n",
			block, meanKB(monitor[:block]), block, meanKB(monitor[len(monitor)-block:]))
	}
	if len(ids) > 0 {
		fmt.Printf("idle: address book, 20 processes reserving and releasing at once: with 1 container on the bridge %s; with %d %s\n",
			reserveOne, len(ids), reservations(20, 3*time.Second))
	}
	t1 := time.Now()
	var removes []time.Duration
	for _, id := range ids {
		t := time.Now()
		if out, err := exec.Command(*bin, "rm", "-f", id).CombinedOutput(); err != nil {
			failed++
			fmt.Printf("  idle rm %s: %v %s\n", id, err, bytes.TrimSpace(out))
		}
		removes = append(removes, time.Since(t))
	}
	reap()
	fmt.Printf("idle: rm -f of each: %.1f s, %s; %d failed in all\n", time.Since(t1).Seconds(), percentiles(removes), failed)
	return failed
}

// readState reads what minicontainer recorded for container id: its
// monitor (Runtime) and init (Pid).
func readState(id string) (*struct{ Runtime, Pid int }, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, id, "state.json"))
	if err != nil {
		return nil, err
	}
	var st struct{ Runtime, Pid int }
	return &st, json.Unmarshal(data, &st)
}

// pss is the proportional set size of pid in kB (proc(5), smaps_rollup):
// its private pages, plus its share of the pages it shares.
func pss(pid int) int { return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:") }

// memAvailable is MemAvailable of /proc/meminfo, in kB.
func memAvailable() int { return procKB("/proc/meminfo", "MemAvailable:") }

// procKB is the number after key in a "Key: N kB" file of /proc; 0 when
// the file or the key is missing.
func procKB(path, key string) int {
	data, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

func meanKB(kb []int) string {
	if len(kb) == 0 {
		return "-"
	}
	sum := 0
	for _, v := range kb {
		sum += v
	}
	return fmt.Sprintf("%.0f kB (min %d, max %d)", float64(sum)/float64(len(kb)), slices.Min(kb), slices.Max(kb))
}

// reservations runs procs copies of this program that each reserve an
// address and release it, in a loop, for d, all at once: the address book
// is a file under flock(2) shared between processes, as between
// minicontainers. It returns the reservations per second of all of them
// together and the mean time of one Reserve (the lock's wait included).
func reservations(procs int, d time.Duration) string {
	start := time.Now().Add(500 * time.Millisecond) // every process has started by then
	end := start.Add(d)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range procs {
		cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d", envReserver, start.UnixNano(), end.UnixNano()))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	count, errs := 0, 0
	var took time.Duration
	for i, cmd := range cmds {
		var c, e int
		var ns int64
		if err := cmd.Wait(); err != nil {
			errs++
			fmt.Printf("  reserver: %v %s\n", err, bytes.TrimSpace(outs[i].Bytes()))
			continue
		}
		fmt.Sscan(outs[i].String(), &c, &ns, &e)
		count, took, errs = count+c, took+time.Duration(ns), errs+e
	}
	return fmt.Sprintf("%.0f reservations/s (%d in %.0f s, mean Reserve %.1f ms, %d errors)",
		float64(count)/d.Seconds(), count, d.Seconds(), ms(took)/float64(max(1, count)), errs)
}

// reserver is one process of reservations: between the two times in
// when, it reserves an address and releases it again and again, then
// prints how many it reserved, the nanoseconds spent in Reserve and the
// errors.
func reserver(when string) int {
	var startNs, endNs int64
	if _, err := fmt.Sscan(when, &startNs, &endNs); err != nil {
		fatal(err)
	}
	time.Sleep(time.Until(time.Unix(0, startNs)))
	end := time.Unix(0, endNs)
	count, errs := 0, 0
	var took time.Duration
	for i := 0; time.Now().Before(end); i++ {
		t := time.Now()
		ep, err := network.Reserve(network.Request{ID: fmt.Sprintf("r%d-%d", os.Getpid(), i)}, nil)
		if err != nil {
			if errs++; errs == 1 {
				fmt.Fprintln(os.Stderr, err)
			}
			continue
		}
		took += time.Since(t)
		count++
		if err := ep.Release(nil); err != nil {
			errs++
		}
	}
	fmt.Println(count, took.Nanoseconds(), errs)
	return 0
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
// entries, the address book's files, ip_forward.
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
	// The address book of this network namespace: its files in
	// network.DefaultStateDir, named after the namespace's inode.
	if prefix, err := network.NamespacePrefix(""); err == nil {
		books, _ := filepath.Glob(prefix + "*")
		for _, b := range books {
			s["book "+filepath.Base(b)] = true
		}
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
