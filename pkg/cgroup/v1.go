package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// v1 is a cgroup in the v1 hierarchies: one directory per hierarchy, each
// with the files of the controllers mounted there. See the kernel's
// Documentation/admin-guide/cgroup-v1/.
type v1 struct {
	// parent: the path below each hierarchy's root that holds the
	// cgroup (see New). Its levels minicontainer made are removed when the
	// last container leaves them (makeParents, removeParents).
	parent string
	name   string
	hier   []hierarchy // in the order tasks join them
	f      *files
}

// hierarchy is one v1 mount (one controller, or several co-mounted as
// "cpu,cpuacct") and our cgroup's directory in it.
type hierarchy struct {
	root        string   // the mount point, /sys/fs/cgroup/memory
	controllers []string // the controllers we use from it
	dir         string   // root/minicontainer/<id>
}

// v1Used are the v1 controllers a container joins, cpuset first: until
// cpuset.cpus and cpuset.mems are set, joining it fails, and it is the one
// a half-made cgroup most often trips on. cpuacct for CPU time, freezer to
// stop every task before killing them.
var v1Used = []string{"cpuset", "cpu", "cpuacct", "memory", "pids", "freezer"}

// newV1 lays the cgroup out in every v1 hierarchy of the host: those of
// v1Used first (their controllers limit and count), then every other one —
// devices, blkio, net_cls, named ones such as name=systemd — and, with
// unified, a hybrid host's cgroup2. A container must be in a cgroup of its
// own in EVERY hierarchy (runc joins them all): the cgroup namespace it
// unshares takes, in each hierarchy, the cgroup it is in then as its root,
// and in a hierarchy it never joined that is the host's cgroup (here the
// root), which a process inside could then reach by mounting that
// hierarchy: a release_agent to write, cgroups to make, other containers'
// cgroup.kill and pids.max.
func newV1(h *Host, parent, name string, unified bool, f *files) *v1 {
	c := &v1{parent: parent, name: name, f: f}
	byRoot := map[string]int{}
	for _, ctrl := range v1Used {
		root, ok := h.V1[ctrl]
		if !ok {
			continue
		}
		if i, seen := byRoot[root]; seen { // co-mounted, like cpu,cpuacct
			c.hier[i].controllers = append(c.hier[i].controllers, ctrl)
			continue
		}
		byRoot[root] = len(c.hier)
		c.hier = append(c.hier, hierarchy{root: root, controllers: []string{ctrl}, dir: filepath.Join(root, parent, name)})
	}
	others := []string{}
	for _, m := range h.Hierarchy {
		others = append(others, m.Dir)
	}
	if unified && h.Unified != "" {
		others = append(others, h.Unified)
	}
	for _, root := range others {
		if _, seen := byRoot[root]; seen {
			continue
		}
		byRoot[root] = len(c.hier)
		// Joined only: none of their controllers is used.
		c.hier = append(c.hier, hierarchy{root: root, dir: filepath.Join(root, parent, name)})
	}
	return c
}

func (h hierarchy) has(ctrl string) bool {
	for _, c := range h.controllers {
		if c == ctrl {
			return true
		}
	}
	return false
}

// dirOf is our directory in the hierarchy carrying ctrl, "" if none.
func (c *v1) dirOf(ctrl string) string {
	for _, h := range c.hier {
		if h.has(ctrl) {
			return h.dir
		}
	}
	return ""
}

func (c *v1) Paths() []string {
	var p []string
	for _, h := range c.hier {
		p = append(p, h.dir)
	}
	return p
}

