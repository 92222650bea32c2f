// Package cgroup limits what a container may use — memory, tasks, CPU time,
// which CPUs — and reads back what it used, through the kernel's control
// groups (see cgroups(7)).
//
// A cgroup is a directory in a special filesystem; its files are its
// settings and statistics. Creating one is mkdir(2), a limit is a write(2)
// into a file such as memory.max, and a process joins by writing its PID
// into cgroup.procs. There are two layouts:
//
//	cgroup v2 (Unified): one tree, every controller in it
//	  /sys/fs/cgroup/minicontainer/ID/{memory.max, pids.max, cpu.max, cgroup.procs, ...}
//	cgroup v1 (Legacy, Hybrid): one tree per controller
//	  /sys/fs/cgroup/memory/minicontainer/ID/memory.limit_in_bytes
//	  /sys/fs/cgroup/pids/minicontainer/ID/pids.max
//	  /sys/fs/cgroup/cpu/minicontainer/ID/cpu.cfs_quota_us ...
//
// Cgroup is the one interface; New picks the v2 or the v1 driver from what
// Detect found. Where cgroups go: like runc with its cgroupfs driver and a
// cgroupsPath of "/minicontainer/ID", each container's cgroup is a child
// of a parent directory named "minicontainer" at the top of each hierarchy.
// The parent is made on demand (on v2 with the controllers enabled in
// cgroup.subtree_control on the way down, on v1 with cpuset.cpus/mems
// copied from above) and removed again when the last container leaves it.
// A parent may have several levels (a Spec's cgroupsPath "/a/b/ID"), or
// none (the cgroup at the root): each level is made if missing, and
// removed only if minicontainer made it (madeMode). A --cgroup-parent or
// level that existed before is never removed. Nothing outside the parent
// is ever created or removed. The container has a cgroup in
// every hierarchy the host has, also those whose controllers it does not
// use (see newV1).
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"golang.org/x/sys/unix"
)

// Parent is the directory under each hierarchy's root that holds the
// containers' cgroups.
const Parent = "minicontainer"

// ErrExists is Create's error when the cgroup's directory is there
// already: another container's (two Specs may give the same cgroupsPath),
// or one gc has not reclaimed. Create leaves nothing of its own behind
// then, and the caller must not remove the cgroup: it is not its.
var ErrExists = errors.New("cgroup already exists")

// Cgroup is one container's cgroup, on either driver. Methods that remove
// things tolerate what is already gone, so a half-made cgroup, or one a
// killed minicontainer left behind, can be reclaimed with KillAll+Destroy.
type Cgroup interface {
	// Paths are the cgroup's directories: one on v2, one per hierarchy on v1.
	Paths() []string
	// Create makes the parent (if needed) and the cgroup, with the
	// controllers the driver uses enabled. It fails with ErrExists if the
	// cgroup exists, having removed what it made.
	Create() error
	// Apply writes the limits into the cgroup's files.
	Apply(Limits) error
	// SetDevices restricts the devices the cgroup's processes may open
	// or create (mknod) to rules, from DeviceRules: devices.deny and
	// devices.allow on v1, a device program on v2 (see devices.go). Call
	// it after Create, before any process of the container runs in the
	// cgroup; the rules last until the cgroup is removed. x narrates
	// each step.
	SetDevices(rules []DeviceRule, x *explain.Narrator) error
	// CloneFD returns a descriptor of the cgroup directory for clone3's
	// CLONE_INTO_CGROUP (SysProcAttr.UseCgroupFD), so the child is born
	// inside it; ok is false on v1, where that flag does not work and Add
	// must be used instead. The caller closes the file.
	CloneFD() (f *os.File, ok bool, err error)
	// Joined reports whether CloneFD alone places a child in all the
	// cgroup's hierarchies. When it does not (v1; v2 on a hybrid host,
	// whose v1 hierarchies clone3 cannot place it in), Add must follow,
	// and the cgroup namespace be made after it.
	Joined() bool
	// Add moves a process into the cgroup (all hierarchies on v1).
	Add(pid int) error
	// Procs lists the processes in the cgroup.
	Procs() ([]int, error)
	// Stats reads what the cgroup used.
	Stats() (Stats, error)
	// KillAll sends SIGKILL to every process in the cgroup and waits
	// until none is left.
	KillAll() error
	// Destroy removes the cgroup, and the parent if it is empty.
	Destroy() error
}

// Stats is what a container used. Counters the kernel does not have are 0.
type Stats struct {
	MemoryCurrent uint64        // bytes charged now: memory.current / memory.usage_in_bytes
	MemoryPeak    uint64        // most bytes ever charged: memory.peak / memory.max_usage_in_bytes
	MemoryLimit   int64         // the limit in force, 0 if none
	MemoryMaxHits uint64        // times usage hit the limit: memory.events "max" / memory.failcnt
	OOMKills      uint64        // processes the OOM killer killed: memory.events / memory.oom_control "oom_kill"
	PidsCurrent   uint64        // tasks now: pids.current
	PidsLimit     int64         // the limit in force, 0 if none
	PidsRefused   uint64        // fork/clone refused at the limit: pids.events "max"
	CPUUsage      time.Duration // CPU time used: cpu.stat usage_usec / cpuacct.usage
	CPUThrottled  uint64        // periods in which the quota ran out: cpu.stat nr_throttled
}

