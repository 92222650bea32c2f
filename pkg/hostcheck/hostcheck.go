// Package hostcheck lets a test prove it left the host as it found it:
// the mount table, cgroups, network links, nftables tables, ip_forward,
// state directories, processes and the account files (/etc/passwd...).
//
//	defer hostcheck.Take(t).Verify(t)
//
// Take records the state; Verify records it again and fails the test with
// what was added or removed. Several engineers (and packages) may run
// tests on one machine at once, so a Snapshot can be narrowed to what the
// test could possibly have created (Only).
package hostcheck

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/proc"
)

// Snapshot is a set of lines describing host state, each prefixed by what
// it is ("mount ", "cgroup ", "link ", "nft table ",
// "sysctl ", "state ", "process "), keyed by
// what identifies the thing. For a mount, a cgroup, a link or a state entry
// the line is its own identity. A process is identified by its PID and
// start time (see pkg/proc), never by its command line: a process that
// calls execve(2) between Take and Verify changes its command line but is
// still the same process, and a PID reused by a new process is not.
type Snapshot struct {
	lines map[string]string // identity → line
	only  []string
}

// StateDirs are the directories whose entries are recorded; tests may add theirs.
var StateDirs = []string{"/run/minicontainer", "/var/lib/minicontainer/containers"}

// Take records the host's state now. It also makes the test process a child
// subreaper (see prctl(2), PR_SET_CHILD_SUBREAPER) so that a process the
// test leaves behind is re-parented to it and Verify can find it.
func Take(t testing.TB, only ...string) *Snapshot {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	s := &Snapshot{only: only}
	s.lines = read(t)
	return s
}

// verifyFor is how long Verify waits for exiting processes and lazy
// unmounts before it reports them.
var verifyFor = 10 * time.Second

// Verify fails the test if the host differs from the snapshot. Processes
// are given a moment to exit first; any still there are killed so the next
// test starts clean.
func (s *Snapshot) Verify(t testing.TB) {
	t.Helper()
	var d []string
	for deadline := time.Now().Add(verifyFor); ; time.Sleep(50 * time.Millisecond) {
		if d = s.diff(read(t)); len(d) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, d := range d {
		t.Errorf("host state changed: %s", d)
	}
	killOrphans()
}

// diff lists what differs between the snapshot and now, by identity. With
// Only, a thing counts when its line matched in either snapshot: a process
// whose command line changed by an exec stays in view.
func (s *Snapshot) diff(now map[string]string) []string {
	var d []string
	for id, l := range now {
		if _, ok := s.lines[id]; !ok && s.watched(l) {
			d = append(d, "left behind: "+l)
		}
	}
	for id, l := range s.lines {
		if _, ok := now[id]; !ok && s.watched(l) {
			d = append(d, "removed: "+l)
		}
	}
	sort.Strings(d)
	return d
}

// watched reports whether line l is one the snapshot was narrowed to.
func (s *Snapshot) watched(l string) bool {
	if len(s.only) == 0 {
		return true
	}
	for _, o := range s.only {
		if strings.Contains(l, o) {
			return true
		}
	}
	return false
}

// read records the host's state now: identity → line.
func read(t testing.TB) map[string]string {
	t.Helper()
	m := map[string]string{}
	add := func(l string) { m[l] = l }
	for _, l := range Mounts(t) {
		add("mount " + l)
	}
	for _, l := range cgroups() {
		add("cgroup " + l)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	for _, i := range ifs {
		add("link " + i.Name)
	}
	for _, dir := range StateDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			add("state " + filepath.Join(dir, e.Name()))
		}
	}
	for _, p := range orphans() {
		m[fmt.Sprintf("process %d@%d", p.pid, p.start)] = fmt.Sprintf("process %d %s", p.pid, p.cmdline)
	}
	for _, l := range netState() {
		add(l)
	}
	for _, l := range accounts() {
		add(l)
	}
	return m
}

// AccountFiles are the files useradd(8) and userdel(8) change (with their
// "-" backups): a test that makes a user must leave them as they were.
var AccountFiles = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/subuid", "/etc/subgid"}

// accounts records each account file by a hash of its bytes: the line
// changes when the content does.
func accounts() []string {
	var l []string
	for _, f := range AccountFiles {
		for _, p := range []string{f, f + "-"} {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			l = append(l, fmt.Sprintf("account %s sha256:%x", p, sha256.Sum256(data)))
		}
	}
	return l
}

// Mounts returns the host mount table as "MOUNTPOINT FSTYPE SOURCE" lines
// from /proc/self/mountinfo (see proc(5)).
func Mounts(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("reading mount table: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		fields := strings.Fields(sc.Text())
		sep := 0
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep == 0 || len(fields) < sep+3 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s", fields[4], fields[sep+1], fields[sep+2]))
	}
	return out
}

// cgroups lists cgroup directories, at any depth up to 4, under every
// mounted cgroup hierarchy, whose name mentions minicontainer or a test.
// Not the containers' cgroups inside them (named by ID): cgroups are not
// namespaced, and those of other runs on the machine would come and go in
// every snapshot. A test that uses a parent of its own sees its leaks: a
// cgroup left inside keeps the parent there.
func cgroups() []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) != nil || (st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC) {
			continue
		}
		walk(root, 0, func(p string) {
			if strings.Contains(filepath.Base(p), "minicontainer") || strings.Contains(filepath.Base(p), "mctest") {
				out = append(out, p)
			}
		})
	}
	return out
}

func walk(dir string, depth int, fn func(string)) {
	if depth > 4 {
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			p := filepath.Join(dir, e.Name())
			fn(p)
			walk(p, depth+1, fn)
		}
	}
}

// process is one process: its identity (PID and start time) and, for
// messages only, its command line.
type process struct {
	pid     int
	start   uint64
	cmdline string
}

// orphans lists live processes whose parent is this (subreaper) test
// process: a child the test never waited for, or a grandchild re-parented
// here because it outlived its parent.
func orphans() []process {
	self := os.Getpid()
	var out []process
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(data)
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(rest) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(rest[1])
		if ppid != self || rest[0] == "Z" {
			continue
		}
		// Our child: only we can reap it, so its PID cannot be reused
		// between the two reads.
		start := proc.StartTime(pid)
		if start == 0 {
			continue // it exited meanwhile
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, process{pid, start, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")})
	}
	return out
}

func killOrphans() {
	for _, o := range orphans() {
		unix.Kill(o.pid, unix.SIGKILL)
	}
	for {
		if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}
