package cgroup

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"golang.org/x/sys/unix"
)

// The fake cgroupfs: regular files in a temporary directory, filled the way
// the kernel fills a new cgroup directory, so both drivers can be tested
// without root, on any host, file by file.

// v1Files are the files (with the kernel's initial contents) a new cgroup
// directory gets in a v1 hierarchy of each controller.
var v1Files = map[string]map[string]string{
	"memory": {
		"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
		"memory.usage_in_bytes": "0", "memory.max_usage_in_bytes": "0", "memory.failcnt": "0",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
	},
	"pids":    {"pids.max": "max", "pids.current": "0", "pids.events": "max 0\n"},
	"cpu":     {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024", "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
	"cpuacct": {"cpuacct.usage": "0"},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"freezer": {"freezer.state": "THAWED"},
}

// fakeFS makes and removes directories of a fake tree.
type fakeFS struct {
	t     *testing.T
	files func(dir string) map[string]string // what a new cgroup dir holds
}

func (f fakeFS) Mkdir(p string, mode uint32) error {
	if err := unix.Mkdir(p, mode); err != nil {
		return err
	}
	for name, content := range f.files(p) {
		if err := os.WriteFile(filepath.Join(p, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	return nil
}

// Rmdir behaves like cgroupfs: a cgroup with child cgroups is busy, one
// without goes away with all its files.
func (f fakeFS) Rmdir(p string) error {
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			return unix.EBUSY
		}
	}
	for _, e := range entries {
		os.Remove(filepath.Join(p, e.Name()))
	}
	return unix.Rmdir(p)
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fakeV1 builds a hybrid host like this project's CI machine: one
// hierarchy per controller, plus an empty cgroup2.
func fakeV1(t *testing.T) *Host {
	root := t.TempDir()
	h := &Host{Mode: Hybrid, V1: map[string]string{}, Unified: filepath.Join(root, "unified"), OnlineCPUs: []int{0, 1}}
	for ctrl := range v1Files {
		dir := filepath.Join(root, ctrl)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		h.V1[ctrl] = dir
		writeFile(t, filepath.Join(dir, "cgroup.procs"), "1\n")
	}
	// Hierarchies whose controllers the driver does not use, a named one,
	// and the cgroup2: the container must be placed in them too.
	for _, m := range []struct{ dir, opts string }{{"devices", "devices"}, {"systemd", "name=systemd"}, {"unified", ""}} {
		dir := filepath.Join(root, m.dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "cgroup.procs"), "1\n")
		if m.opts != "" {
			h.Hierarchy = append(h.Hierarchy, V1Mount{Dir: dir, Options: m.opts})
		}
		if m.dir == "devices" {
			h.V1["devices"] = dir
		}
	}
	writeFile(t, filepath.Join(root, "cpuset", "cpuset.cpus"), "0-1\n")
	writeFile(t, filepath.Join(root, "cpuset", "cpuset.mems"), "0\n")
	h.fs = fakeFS{t: t, files: func(dir string) map[string]string {
		m := map[string]string{"cgroup.procs": ""}
		for ctrl := range v1Files {
			if strings.HasPrefix(dir, h.V1[ctrl]+"/") {
				for k, v := range v1Files[ctrl] {
					m[k] = v
				}
			}
		}
		return m
	}}
	return h
}

// fakeV2 builds a pure v2 host whose root offers the given controllers.
// A new directory gets the files of the controllers its parent enabled in
// cgroup.subtree_control, as the kernel does — so a driver that forgets to
// enable one finds no memory.max to write.
func fakeV2(t *testing.T, offered string) *Host {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "cgroup.controllers"), offered+"\n")
	writeFile(t, filepath.Join(root, "cgroup.subtree_control"), "\n")
	writeFile(t, filepath.Join(root, "cgroup.procs"), "1\n")
	h := &Host{Mode: Unified, Unified: root, V2: strings.Fields(offered), OnlineCPUs: []int{0, 1}}
	h.fs = fakeFS{t: t, files: func(dir string) map[string]string {
		// The kernel shows subtree_control as "cpu memory"; our writes to
		// the fake left "+cpu +memory".
		sc := filepath.Join(filepath.Dir(dir), "cgroup.subtree_control")
		enabled := strings.Fields(strings.ReplaceAll(readFile(t, sc), "+", ""))
		writeFile(t, sc, strings.Join(enabled, " ")+"\n")
		m := map[string]string{
			"cgroup.controllers": strings.Join(enabled, " ") + "\n", "cgroup.subtree_control": "\n",
			"cgroup.procs": "", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "", "cgroup.freeze": "0\n",
			"cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
		}
		for _, c := range enabled {
			switch c {
			case "memory":
				for k, v := range map[string]string{"memory.max": "max", "memory.swap.max": "max", "memory.current": "0",
					"memory.peak": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"} {
					m[k] = v
				}
			case "pids":
				m["pids.max"], m["pids.current"], m["pids.events"] = "max", "0", "max 0\n"
			case "cpu":
				m["cpu.max"], m["cpu.weight"] = "max 100000", "100"
				m["cpu.stat"] += "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
			case "cpuset":
				m["cpuset.cpus"], m["cpuset.mems"], m["cpuset.cpus.effective"] = "", "", "0-1"
			}
		}
		return m
	}}
	return h
}

