package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// The containers of these tests (all tests of this package) put their
// cgroups under a parent whose name hostcheck recognizes ("mctest"), not
// under the "minicontainer" that real runs on this machine share.
const testCgroupParent = "mctest-cgroup-cli"

func init() { os.Setenv("MINICONTAINER_CGROUP_PARENT", testCgroupParent) }

func cgroupHost(t *testing.T) *cgroup.Host {
	t.Helper()
	h, err := cgroup.Detect()
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	return h
}

// Inside: the container's own cgroup is "/", its limits are in the
// read-only /sys/fs/cgroup, and on the host they are in PARENT/ID.
func TestCgroupInside(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	var script string
	if h.Mode == cgroup.Unified {
		script = `cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; echo 1 > /sys/fs/cgroup/pids.max`
	} else {
		script = `cat /proc/self/cgroup; cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us; echo 1 > pids/pids.max`
	}
	r := run(t, "", "--memory", "64m", "--pids", "32", "--cpus", "0.5", "--", "sh", "-c", script)
	// /proc/self/cgroup has one line per hierarchy (see cgroups(7)),
	// "ID:CONTROLLERS:PATH": as many inside as on the host, each at "/".
	host, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	cgroupLine := regexp.MustCompile(`^[0-9]+:[^:]*:`)
	var inside []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if cgroupLine.MatchString(l) {
			inside = append(inside, l)
		}
	}
	if want := strings.Count(string(host), "\n"); len(inside) != want {
		t.Errorf("/proc/self/cgroup inside has %d lines, want %d (one per hierarchy, as on the host):\n%s", len(inside), want, r.stdout)
	}
	for _, l := range inside {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("/proc/self/cgroup inside: %q, want every cgroup to be / (cgroup namespace)", l)
		}
	}
	want := "67108864\n32\n50000\n"
	if h.Mode == cgroup.Unified {
		want = "67108864\n32\n50000 100000\n"
	}
	if !strings.HasSuffix(r.stdout, want) {
		t.Errorf("limits inside:\n%s\nwant them to end with\n%s", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "Read-only file system") || r.code == 0 {
		t.Errorf("writing a limit inside: exit %d, %q; want a read-only /sys/fs/cgroup", r.code, r.stderr)
	}
}

