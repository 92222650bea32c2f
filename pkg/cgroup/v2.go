package cgroup

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// v2 is a cgroup in the unified hierarchy: one directory holds every
// controller's files. See the kernel's Documentation/admin-guide/cgroup-v2.rst.
type v2 struct {
	host   *Host
	parent string // below the root: "minicontainer" (see New)
	dir    string // <root>/<parent>/<id>
	f      *files
	// legacy is the container's cgroup in a hybrid host's v1 hierarchies
	// (--cgroup2): it must be in one of its own there too (see newV1).
	// nil on a pure v2 host.
	legacy *v1
}

// v2Controllers are the controllers a container's cgroup gets. On v2 a
// controller works in a cgroup only if its parent lists it in
// cgroup.subtree_control ("top-down constraint"), so Create enables these
// on the root and on the parent, the way runc and systemd do.
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

func (c *v2) Paths() []string {
	if c.legacy != nil {
		return append([]string{c.dir}, c.legacy.Paths()...)
	}
	return []string{c.dir}
}

func (c *v2) Create() error {
	var err error
	// Another container ending at this moment may remove the empty parent
	// between our mkdirs; then the child's mkdir fails with ENOENT and we
	// make the parent again.
	for try := 0; try < 3; try++ {
		if err = c.makeParent(); err != nil {
			return err
		}
		if err = c.f.mkdir(c.dir); !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	if errors.Is(err, unix.EEXIST) {
		c.f.removeParents(c.host.Unified, c.parent)
		return fmt.Errorf("%s: %w (a container with this ID or cgroupsPath is running, or `minicontainer gc` has not reclaimed it)", c.dir, ErrExists)
	}
	if err != nil || c.legacy == nil {
		return err
	}
	if err := c.legacy.Create(); err != nil {
		if errors.Is(err, ErrExists) {
			c.f.rmdir(c.dir)
			c.f.removeParents(c.host.Unified, c.parent)
		}
		return err
	}
	return nil
}

// Joined reports whether clone3(CLONE_INTO_CGROUP) with CloneFD places a
// child in every hierarchy of the cgroup: not on a hybrid host, where Add
// must still put it in its v1 cgroups.
func (c *v2) Joined() bool { return c.legacy == nil }

// makeParent creates the parent's missing levels and enables our
// controllers for the children of the root and of each level. The "no
// internal processes" rule (a cgroup with controllers enabled for its
// children may hold no processes itself) is why containers go one level
// down, never into the parent itself.
func (c *v2) makeParent() error {
	if err := c.enable(c.host.Unified); err != nil {
		return err
	}
	return c.f.makeParents(c.host.Unified, c.parent, func(_, dir string) error { return c.enable(dir) })
}

// enable writes "+cpu +memory ..." into dir's cgroup.subtree_control for
// the controllers dir offers (cgroup.controllers) that are not enabled yet.
// It writes nothing when all are already on, as on a systemd host's root.
func (c *v2) enable(dir string) error {
	offered, err := c.f.read(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, "cgroup.controllers"), err)
	}
	enabled, err := c.f.read(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, "cgroup.subtree_control"), err)
	}
	has := func(list, c string) bool {
		for _, x := range strings.Fields(list) {
			if x == c {
				return true
			}
		}
		return false
	}
	want := v2Controllers
	if c.host.enable != nil { // a delegated subtree: only what the limits need
		want = c.host.enable
	}
	var add []string
	for _, ctrl := range want {
		if has(offered, ctrl) && !has(enabled, ctrl) {
			add = append(add, "+"+ctrl)
		}
	}
	if len(add) == 0 {
		return nil
	}
	file := filepath.Join(dir, "cgroup.subtree_control")
	if err := c.f.write(file, strings.Join(add, " ")); err == nil {
		return nil
	}
	// One controller can refuse (cpu, while a real-time thread sits in
	// the root cgroup: EINVAL) and the kernel then enables none. Like runc,
	// enable them one by one and go on without the ones refused: a limit
	// that needs one fails in Apply, naming its file.
	for _, a := range add {
		c.f.write(file, a)
	}
	return nil
}

func (c *v2) Apply(l Limits) error {
	type setting struct{ file, value string }
	var s []setting
	if l.CpusetCPUs != "" {
		s = append(s, setting{"cpuset.cpus", l.CpusetCPUs})
	}
	if l.CpusetMems != "" {
		s = append(s, setting{"cpuset.mems", l.CpusetMems})
	}
	if l.Memory != 0 {
		s = append(s, setting{"memory.max", strconv.FormatInt(l.Memory, 10)})
		// No swap either, as docker's --memory-swap equal to --memory:
		// otherwise a hog is swapped out instead of OOM-killed.
		if exists(filepath.Join(c.dir, "memory.swap.max")) {
			s = append(s, setting{"memory.swap.max", "0"})
		}
	}
	if l.Pids != 0 {
		s = append(s, setting{"pids.max", strconv.FormatInt(l.Pids, 10)})
	}
	if quota, period, ok := l.bandwidth(); ok {
		// "$MAX $PERIOD": up to MAX µs of CPU time in each PERIOD µs.
		s = append(s, setting{"cpu.max", fmt.Sprintf("%d %d", quota, period)})
	}
	if w := cmp.Or(l.CPUWeight, SharesToWeight(l.CPUShares)); w != 0 {
		s = append(s, setting{"cpu.weight", strconv.FormatUint(w, 10)})
	}
	for _, x := range s {
		if err := c.f.write(filepath.Join(c.dir, x.file), x.value); err != nil {
			return err
		}
	}
	return nil
}