func (c *v1) Create() error {
	for i, h := range c.hier {
		var err error
		// As on v2: retry if a container ending now removed the parent.
		for try := 0; try < 3; try++ {
			if err = c.makeParents(h); err != nil {
				return err
			}
			if err = c.f.mkdir(h.dir); !errors.Is(err, unix.ENOENT) {
				break
			}
		}
		if errors.Is(err, unix.EEXIST) {
			// Not ours: undo only the hierarchies made before this one.
			c.destroy(c.hier[:i])
			return fmt.Errorf("%s: %w (a container with this ID or cgroupsPath is running, or `minicontainer gc` has not reclaimed it)", h.dir, ErrExists)
		}
		if err != nil {
			return err
		}
		if h.has("cpuset") {
			if err := c.inheritCpuset(filepath.Dir(h.dir), h.dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// makeParents makes the parent's missing levels in one hierarchy; in the
// cpuset one each level gets cpuset.cpus/mems from the level above.
func (c *v1) makeParents(h hierarchy) error {
	return c.f.makeParents(h.root, c.parent, func(above, dir string) error {
		if h.has("cpuset") {
			return c.inheritCpuset(above, dir)
		}
		return nil
	})
}

// inheritCpuset is the classic v1 trap: a new cpuset cgroup starts with
// empty cpuset.cpus and cpuset.mems, and writing a PID into its
// cgroup.procs then fails with ENOSPC (see cpuset(7)). Copy both from
// the parent, as runc does (unless cgroup.clone_children did it already).
func (c *v1) inheritCpuset(from, to string) error {
	for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := c.f.read(filepath.Join(to, name))
		if err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Join(to, name), err)
		}
		if cur != "" {
			continue
		}
		val, err := c.f.read(filepath.Join(from, name))
		if err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Join(from, name), err)
		}
		if err := c.f.write(filepath.Join(to, name), val); err != nil {
			return err
		}
	}
	return nil
}

func (c *v1) Apply(l Limits) error {
	type setting struct{ ctrl, file, value string }
	var s []setting
	if l.CpusetCPUs != "" {
		s = append(s, setting{"cpuset", "cpuset.cpus", l.CpusetCPUs})
	}
	if l.CpusetMems != "" {
		s = append(s, setting{"cpuset", "cpuset.mems", l.CpusetMems})
	}
	if l.Memory != 0 {
		v := strconv.FormatInt(l.Memory, 10)
		s = append(s, setting{"memory", "memory.limit_in_bytes", v})
		// memsw is memory+swap; equal to the memory limit means no swap.
		// It exists only with swap accounting, and must be written after
		// memory.limit_in_bytes (the kernel keeps memsw >= memory).
		if d := c.dirOf("memory"); d != "" && exists(filepath.Join(d, "memory.memsw.limit_in_bytes")) {
			s = append(s, setting{"memory", "memory.memsw.limit_in_bytes", v})
		}
	}
	if l.Pids != 0 {
		s = append(s, setting{"pids", "pids.max", strconv.FormatInt(l.Pids, 10)})
	}
	if quota, period, ok := l.bandwidth(); ok {
		s = append(s,
			setting{"cpu", "cpu.cfs_period_us", strconv.FormatUint(period, 10)},
			setting{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)})
	}
	if l.CPUWeight != 0 {
		s = append(s, setting{"cpu", "cpu.shares", strconv.FormatUint(WeightToShares(l.CPUWeight), 10)})
	} else if l.CPUShares != 0 {
		s = append(s, setting{"cpu", "cpu.shares", strconv.FormatUint(l.CPUShares, 10)})
	}
	for _, x := range s {
		d := c.dirOf(x.ctrl)
		if d == "" {
			return fmt.Errorf("this host has no %s cgroup controller", x.ctrl)
		}
		if err := c.f.write(filepath.Join(d, x.file), x.value); err != nil {
			return err
		}
	}
	return nil
}

// CloneFD: CLONE_INTO_CGROUP takes a cgroup2 directory only.
func (c *v1) CloneFD() (*os.File, bool, error) { return nil, false, nil }

// Joined: never at clone on v1 (see Add).
func (c *v1) Joined() bool { return false }