// New returns the cgroup named name (a container ID) under parent, on the
// driver the host's mode calls for: v2 on Unified hosts, v1 on Legacy and
// Hybrid ones. parent is a path below each hierarchy's root, of one level
// ("minicontainer") or more ("a/b"), or "" for the root itself. It creates nothing; see Create. The narrator shows every
// directory made and file written (nil: silent).
func New(h *Host, parent, name string, n *explain.Narrator) (Cgroup, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("bad cgroup name %q", name)
	}
	for _, level := range levels(parent) {
		if level == "" || strings.Contains(level, "\x00") || level == "." || level == ".." {
			return nil, fmt.Errorf("bad cgroup parent %q", parent)
		}
	}
	fs := h.fs
	if fs == nil {
		fs = kernelFS{}
	}
	io := &files{fs: fs, n: n}
	switch h.Mode {
	case Unified:
		c := &v2{host: h, parent: parent, dir: filepath.Join(h.Unified, parent, name), f: io}
		if len(h.Hierarchy) > 0 { // a hybrid host used through its cgroup2 (--cgroup2)
			c.legacy = newV1(h, parent, name, false, io)
		}
		return c, nil
	case Legacy, Hybrid:
		return newV1(h, parent, name, true, io), nil
	}
	return nil, fmt.Errorf("this host has no cgroup filesystem")
}

// fsOps makes and removes cgroup directories. On cgroupfs mkdir also
// fills the directory with the controllers' files and rmdir removes them;
// the fake tree of the tests does both by hand.
type fsOps interface {
	Mkdir(path string, mode uint32) error
	Rmdir(path string) error
}

type kernelFS struct{}

func (kernelFS) Mkdir(p string, mode uint32) error { return unix.Mkdir(p, mode) }
func (kernelFS) Rmdir(p string) error              { return unix.Rmdir(p) }

// files does every directory and file operation of both drivers, narrating
// each change with the values given to the kernel.
type files struct {
	fs fsOps
	n  *explain.Narrator
	// parentPointed: the fault point "cgroup-parent" was passed (once per
	// Create, whatever the number of hierarchies).
	parentPointed bool
}

func (f *files) mkdir(p string) error {
	err := f.fs.Mkdir(p, 0o755)
	f.n.Call("cgroups(7)", fmt.Sprintf("mkdir(%q, 0755)", p), nil, err)
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return nil
}

// rmdir removes a cgroup directory. A cgroup whose last task has just been
// killed can stay busy for a moment while the task is torn down and reaped,
// so EBUSY is retried for up to two seconds.
func (f *files) rmdir(p string) error {
	var err error
	for i := 0; i < 200; i++ {
		if err = f.fs.Rmdir(p); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	f.n.Call("cgroups(7)", fmt.Sprintf("rmdir(%q)", p), nil, err)
	if err != nil {
		return fmt.Errorf("rmdir %s: %w", p, err)
	}
	return nil
}

// write writes one value into one cgroup file, as echo VALUE > FILE would:
// cgroupfs takes each write(2) as one command.
func (f *files) write(p, value string) error {
	// O_TRUNC as the shell's > does: cgroupfs ignores it, the fake tree
	// of the tests (regular files) needs it.
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		f.n.Call("cgroups(7)", fmt.Sprintf("open(%q, O_WRONLY)", p), nil, err)
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(value))
	f.n.Call("cgroups(7)", fmt.Sprintf("write(%q, %q)", p, value), n, err)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// read reads a small cgroup file with open(2), read(2), close(2). Not
// os.ReadFile: package os first tries to register every file it opens
// with the runtime's poller (fcntl, epoll_ctl, fstat, and epoll_ctl again
// to remove it), nine system calls instead of three, and a container start
// and end read a dozen of these files.
func (f *files) read(p string) (string, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var data []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return strings.TrimSpace(string(data)), nil
		}
		data = append(data, buf[:n]...)
	}
}