var allLimits = Limits{Memory: 64 << 20, Pids: 32, CPUs: 0.5, CPUWeight: 100, CpusetCPUs: "0"}

func TestV1FakeTree(t *testing.T) {
	h := fakeV1(t)
	var narration bytes.Buffer
	cg, err := New(h, Parent, "ab12", explain.New(&narration, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := allLimits.Check(h); err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(allLimits); err != nil {
		t.Fatal(err)
	}
	dir := func(ctrl string) string { return filepath.Join(h.V1[ctrl], Parent, "ab12") }
	want := map[string]string{
		filepath.Join(dir("memory"), "memory.limit_in_bytes"):       "67108864",
		filepath.Join(dir("memory"), "memory.memsw.limit_in_bytes"): "67108864",
		filepath.Join(dir("pids"), "pids.max"):                      "32",
		filepath.Join(dir("cpu"), "cpu.cfs_period_us"):              "100000",
		filepath.Join(dir("cpu"), "cpu.cfs_quota_us"):               "50000",
		filepath.Join(dir("cpu"), "cpu.shares"):                     "2598",
		filepath.Join(dir("cpuset"), "cpuset.cpus"):                 "0",
		// the v1 trap: mems copied from the root, through the parent
		filepath.Join(dir("cpuset"), "cpuset.mems"):                    "0",
		filepath.Join(h.V1["cpuset"], Parent, "cpuset.mems"):           "0",
		filepath.Join(h.V1["cpuset"], Parent, "cpuset.cpus"):           "0-1",
		filepath.Join(dir("freezer"), "freezer.state"):                 "THAWED",
		filepath.Join(h.V1["memory"], Parent, "memory.limit_in_bytes"): "9223372036854771712",
	}
	for p, v := range want {
		if got := strings.TrimSpace(readFile(t, p)); got != v {
			t.Errorf("%s = %q, want %q", p, got, v)
		}
	}
	// Every write is narrated with its real path and value.
	line := `write("` + filepath.Join(dir("memory"), "memory.limit_in_bytes") + `", "67108864") = 8   [cgroups(7)]`
	if !strings.Contains(narration.String(), line) {
		t.Errorf("narration lacks %s:\n%s", line, narration.String())
	}
	// A parent and a child in 6 hierarchies of controllers, and in
	// devices, name=systemd and the cgroup2.
	if strings.Count(narration.String(), "mkdir(") != 18 {
		t.Errorf("want 18 mkdirs narrated:\n%s", narration.String())
	}

	if err := cg.Add(4242); err != nil {
		t.Fatal(err)
	}
	for _, p := range cg.Paths() {
		if got := readFile(t, filepath.Join(p, "cgroup.procs")); got != "4242" {
			t.Errorf("%s/cgroup.procs = %q", p, got)
		}
	}
	if len(cg.Paths()) != 9 {
		t.Errorf("paths: %v, want 9 (every hierarchy)", cg.Paths())
	}
	if procs, err := cg.Procs(); err != nil || len(procs) != 1 || procs[0] != 4242 {
		t.Errorf("Procs = %v, %v", procs, err)
	}

	// Stats as the kernel would show them after an OOM kill.
	writeFile(t, filepath.Join(dir("memory"), "memory.usage_in_bytes"), "1234567\n")
	writeFile(t, filepath.Join(dir("memory"), "memory.max_usage_in_bytes"), "67108864\n")
	writeFile(t, filepath.Join(dir("memory"), "memory.failcnt"), "917\n")
	writeFile(t, filepath.Join(dir("memory"), "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	writeFile(t, filepath.Join(dir("pids"), "pids.current"), "32\n")
	writeFile(t, filepath.Join(dir("pids"), "pids.events"), "max 68\n")
	writeFile(t, filepath.Join(dir("cpuacct"), "cpuacct.usage"), "1500000000\n")
	writeFile(t, filepath.Join(dir("cpu"), "cpu.stat"), "nr_periods 20\nnr_throttled 19\nthrottled_time 950000000\n")
	s, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wantStats := Stats{MemoryCurrent: 1234567, MemoryPeak: 67108864, MemoryLimit: 67108864, MemoryMaxHits: 917, OOMKills: 1,
		PidsCurrent: 32, PidsLimit: 32, PidsRefused: 68, CPUUsage: 1500e6, CPUThrottled: 19}
	if s != wantStats {
		t.Errorf("Stats = %+v\nwant    %+v", s, wantStats)
	}

	// A second container shares the parent; destroying the first keeps it.
	cg2, _ := New(h, Parent, "cd34", nil)
	if err := cg2.Create(); err != nil {
		t.Fatal(err)
	}
	// KillAll freezes, kills, thaws, and waits for the tasks to go. The
	// fake's task is a PID above pid_max (kill gives ESRCH); "the kernel"
	// removes it once the cgroup was frozen and thawed again.
	for _, p := range cg.Paths() {
		writeFile(t, filepath.Join(p, "cgroup.procs"), "99999999\n")
	}
	var narration2 bytes.Buffer
	cgx, _ := New(h, Parent, "ab12", explain.New(&narration2, true))
	// inotify(7) tells "the kernel" when freezer.state was written; it
	// then reads what was written. Counting the events would not do:
	// inotify coalesces identical events that were not read yet, so
	// FROZEN and THAWED written in quick succession can arrive as one.
	// Any write comes after KillAll's FROZEN, so "THAWED" read after one
	// means frozen and thawed again.
	state := filepath.Join(dir("freezer"), "freezer.state")
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, state, unix.IN_CLOSE_WRITE); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := unix.Read(in, buf); err != nil {
				return
			}
			if b, _ := os.ReadFile(state); strings.TrimSpace(string(b)) == "THAWED" {
				break
			}
		}
		for _, p := range cg.Paths() {
			os.WriteFile(filepath.Join(p, "cgroup.procs"), nil, 0o644)
		}
	}()
	if err := cgx.KillAll(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(narration2.String(), `freezer.state", "FROZEN") = 6`) || !strings.Contains(narration2.String(), `freezer.state", "THAWED") = 6`) {
		t.Errorf("KillAll did not freeze and thaw:\n%s", narration2.String())
	}
	if err := cg.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, p := range cg.Paths() {
		if exists(p) {
			t.Errorf("%s not removed", p)
		}
		if !exists(filepath.Dir(p)) {
			t.Errorf("parent %s removed while cd34 uses it", filepath.Dir(p))
		}
	}
	if err := cg2.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, p := range cg2.Paths() {
		if exists(filepath.Dir(p)) {
			t.Errorf("empty parent %s left behind", filepath.Dir(p))
		}
	}
	// Destroy again (gc of something already gone) is fine.
	if err := cg2.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestV1CoMounted(t *testing.T) {
	// Many v1 hosts mount cpu and cpuacct together at /sys/fs/cgroup/cpu,cpuacct.
	h := fakeV1(t)
	h.V1["cpuacct"] = h.V1["cpu"]
	cg, _ := New(h, Parent, "x", nil)
	if n := len(cg.Paths()); n != 8 {
		t.Fatalf("want 8 hierarchies, got %d: %v", n, cg.Paths())
	}
}

// TestCgroupParentNotOurs (issue 8 §10): a --cgroup-parent that existed
// before, with an administrator's pids.max in it, is never removed; one
// minicontainer made is removed by whichever container leaves it last,
// also when that is not the one that made it (another process, gc), and
// also when the run that made it was killed before making its own cgroup.
func TestCgroupParentNotOurs(t *testing.T) {
	for _, mode := range []string{"v1", "v2"} {
		t.Run(mode, func(t *testing.T) {
			var h *Host
			if mode == "v1" {
				h = fakeV1(t)
			} else {
				h = fakeV2(t, "cpu memory pids")
			}
			pids := h.Unified
			if mode == "v1" {
				pids = h.V1["pids"]
			}
			admin := filepath.Join(pids, "admins")
			if err := h.fs.Mkdir(admin, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(admin, "pids.max"), "7")
			cg, _ := New(h, "admins", "c1", nil)
			if err := cg.Create(); err != nil {
				t.Fatal(err)
			}
			if err := cg.Destroy(); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(admin, "pids.max")); err != nil || string(got) != "7" {
				t.Errorf("the administrator's parent: pids.max %q, %v; want it kept", got, err)
			}
			// Made by the first container, left by it first: the second,
			// a new Cgroup as gc would open it, removes it.
			a, _ := New(h, "ours", "a", nil)
			b, _ := New(h, "ours", "b", nil)
			if err := a.Create(); err != nil {
				t.Fatal(err)
			}
			if err := b.Create(); err != nil {
				t.Fatal(err)
			}
			if err := a.Destroy(); err != nil {
				t.Fatal(err)
			}
			if !exists(filepath.Join(pids, "ours", "b")) {
				t.Fatal("the first Destroy removed the second container's cgroup")
			}
			b, _ = New(h, "ours", "b", nil)
			if err := b.Destroy(); err != nil {
				t.Fatal(err)
			}
			parentsGone(t, a, "the parent minicontainer made")
			// Made by an older minicontainer, which marked a parent with
			// a child cgroup: still removed by the last container.
			old, _ := New(h, "older", "o", nil)
			for _, p := range old.Paths() {
				for _, d := range []string{filepath.Dir(p), filepath.Join(filepath.Dir(p), oldMarker)} {
					if err := h.fs.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := old.Create(); err != nil {
				t.Fatal(err)
			}
			if err := old.Destroy(); err != nil {
				t.Fatal(err)
			}
			parentsGone(t, old, "a parent an older minicontainer made")
			// Killed right after making the parent, before the
			// container's own cgroup (the fault step "cgroup-parent"):
			// the parent is ours from its mkdir on, and gc removes it.
			k, _ := New(h, "killed", "k", nil)
			f := &files{fs: h.fs}
			for _, p := range k.Paths() {
				if err := f.makeParent(filepath.Dir(p), false); err != nil {
					t.Fatal(err)
				}
			}
			k, _ = New(h, "killed", "k", nil)
			if err := k.Destroy(); err != nil {
				t.Fatal(err)
			}
			parentsGone(t, k, "a parent left by a run killed right after its mkdir")
		})
	}
}

// parentsGone fails the test if cg's parent is left in any hierarchy.
func parentsGone(t *testing.T, cg Cgroup, what string) {
	t.Helper()
	for _, p := range cg.Paths() {
		if exists(filepath.Dir(p)) {
			t.Errorf("%s is left: %s", what, filepath.Dir(p))
		}
	}
}

func TestV1CreateTwiceFails(t *testing.T) {
	h := fakeV1(t)
	cg, _ := New(h, Parent, "dup", nil)
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	err := cg.Create()
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Create: %v", err)
	}
}

func TestV2FakeTree(t *testing.T) {
	h := fakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc")
	var narration bytes.Buffer
	cg, err := New(h, Parent, "ab12", explain.New(&narration, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(allLimits); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.Unified, Parent, "ab12")
	if p := cg.Paths(); len(p) != 1 || p[0] != dir {
		t.Errorf("Paths = %v", p)
	}
	want := map[string]string{
		filepath.Join(h.Unified, "cgroup.subtree_control"):         "cpu cpuset memory pids",
		filepath.Join(h.Unified, Parent, "cgroup.subtree_control"): "cpu cpuset memory pids",
		filepath.Join(dir, "cgroup.controllers"):                   "cpu cpuset memory pids",
		filepath.Join(dir, "memory.max"):                           "67108864",
		filepath.Join(dir, "memory.swap.max"):                      "0",
		filepath.Join(dir, "pids.max"):                             "32",
		filepath.Join(dir, "cpu.max"):                              "50000 100000",
		filepath.Join(dir, "cpu.weight"):                           "100",
		filepath.Join(dir, "cpuset.cpus"):                          "0",
	}
	for p, v := range want {
		if got := strings.TrimSpace(readFile(t, p)); got != v {
			t.Errorf("%s = %q, want %q", p, got, v)
		}
	}
	for _, l := range []string{
		`write("` + filepath.Join(h.Unified, "cgroup.subtree_control") + `", "+cpu +cpuset +memory +pids") = 26   [cgroups(7)]`,
		`mkdir("` + dir + `", 0755) = 0   [cgroups(7)]`,
		`write("` + filepath.Join(dir, "cpu.max") + `", "50000 100000") = 12   [cgroups(7)]`,
	} {
		if !strings.Contains(narration.String(), l) {
			t.Errorf("narration lacks %s:\n%s", l, narration.String())
		}
	}

	f, ok, err := cg.CloneFD()
	if err != nil || !ok {
		t.Fatalf("CloneFD: %v %v", ok, err)
	}
	if fi, _ := f.Stat(); !fi.IsDir() {
		t.Error("CloneFD is not the directory")
	}
	f.Close()
	if err := cg.Add(4242); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "cgroup.procs")); got != "4242" {
		t.Errorf("cgroup.procs = %q", got)
	}

	// Stats from the kernel's flat-keyed files.
	writeFile(t, filepath.Join(dir, "memory.current"), "1234567\n")
	writeFile(t, filepath.Join(dir, "memory.peak"), "67108864\n")
	writeFile(t, filepath.Join(dir, "memory.events"), "low 0\nhigh 0\nmax 2175\noom 3\noom_kill 1\noom_group_kill 0\n")
	writeFile(t, filepath.Join(dir, "pids.current"), "32\n")
	writeFile(t, filepath.Join(dir, "pids.events"), "max 68\n")
	writeFile(t, filepath.Join(dir, "cpu.stat"), "usage_usec 1500000\nuser_usec 1400000\nsystem_usec 100000\nnr_periods 20\nnr_throttled 19\nthrottled_usec 950000\nnr_bursts 0\nburst_usec 0\n")
	s, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wantStats := Stats{MemoryCurrent: 1234567, MemoryPeak: 67108864, MemoryLimit: 67108864, MemoryMaxHits: 2175, OOMKills: 1,
		PidsCurrent: 32, PidsLimit: 32, PidsRefused: 68, CPUUsage: 1500e6, CPUThrottled: 19}
	if s != wantStats {
		t.Errorf("Stats = %+v\nwant    %+v", s, wantStats)
	}

	// KillAll writes cgroup.kill and waits for cgroup.events "populated 0"
	// (which "the kernel" here sets once cgroup.kill was written).
	writeFile(t, filepath.Join(dir, "cgroup.events"), "populated 1\nfrozen 0\n")
	go func() {
		for ; readFile(t, filepath.Join(dir, "cgroup.kill")) != "1"; time.Sleep(time.Millisecond) {
		}
		writeFile(t, filepath.Join(dir, "cgroup.events"), "populated 0\nfrozen 0\n")
	}()
	if err := cg.KillAll(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "cgroup.kill")); got != "1" {
		t.Errorf("cgroup.kill = %q", got)
	}
	// A second container: subtree_control is already right, so nothing
	// is written to the root this time.
	narration.Reset()
	cg2, _ := New(h, Parent, "cd34", explain.New(&narration, true))
	if err := cg2.Create(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(narration.String(), "subtree_control") {
		t.Errorf("enabled controllers again:\n%s", narration.String())
	}
	if err := cg.Destroy(); err != nil {
		t.Fatal(err)
	}
	if exists(dir) || !exists(filepath.Join(h.Unified, Parent)) {
		t.Error("Destroy removed the wrong things")
	}
	if err := cg2.Destroy(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(h.Unified, Parent)) {
		t.Error("empty parent left behind")
	}
}

func TestV2EventsParse(t *testing.T) {
	m := parseKeyed("populated 1\nfrozen 0\n")
	if m["populated"] != 1 || m["frozen"] != 0 {
		t.Errorf("cgroup.events: %v", m)
	}
}

func TestV2WithoutMemoryController(t *testing.T) {
	// A v2 host (or a delegated subtree) that does not offer memory.
	h := fakeV2(t, "cpu pids")
	err := Limits{Memory: 64 << 20}.Check(h)
	if err == nil || !strings.Contains(err.Error(), "no memory cgroup controller") {
		t.Fatalf("Check: %v", err)
	}
	cg, _ := New(h, Parent, "nomem", nil)
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	// Without Check, Apply fails on the missing file rather than pretend.
	if err := cg.Apply(Limits{Memory: 64 << 20}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Apply memory without controller: %v", err)
	}
	if err := cg.Apply(Limits{Pids: 5, CPUs: 1.5}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(cg.Paths()[0], "cpu.max")); got != "150000 100000" {
		t.Errorf("cpu.max = %q", got)
	}
	if err := cg.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestBadNames(t *testing.T) {
	h := fakeV2(t, "memory")
	for _, name := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := New(h, Parent, name, nil); err == nil {
			t.Errorf("New accepted name %q", name)
		}
	}
}

// Create writes into a cgroup.subtree_control only the controllers not
// enabled there yet (a systemd host's root has them all: nothing written).
func TestV2EnablesOnlyMissing(t *testing.T) {
	h := fakeV2(t, "cpu memory pids")
	writeFile(t, filepath.Join(h.Unified, "cgroup.subtree_control"), "cpu memory\n")
	var narration bytes.Buffer
	cg, _ := New(h, Parent, "x", explain.New(&narration, true))
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(narration.String(), `cgroup.subtree_control", "+pids") = 5`) {
		t.Errorf("want only +pids written to the root:\n%s", narration.String())
	}
	if err := cg.Destroy(); err != nil {
		t.Fatal(err)
	}
}

// TestCPUShares: linux.resources.cpu.shares as a config.json gives it.
// On v1 it is written as it is (containerd's 1024 reads back 1024, where
// a trip through a weight gave 999); on v2 it becomes runc's weight for
// it (1024 → 39); a weight given too wins over shares.
func TestCPUShares(t *testing.T) {
	for _, c := range []struct {
		name string
		l    Limits
		v1   string
		v2   string
	}{
		{"shares", Limits{CPUShares: 1024}, "1024", "39"},
		{"the ends", Limits{CPUShares: 2}, "2", "1"},
		{"weight wins", Limits{CPUShares: 1024, CPUWeight: 100}, "2598", "100"},
	} {
		h1 := fakeV1(t)
		cg, err := New(h1, Parent, "sh12", explain.New(io.Discard, false))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.l.Check(h1); err != nil {
			t.Fatal(err)
		}
		if err := cg.Create(); err != nil {
			t.Fatal(err)
		}
		if err := cg.Apply(c.l); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(h1.V1["cpu"], Parent, "sh12", "cpu.shares"))); got != c.v1 {
			t.Errorf("%s: v1 cpu.shares = %q, want %q", c.name, got, c.v1)
		}
		h2 := fakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc")
		cg, err = New(h2, Parent, "sh12", explain.New(io.Discard, false))
		if err != nil {
			t.Fatal(err)
		}
		if err := cg.Create(); err != nil {
			t.Fatal(err)
		}
		if err := cg.Apply(c.l); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(h2.Unified, Parent, "sh12", "cpu.weight"))); got != c.v2 {
			t.Errorf("%s: v2 cpu.weight = %q, want %q", c.name, got, c.v2)
		}
	}
}