// Add writes the PID into cgroup.procs in every hierarchy; the process
// moves with all its threads (see cgroups(7), "Creating cgroups and moving
// processes"). Children it forks later start in the same cgroups.
func (c *v1) Add(pid int) error {
	for _, h := range c.hier {
		if err := c.f.write(filepath.Join(h.dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Procs lists the processes in any of our hierarchies.
func (c *v1) Procs() ([]int, error) {
	seen := map[int]bool{}
	var all []int
	for _, h := range c.hier {
		pids, err := c.f.readProcs(filepath.Join(h.dir, "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				all = append(all, p)
			}
		}
	}
	sort.Ints(all)
	return all, nil
}

// unlimitedV1 is what v1 shows for "no limit": the largest page-aligned
// int64 (9223372036854771712 with 4 KiB pages).
const unlimitedV1 = 1 << 62

func (c *v1) Stats() (Stats, error) {
	var s Stats
	if len(c.hier) == 0 || !exists(c.hier[0].dir) {
		return s, fmt.Errorf("cgroup %s/%s: %w", c.parent, c.name, os.ErrNotExist)
	}
	if d := c.dirOf("memory"); d != "" {
		s.MemoryCurrent, _ = c.f.readUint(filepath.Join(d, "memory.usage_in_bytes"))
		s.MemoryPeak, _ = c.f.readUint(filepath.Join(d, "memory.max_usage_in_bytes"))
		if v, err := c.f.readUint(filepath.Join(d, "memory.limit_in_bytes")); err == nil && v < unlimitedV1 {
			s.MemoryLimit = int64(v)
		}
		// failcnt counts charges refused at memory.limit_in_bytes; with
		// memsw set to the same value the kernel here counted neither it
		// nor memory.memsw.failcnt when a hog was OOM-killed, so take the
		// larger and rely on oom_kill for "was it killed".
		hits, _ := c.f.readUint(filepath.Join(d, "memory.failcnt"))
		swHits, _ := c.f.readUint(filepath.Join(d, "memory.memsw.failcnt"))
		s.MemoryMaxHits = max(hits, swHits)
		// "oom_kill N" appeared in Linux 4.13.
		if oc, err := c.f.readKeyed(filepath.Join(d, "memory.oom_control")); err == nil {
			s.OOMKills = oc["oom_kill"]
		}
	}
	if d := c.dirOf("pids"); d != "" {
		s.PidsCurrent, _ = c.f.readUint(filepath.Join(d, "pids.current"))
		if v, err := c.f.readUint(filepath.Join(d, "pids.max")); err == nil {
			s.PidsLimit = int64(v)
		}
		if ev, err := c.f.readKeyed(filepath.Join(d, "pids.events")); err == nil {
			s.PidsRefused = ev["max"]
		}
	}
	if d := c.dirOf("cpuacct"); d != "" {
		ns, _ := c.f.readUint(filepath.Join(d, "cpuacct.usage")) // nanoseconds
		s.CPUUsage = time.Duration(ns)
	}
	if d := c.dirOf("cpu"); d != "" {
		if st, err := c.f.readKeyed(filepath.Join(d, "cpu.stat")); err == nil {
			s.CPUThrottled = st["nr_throttled"]
		}
	}
	return s, nil
}

// KillAll freezes the cgroup (freezer.state FROZEN) so no task can fork
// while we read the list, sends SIGKILL to each, thaws it so they can
// die, and waits until no task is left — what runc does on v1. Without a
// freezer it repeats kill-each until the list stays empty.
func (c *v1) KillAll() error {
	if procs, err := c.Procs(); err == nil && len(procs) == 0 {
		return nil // nothing to kill: the usual case once PID 1 has exited
	}
	fz := c.dirOf("freezer")
	frozen := false
	if fz != "" && exists(fz) {
		if err := c.freeze(fz); err != nil {
			return err
		}
		frozen = true
	}
	procs, err := c.Procs()
	if err != nil {
		return err
	}
	for _, pid := range procs {
		unix.Kill(pid, unix.SIGKILL)
	}
	if frozen {
		if err := c.f.write(filepath.Join(fz, "freezer.state"), "THAWED"); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(killTimeout)
	for {
		procs, err := c.Procs()
		if err != nil {
			return err
		}
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in cgroup %s/%s after %v", procs, c.parent, c.name, killTimeout)
		}
		for _, pid := range procs { // without a freezer, new forks get killed here
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freeze writes FROZEN and waits while the state reads FREEZING (tasks
// stop at their next return to user space).
func (c *v1) freeze(dir string) error {
	state := filepath.Join(dir, "freezer.state")
	if err := c.f.write(state, "FROZEN"); err != nil {
		return err
	}
	deadline := time.Now().Add(killTimeout)
	for {
		s, err := c.f.read(state)
		if err != nil {
			return fmt.Errorf("reading %s: %w", state, err)
		}
		if s == "FROZEN" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still %s after %v", state, s, killTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Destroy removes our directory in every hierarchy, then the levels of
// the parent that no other container uses and that minicontainer made.
func (c *v1) Destroy() error { return c.destroy(c.hier) }

// destroy is Destroy in the hierarchies hier.
func (c *v1) destroy(hier []hierarchy) error {
	var first error
	for _, h := range hier {
		if err := c.f.rmdir(h.dir); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for _, h := range hier {
		if err := c.f.removeParents(h.root, c.parent); err != nil {
			return err
		}
	}
	return nil
}