// readUint reads a file holding one number; "max" (no limit) reads as 0.
func (f *files) readUint(p string) (uint64, error) {
	s, err := f.read(p)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKeyed reads a flat-keyed file ("key value" lines) such as
// memory.events, cpu.stat, pids.events or memory.oom_control.
func (f *files) readKeyed(p string) (map[string]uint64, error) {
	s, err := f.read(p)
	if err != nil {
		return nil, err
	}
	return parseKeyed(s), nil
}

func parseKeyed(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// readProcs reads a cgroup.procs file.
func (f *files) readProcs(p string) ([]int, error) {
	s, err := f.read(p)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, l := range strings.Fields(s) {
		pid, err := strconv.Atoi(l)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", p, l)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// killTimeout bounds how long KillAll waits for a cgroup to empty.
const killTimeout = 10 * time.Second

// madeMode is the mode minicontainer makes a --cgroup-parent with: 0755
// and the sticky bit (S_ISVTX), which marks the directory as one that
// minicontainer made, so that whichever container leaves it last (even
// another state root's, or gc's after a SIGKILL) knows it may remove it.
// One without the bit existed before and may be an administrator's, with
// limits of its own (a pids.max...): it is never removed.
//
// The mark is given by the mkdir(2) that makes the directory — Linux
// honours S_ISVTX in mkdir's mode (see mkdir(2), NOTES), and cgroupfs
// keeps the mode it is given — so no moment exists at which the parent is
// made but not yet marked: a SIGKILL cannot leave an unmarked parent that
// nobody would remove, as it could between a mkdir and a marker made after
// it. No cgroup has the bit by itself (mkdir(1) and systemd make 0755).
// The bit means nothing else to the kernel here: it restricts the
// removal and renaming of a directory's entries to their owners (see
// inode(7)), and only root makes cgroups here.
//
// minicontainer's own Parent is made 0755: it is removed whenever it is
// empty, whoever made it.
const madeMode = 0o755 | unix.S_ISVTX

// levels splits a parent path ("a/b") into its directory names; "" has none.
func levels(parent string) []string {
	if parent == "" {
		return nil
	}
	return strings.Split(parent, "/")
}

// ownLevel reports whether level i of a parent path is minicontainer's own
// Parent: only at the top of a hierarchy ("minicontainer/..."), never
// deeper down, where a directory of that name is anyone's.
func ownLevel(parent []string, i int) bool { return i == 0 && parent[0] == Parent }

// makeParents makes the levels of parent that are missing below root, top
// down, and calls then(above, dir) on each level, made or found: what a
// driver must set on every level before a child can use its controllers
// (v1 cpuset.cpus/mems, v2 cgroup.subtree_control).
func (f *files) makeParents(root, parent string, then func(above, dir string) error) error {
	parts, above := levels(parent), root
	for i := range parts {
		dir := filepath.Join(above, parts[i])
		if err := f.makeParent(dir, ownLevel(parts, i)); err != nil {
			return err
		}
		if err := then(above, dir); err != nil {
			return err
		}
		above = dir
	}
	return nil
}

// removeParents removes the levels of parent below root that no container
// uses any more and that minicontainer made (removeParent), bottom up. It
// stops at the first level it leaves: the levels above hold that one.
func (f *files) removeParents(root, parent string) error {
	parts := levels(parent)
	for i := len(parts) - 1; i >= 0; i-- {
		dir := filepath.Join(append([]string{root}, parts[:i+1]...)...)
		if removed, err := f.removeParent(dir, ownLevel(parts, i)); err != nil || !removed {
			return err
		}
	}
	return nil
}

// makeParent makes one level of a parent path if it is not there: own is
// minicontainer's Parent, any other level (a --cgroup-parent, a level of
// a Spec's cgroupsPath) is made with madeMode.
func (f *files) makeParent(dir string, own bool) error {
	mode := uint32(madeMode)
	if own {
		mode = 0o755
	}
	err := f.fs.Mkdir(dir, mode)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	f.n.Call("cgroups(7)", fmt.Sprintf("mkdir(%q, %#o)", dir, mode), nil, err)
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if f.parentPointed {
		return nil
	}
	f.parentPointed = true
	return fault.Point(f.n, "cgroup-parent")
}

// madeByUs reports whether dir carries the mark of madeMode.
func madeByUs(dir string) bool {
	var st unix.Stat_t
	return unix.Stat(dir, &st) == nil && st.Mode&unix.S_ISVTX != 0
}

// oldMarker is how minicontainer marked a --cgroup-parent it made before
// madeMode: an empty child cgroup of this name, made after the parent (a
// SIGKILL in between left an unmarked parent). A parent an older
// minicontainer made that way is still taken as ours.
const oldMarker = ".made-by-minicontainer"

// removeParent removes one level of a shared parent that no container
// uses any more: minicontainer's own Parent (own), or one it made (see
// madeMode). removed is false when it was left (not ours, or in use).
func (f *files) removeParent(parent string, own bool) (removed bool, err error) {
	if !own && !madeByUs(parent) {
		if !exists(filepath.Join(parent, oldMarker)) {
			return false, nil // not ours: leave it, and its settings, as they were
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			return false, nil
		}
		for _, e := range entries {
			if e.IsDir() && e.Name() != oldMarker {
				return false, nil // another container's cgroup: the last one removes it
			}
		}
		if err := f.rmdir(filepath.Join(parent, oldMarker)); err != nil {
			return false, err
		}
	}
	return f.rmdirIfEmpty(parent)
}

// rmdirIfEmpty removes the shared parent when no other container's cgroup
// is left in it. The kernel refuses (EBUSY) a cgroup that still has
// children, so this never disturbs a running container; a fake tree
// answers ENOTEMPTY. removed is true when it is gone.
func (f *files) rmdirIfEmpty(p string) (removed bool, err error) {
	err = f.fs.Rmdir(p)
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	}
	f.n.Call("cgroups(7)", fmt.Sprintf("rmdir(%q)", p), nil, err)
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rmdir %s: %w", p, err)
	}
	return true, nil
}