func (c *v2) CloneFD() (*os.File, bool, error) {
	// clone3(2) CLONE_INTO_CGROUP wants a descriptor of the cgroup
	// directory (O_PATH is not enough: the kernel reads it with fdget).
	f, err := os.OpenFile(c.dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, false, fmt.Errorf("opening cgroup %s: %w", c.dir, err)
	}
	return f, true, nil
}

func (c *v2) Add(pid int) error {
	if err := c.f.write(filepath.Join(c.dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return err
	}
	if c.legacy != nil {
		return c.legacy.Add(pid)
	}
	return nil
}

func (c *v2) Procs() ([]int, error) {
	return c.f.readProcs(filepath.Join(c.dir, "cgroup.procs"))
}

func (c *v2) Stats() (Stats, error) {
	var s Stats
	p := func(name string) string { return filepath.Join(c.dir, name) }
	if !exists(c.dir) {
		return s, fmt.Errorf("cgroup %s: %w", c.dir, os.ErrNotExist)
	}
	s.MemoryCurrent, _ = c.f.readUint(p("memory.current"))
	s.MemoryPeak, _ = c.f.readUint(p("memory.peak")) // Linux 5.19+
	if v, err := c.f.readUint(p("memory.max")); err == nil {
		s.MemoryLimit = int64(v)
	}
	if ev, err := c.f.readKeyed(p("memory.events")); err == nil {
		s.MemoryMaxHits, s.OOMKills = ev["max"], ev["oom_kill"]
	}
	s.PidsCurrent, _ = c.f.readUint(p("pids.current"))
	if v, err := c.f.readUint(p("pids.max")); err == nil {
		s.PidsLimit = int64(v)
	}
	if ev, err := c.f.readKeyed(p("pids.events")); err == nil {
		s.PidsRefused = ev["max"]
	}
	// cpu.stat exists even without the cpu controller (usage only).
	if st, err := c.f.readKeyed(p("cpu.stat")); err == nil {
		s.CPUUsage = time.Duration(st["usage_usec"]) * time.Microsecond
		s.CPUThrottled = st["nr_throttled"]
	}
	return s, nil
}

// populated reads cgroup.events: "populated 1" while any process is in
// the cgroup or below it.
func (c *v2) populated() (bool, error) {
	ev, err := c.f.readKeyed(filepath.Join(c.dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	return ev["populated"] == 1, nil
}

func (c *v2) KillAll() error {
	if busy, err := c.populated(); err != nil || !busy {
		return nil // gone, or nothing to kill: the usual case once PID 1 has exited
	}
	if exists(filepath.Join(c.dir, "cgroup.kill")) {
		// Linux 5.14+: the kernel SIGKILLs every task in the cgroup and
		// its descendants at once, also ones forking right now.
		if err := c.f.write(filepath.Join(c.dir, "cgroup.kill"), "1"); err != nil {
			return err
		}
	} else if err := c.killEach(); err != nil {
		return err
	}
	deadline := time.Now().Add(killTimeout)
	for {
		busy, err := c.populated()
		if err != nil {
			return fmt.Errorf("waiting for %s to empty: %w", c.dir, err)
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in %s after %v", c.dir, killTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killEach is KillAll before cgroup.kill: freeze (cgroup.freeze, Linux
// 5.2+) so nothing forks while we read the list, SIGKILL each process,
// thaw so the killed processes can run their exit.
func (c *v2) killEach() error {
	freeze := filepath.Join(c.dir, "cgroup.freeze")
	frozen := exists(freeze) && c.f.write(freeze, "1") == nil
	procs, err := c.Procs()
	for _, pid := range procs {
		unix.Kill(pid, unix.SIGKILL)
	}
	if frozen {
		if err := c.f.write(freeze, "0"); err != nil {
			return err
		}
	}
	return err
}

func (c *v2) Destroy() error {
	if c.legacy != nil {
		// Killed through cgroup.kill (KillAll); its v1 cgroups are empty.
		if err := c.legacy.KillAll(); err != nil {
			return err
		}
		if err := c.legacy.Destroy(); err != nil {
			return err
		}
	}
	if err := c.f.rmdir(c.dir); err != nil {
		return err
	}
	return c.f.removeParents(c.host.Unified, c.parent)
}