func TestCgroupOOMReported(t *testing.T) {
	needRoot(t)
	cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// dd's one 256 MiB buffer cannot fit in 64 MiB.
	r := run(t, "", "--memory", "64m", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1")
	t.Logf("exit %d, stderr %q", r.code, r.stderr)
	if r.code != 137 {
		t.Errorf("exit %d, want 137 (SIGKILL)", r.code)
	}
	if r.stderr != "minicontainer: container killed: out of memory (limit 64MiB)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	// Killed by someone else's SIGKILL, not the OOM killer: no such line.
	// (--init: a PID 1 cannot be sent SIGKILL from inside its namespace.)
	r = run(t, "", "--init", "--memory", "64m", "--", "sh", "-c", "kill -9 $$")
	if r.code != 137 || strings.Contains(r.stderr, "out of memory") {
		t.Errorf("kill -9: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestWritableLayerOnDisk (issue 8 §9): a container's writes go to its
// writable layer on disk, in container.ContainersDir, not to memory: 200
// MB written into the root under --memory 64m succeed, as under docker.
// Nothing is left in ContainersDir (hostcheck's StateDirs).
func TestWritableLayerOnDisk(t *testing.T) {
	needRoot(t)
	cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	write := []string{"--net", "none", "--memory", "64m", "--", "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=200 2>/dev/null && ls -l /big | awk '{print $5}'"}
	r := run(t, "", write...)
	if r.code != 0 || r.stdout != "209715200\n" {
		t.Errorf("200 MB into the root under --memory 64m: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestCgroupForkBombStops(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	events := "/sys/fs/cgroup/pids/pids.events"
	if h.Mode == cgroup.Unified {
		events = "/sys/fs/cgroup/pids.events"
	}
	// A bounded fork bomb (a tree of depth 6: 127 processes wanted) under
	// --pids 16; then the container's view of pids.events.
	script := `( f(){ if [ $1 -gt 0 ]; then f $(($1-1)) & f $(($1-1)) & fi; sleep 2; }; f 6 ) 2>/dev/null; sleep 1; cat ` + events + `; echo host ok`
	r := run(t, "", "--pids", "16", "--", "sh", "-c", script)
	t.Logf("exit %d: %q", r.code, r.stdout)
	var refused int
	if _, err := fmt.Sscanf(r.stdout, "max %d", &refused); err != nil || refused == 0 {
		t.Errorf("pids.events inside: %q, want forks refused", r.stdout)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "host ok") {
		t.Errorf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestCgroupStatsAndGC(t *testing.T) {
	needRoot(t)
	cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	// A parent that exists already (another session's container in it)
	// is not minicontainer's to remove, and gc leaves it.
	parentExisted := map[string]bool{}
	if cg, err := cgroup.New(cgroupHost(t), testCgroupParent, "x", nil); err == nil {
		for _, p := range cg.Paths() {
			_, err := os.Stat(filepath.Dir(p))
			parentExisted[filepath.Dir(p)] = err == nil
		}
	}
	cmd, s := startBackground(t, io.Discard, "--memory", "64m", "--pids", "32", "--", "sh", "-c", "sleep 100 & exec sleep 100")
	// Two processes once PID 1 has exec'd sleep: its background sleep
	// was started first.
	waitCmdline(t, s.Pid, "sleep", "100")
	r := mc(t, "", "stats", s.Name)
	t.Logf("stats:\n%s", r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("stats: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	f := strings.Fields(lines[1])
	// ID NAME MEMORY PEAK LIMIT PIDS CPU OOM
	if len(f) != 8 || f[0] != s.ID[:12] || f[1] != s.Name || f[4] != "64.0MiB" || f[5] != "2/32" || f[7] != "0" {
		t.Errorf("stats line %q", lines[1])
	}
	if r := mc(t, "", "stats", "no-such-container"); r.code == 0 || !strings.Contains(r.stderr, "no running container") {
		t.Errorf("stats of nothing: %d %q", r.code, r.stderr)
	}

	// SIGKILL minicontainer: the container dies with it, the cgroup stays
	// (nothing ran the undo) until gc reclaims it from state.json.
	h := cgroupHost(t)
	cg, _ := cgroup.New(h, testCgroupParent, s.ID, nil)
	killRuntime(cmd)
	if _, err := os.Stat(cg.Paths()[0]); err != nil {
		t.Fatalf("cgroup of the killed run: %v", err)
	}
	if r := mc(t, "", "gc"); r.code != 0 {
		t.Errorf("gc: %d %q", r.code, r.stderr)
	}
	for _, p := range cg.Paths() {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("gc left %s", p)
		}
		if _, err := os.Stat(filepath.Dir(p)); err == nil && !parentExisted[filepath.Dir(p)] {
			t.Errorf("gc left the empty parent %s", filepath.Dir(p))
		}
	}
	cmd.Wait()
}

// killRuntime SIGKILLs a background minicontainer and reaps it, without
// waiting for its output pipe (cmd.Wait does, and would hang if anything
// in the container outlived it): the container dies with it
// (PR_SET_PDEATHSIG), and whatever might not is killed by gc through the
// cgroup, which these tests then prove. cmd.Wait after gc.
func killRuntime(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Process.Wait()
}

func TestCgroupBadInput(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "12q"}, `--memory "12q": not a size`},
		{[]string{"--memory", "0"}, `--memory "0"`},
		{[]string{"--memory=-64m"}, `--memory "-64m"`},
		{[]string{"--memory", "-64m"}, `--memory`}, // kong takes -64m for a flag
		{[]string{"--pids", "0"}, `--pids "0"`},
		{[]string{"--pids=-1"}, `--pids "-1"`},
		{[]string{"--cpus", "0"}, `--cpus "0"`},
		{[]string{"--cpus=-1"}, `--cpus "-1"`},
		{[]string{"--cpus", fmt.Sprint(len(h.OnlineCPUs) + 1)}, fmt.Sprintf("this host has only %d CPUs", len(h.OnlineCPUs))},
		{[]string{"--cpu-weight", "0"}, `--cpu-weight "0"`},
		{[]string{"--cpu-weight", "10001"}, `--cpu-weight "10001"`},
		{[]string{"--cpuset-cpus", "99"}, "CPU 99 is not online"},
		{[]string{"--cgroup-parent", "a/b"}, "--cgroup-parent"},
	}
	before, _ := os.ReadDir(testState)
	for _, c := range cases {
		r := run(t, "", append(c.args, "--", "true")...)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "minicontainer: ") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 125 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
	after, _ := os.ReadDir(testState)
	if len(after) != len(before) {
		t.Errorf("bad input left state behind: %d entries before, %d after", len(before), len(after))
	}
}

// The v2 path for real on a hybrid host (--cgroup2: its cgroup2 hierarchy
// has no controllers, so no limits): the init is born in its cgroup by
// clone3(CLONE_INTO_CGROUP) with CLONE_NEWCGROUP in the same call, sees
// itself at "/", gets a read-only cgroup2 /sys/fs/cgroup, and gc finds the
// cgroup of a SIGKILLed run in the v2 tree.
func TestCgroup2OnHybridHost(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	if h.Mode != cgroup.Hybrid {
		t.Skipf("needs a hybrid host (this one: %s); on v2 the other tests take this path", h.Mode)
	}
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "", "--cgroup2", "-x", "--", "sh", "-c", `grep '^0::' /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f1-4; grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo "PID 1 in its cgroup"`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != "0::/\ncgroup2 /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec,relatime\nPID 1 in its cgroup\n" {
		t.Errorf("inside: %q", r.stdout)
	}
	// Born in its cgroup2 cgroup, then placed in the v1 ones: the cgroup
	// namespace is made after that (see TestCgroupEveryHierarchy).
	if !strings.Contains(r.stderr, "clone3({flags=") || strings.Contains(r.stderr, "CLONE_NEWCGROUP|CLONE_INTO_CGROUP") || !strings.Contains(r.stderr, "|CLONE_INTO_CGROUP, cgroup=") ||
		!strings.Contains(r.stderr, filepath.Join(h.Unified, testCgroupParent)) || !strings.Contains(r.stderr, "unshare(CLONE_NEWCGROUP)") {
		t.Errorf("--explain: want clone3 with CLONE_INTO_CGROUP into %s, then unshare(CLONE_NEWCGROUP):\n%s", h.Unified, r.stderr)
	}
	if r := run(t, "", "--cgroup2", "--pids", "8", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "no pids cgroup controller") {
		t.Errorf("--cgroup2 --pids: %d %q", r.code, r.stderr)
	}

	cmd, s := startBackground(t, io.Discard, "--cgroup2", "--", "sleep", "100")
	if r := mc(t, "", "stats", s.Name); r.code != 0 || !strings.Contains(r.stdout, s.Name) {
		t.Errorf("stats: %d %q %q", r.code, r.stdout, r.stderr)
	}
	dir := filepath.Join(h.Unified, testCgroupParent, s.ID)
	killRuntime(cmd)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("cgroup of the killed run: %v", err)
	}
	if r := mc(t, "", "gc"); r.code != 0 {
		t.Errorf("gc: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("gc left %s", dir)
	}
	cmd.Wait()
}

// TestCgroupEveryHierarchy (issue 16 §3): the container has a cgroup of
// its own in every hierarchy of the host — on a hybrid host also devices,
// blkio, name=systemd and the cgroup2, which it uses no controller of —
// so each is "/" in its cgroup namespace. A hierarchy it was not placed in
// has the host's cgroup as the namespace's root, and mounted inside it
// gives the host's release_agent, and other containers' cgroups.
func TestCgroupEveryHierarchy(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	modes := [][]string{nil}
	if h.Mode == cgroup.Hybrid {
		modes = append(modes, []string{"--cgroup2"})
	}
	for _, flags := range modes {
		// The container prints its view, then waits for the end of its
		// input; the test reads the host's view meanwhile, then closes
		// the input, and the output is complete once minicontainer has
		// exited (it relays the container's stdout through a pipe, so the
		// output can lag behind the command's progress).
		var out bytes.Buffer
		in, feed, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd, s := startBackgroundIn(t, in, &out, append(flags, "--net", "none", "--", "sh", "-c", "cat /proc/self/cgroup; read x; exit 0")...)
		in.Close()
		host, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", s.Pid))
		feed.Close()
		if werr := cmd.Wait(); werr != nil {
			t.Errorf("%v: minicontainer: %v", flags, werr)
		}
		inside := out.String()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(host)), "\n")
		if len(lines) < 1 || len(lines) != strings.Count(inside, "\n") {
			t.Errorf("%v: %d hierarchies on the host, %d inside:\n%s\n%s", flags, len(lines), strings.Count(inside, "\n"), host, inside)
		}
		own := "/" + testCgroupParent + "/" + s.ID
		for _, l := range lines {
			if !strings.HasSuffix(l, ":"+own) {
				t.Errorf("%v: on the host %q, want every hierarchy in %s", flags, l, own)
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(inside), "\n") {
			if !strings.HasSuffix(l, ":/") {
				t.Errorf("%v: inside %q, want / in every hierarchy", flags, l)
			}
		}
	}
	if r := mc(t, "", "gc"); r.code != 0 {
		t.Errorf("gc: %d %q", r.code, r.stderr)
	}
}

// TestCgroupUnderIPNetnsExec (issue 8 §10): `ip netns exec` mounts a new
// /sys, without the cgroup file systems under it. --memory there failed
// with "no cgroup filesystem is mounted": it now says why and what to use
// (one line, 125); without limits the run goes on without a cgroup, as
// before, and --explain says why. nsenter --net, which keeps the mounts,
// applies the limit.
func TestCgroupUnderIPNetnsExec(t *testing.T) {
	needRoot(t)
	cgroupHost(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	// Made before the snapshot, removed (with ip's /run/netns mount)
	// after the check.
	name := fmt.Sprintf("mctest-netns-%d", os.Getpid())
	ipNetnsAdd(t, name)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	self, _ := exec.LookPath("minicontainer")
	for _, args := range [][]string{{"--memory", "64m"}, {"--cgroup2"}} {
		cmd := exec.Command("ip", append(append([]string{"netns", "exec", name, self, "run", "--rootfs", testRootfs, "--net", "none"}, args...), "--", "true")...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 || strings.Count(string(out), "\n") != 1 ||
			!strings.Contains(string(out), "ip netns exec") || !strings.Contains(string(out), "nsenter --net=") {
			t.Errorf("under ip netns exec %v: %v, %q; want 125 and one line naming nsenter --net", args, err, out)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", name, self, "run", "-x", "--rootfs", testRootfs, "--net", "none", "--", "true").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "# no cgroup for this container: no cgroup filesystem is mounted here, but the host has some: `ip netns exec`") {
		t.Errorf("under ip netns exec without limits: %v; want it to run and -x to say why:\n%s", err, out)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+name, self, "run", "--rootfs", testRootfs, "--net", "none", "--memory", "64m", "--", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null")
	if out, err := cmd.CombinedOutput(); string(out) != "67108864\n" {
		t.Errorf("under nsenter --net: %v, %q; want the limit in force", err, out)
	}
}

// TestCgroupParentKept (issue 8 §10): a --cgroup-parent that existed
// before the run, with an administrator's pids.max, is still there after
// it, with its pids.max; the hierarchies where the run made it are clean.
func TestCgroupParentKept(t *testing.T) {
	needRoot(t)
	h := cgroupHost(t)
	if !h.Has("pids") {
		t.Skip("needs the pids controller")
	}
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	const parent = "mctest-admins-parent"
	dir := filepath.Join(h.Unified, parent)
	if h.Mode != cgroup.Unified {
		dir = filepath.Join(h.V1["pids"], parent)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("7"), 0); err != nil {
		t.Skipf("no pids.max in a new cgroup here (pids not enabled in the root's cgroup.subtree_control?): %v", err)
	}
	if r := run(t, "", "--cgroup-parent", parent, "--net", "none", "--", "true"); r.code != 0 {
		t.Fatalf("run: %d %q", r.code, r.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "pids.max")); err != nil || strings.TrimSpace(string(got)) != "7" {
		t.Errorf("the existing parent after the run: pids.max %q, %v; want it kept with 7", got, err)
	}
}