// TestCPUBandwidth: linux.resources.cpu.quota and .period are written as
// a config.json gives them (runtime-tools' linux_cgroups_cpus asks for
// 50000 in 500000 and reads both back); --cpus is a quota per CFSPeriod.
func TestCPUBandwidth(t *testing.T) {
	for _, c := range []struct {
		name          string
		l             Limits
		period, quota string // v1
		v2            string
	}{
		{"quota and period", Limits{CPUs: 0.1, CPUQuota: 50000, CPUPeriod: 500000}, "500000", "50000", "50000 500000"},
		{"quota alone", Limits{CPUs: 0.5, CPUQuota: 50000}, "100000", "50000", "50000 100000"},
		{"--cpus", Limits{CPUs: 1.5}, "100000", "150000", "150000 100000"},
	} {
		h1 := fakeV1(t)
		cg, _ := New(h1, Parent, "bw12", nil)
		if err := cg.Create(); err != nil {
			t.Fatal(err)
		}
		if err := cg.Apply(c.l); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(h1.V1["cpu"], Parent, "bw12")
		if p, q := strings.TrimSpace(readFile(t, filepath.Join(dir, "cpu.cfs_period_us"))), strings.TrimSpace(readFile(t, filepath.Join(dir, "cpu.cfs_quota_us"))); p != c.period || q != c.quota {
			t.Errorf("%s: v1 period %s quota %s, want %s %s", c.name, p, q, c.period, c.quota)
		}
		h2 := fakeV2(t, "cpu memory pids")
		cg, _ = New(h2, Parent, "bw12", nil)
		if err := cg.Create(); err != nil {
			t.Fatal(err)
		}
		if err := cg.Apply(c.l); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(h2.Unified, Parent, "bw12", "cpu.max"))); got != c.v2 {
			t.Errorf("%s: v2 cpu.max = %q, want %q", c.name, got, c.v2)
		}
	}
}

// TestCpusetMems: linux.resources.cpu.mems lands in cpuset.mems, on v1
// and v2, and a node that is not online is refused before anything exists.
func TestCpusetMems(t *testing.T) {
	l := Limits{CpusetMems: "0"}
	h1 := fakeV1(t)
	if err := l.Check(h1); err != nil {
		t.Fatal(err)
	}
	cg, err := New(h1, Parent, "me12", explain.New(io.Discard, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(l); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(h1.V1["cpuset"], Parent, "me12", "cpuset.mems"))); got != "0" {
		t.Errorf("v1 cpuset.mems = %q, want 0", got)
	}
	h2 := fakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc")
	cg, err = New(h2, Parent, "me12", explain.New(io.Discard, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(l); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(h2.Unified, Parent, "me12", "cpuset.mems"))); got != "0" {
		t.Errorf("v2 cpuset.mems = %q, want 0", got)
	}
	if err := (Limits{CpusetMems: "4095"}).Check(h1); err == nil || !strings.Contains(err.Error(), "memory node 4095 is not online") {
		t.Errorf("node 4095: %v", err)
	}
}

// TestCgroupParentLevels: a parent of several levels (a Spec's
// cgroupsPath "/admins/a/b/c1") is made level by level, each usable by
// the next (v1: cpuset.cpus/mems copied down; v2: controllers enabled on
// each level, so the limits' files exist in the container's cgroup), and
// on Destroy the levels minicontainer made go, bottom up, once no
// container is left in them, while a level that existed before stays with
// its settings. A parent of no level ("") puts the cgroup at the root.
func TestCgroupParentLevels(t *testing.T) {
	for _, mode := range []string{"v1", "v2"} {
		t.Run(mode, func(t *testing.T) {
			var h *Host
			if mode == "v1" {
				h = fakeV1(t)
			} else {
				h = fakeV2(t, "cpu cpuset memory pids")
			}
			pids := h.Unified
			if mode == "v1" {
				pids = h.V1["pids"]
			}
			admin := filepath.Join(pids, "admins")
			if mode == "v2" { // the administrator's cgroup offers them all
				writeFile(t, filepath.Join(h.Unified, "cgroup.subtree_control"), "cpu cpuset memory pids\n")
			}
			if err := h.fs.Mkdir(admin, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(admin, "pids.max"), "7")
			one, _ := New(h, "admins/a/b", "c1", nil)
			two, _ := New(h, "admins/a/b", "c2", nil)
			for _, cg := range []Cgroup{one, two} {
				if err := cg.Create(); err != nil {
					t.Fatal(err)
				}
			}
			if err := one.Apply(Limits{Memory: 64 << 20, Pids: 9, CpusetCPUs: "1"}); err != nil {
				t.Fatalf("Apply in a cgroup three levels down: %v", err)
			}
			for _, d := range []string{"admins/a", "admins/a/b"} {
				if !madeByUs(filepath.Join(pids, d)) {
					t.Errorf("%s: made without the mark of madeMode", d)
				}
			}
			if mode == "v1" {
				if got := readFile(t, filepath.Join(h.V1["cpuset"], "admins", "a", "b", "cpuset.mems")); strings.TrimSpace(got) != "0" {
					t.Errorf("admins/a/b/cpuset.mems = %q, want the root's", got)
				}
			}
			if err := one.Destroy(); err != nil {
				t.Fatal(err)
			}
			if !exists(filepath.Join(pids, "admins", "a", "b", "c2")) {
				t.Fatal("the first Destroy removed the second container's cgroup")
			}
			if err := two.Destroy(); err != nil {
				t.Fatal(err)
			}
			if exists(filepath.Join(pids, "admins", "a")) {
				t.Error("admins/a, made by minicontainer, is left")
			}
			if got, err := os.ReadFile(filepath.Join(admin, "pids.max")); err != nil || string(got) != "7" {
				t.Errorf("the administrator's level: pids.max %q, %v; want it kept", got, err)
			}
			// minicontainer's own Parent on top: made 0755, removed empty.
			own, _ := New(h, Parent+"/testdir", "c3", nil)
			if err := own.Create(); err != nil {
				t.Fatal(err)
			}
			if madeByUs(filepath.Join(pids, Parent)) || !madeByUs(filepath.Join(pids, Parent, "testdir")) {
				t.Error("want minicontainer/ made 0755 and minicontainer/testdir with the mark")
			}
			if err := own.Destroy(); err != nil {
				t.Fatal(err)
			}
			if exists(filepath.Join(pids, Parent)) {
				t.Error("minicontainer/ is left")
			}
			// At the root itself.
			top, err := New(h, "", "cgrouptest", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := top.Create(); err != nil {
				t.Fatal(err)
			}
			if !exists(filepath.Join(pids, "cgrouptest")) {
				t.Error("no cgroup at the root")
			}
			if err := top.Destroy(); err != nil {
				t.Fatal(err)
			}
			if exists(filepath.Join(pids, "cgrouptest")) || !exists(pids) {
				t.Error("Destroy of a cgroup at the root: want it gone and the root kept")
			}
		})
	}
}

func TestBadParents(t *testing.T) {
	h := fakeV2(t, "memory")
	for _, parent := range []string{"/a", "a/", "a//b", "a/../b", "..", "./a", "a\x00"} {
		if _, err := New(h, parent, "x", nil); err == nil {
			t.Errorf("New accepted parent %q", parent)
		}
	}
}

// TestCreateExists: Create of a cgroup that is there already (another
// container's: two Specs may give the same cgroupsPath) fails with
// ErrExists and leaves nothing it made, and the cgroup that was there
// stays (on v1, the hierarchies before the one that had it are undone).
func TestCreateExists(t *testing.T) {
	for _, mode := range []string{"v1", "v2"} {
		t.Run(mode, func(t *testing.T) {
			var h *Host
			if mode == "v1" {
				h = fakeV1(t)
			} else {
				h = fakeV2(t, "cpu memory pids")
			}
			other, _ := New(h, "shared/deep", "c1", nil)
			if err := other.Create(); err != nil {
				t.Fatal(err)
			}
			// On v1, take one hierarchy away from the other container, so
			// that the second Create makes the first ones before it fails.
			last := other.Paths()[len(other.Paths())-1]
			if mode == "v1" {
				for _, p := range other.Paths()[:len(other.Paths())-1] {
					if err := h.fs.Rmdir(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			again, _ := New(h, "shared/deep", "c1", nil)
			err := again.Create()
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Create of an existing cgroup: %v, want ErrExists", err)
			}
			for _, p := range again.Paths() {
				if p != last && exists(p) {
					t.Errorf("%s: made by the failed Create and left", p)
				}
			}
			if !exists(last) {
				t.Errorf("%s, the other container's, was removed", last)
			}
		})
	}
}
