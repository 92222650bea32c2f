// Package hostcheck lets a test prove it left the host as it found it:
// the mount table, cgroups, network links, state directories and processes.
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
)

// Snapshot is a set of lines describing host state, each prefixed by what
// it is ("mount ", "cgroup ", "link ", "state ", "process ").
type Snapshot struct {
	lines map[string]bool
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
	s.lines = s.read(t)
	return s
}

// Verify fails the test if the host differs from the snapshot. Processes
// are given a moment to exit first; any still there are killed so the next
// test starts clean.
func (s *Snapshot) Verify(t testing.TB) {
	t.Helper()
	var now map[string]bool
	for i := 0; i < 50; i++ { // up to 5 s for exiting processes and lazy unmounts
		now = s.read(t)
		if len(diff(s.lines, now)) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range diff(s.lines, now) {
		t.Errorf("host state changed: %s", d)
	}
	killOrphans()
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
	sort.Strings(d)
	return d
}

func (s *Snapshot) read(t testing.TB) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	add := func(l string) {
		if len(s.only) == 0 {
			m[l] = true
			return
		}
		for _, o := range s.only {
			if strings.Contains(l, o) {
				m[l] = true
				return
			}
		}
	}
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
		add("process " + p)
	}
	return m
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

// orphans lists live processes whose parent is this (subreaper) test
// process: a child the test never waited for, or a grandchild re-parented
// here because it outlived its parent.
func orphans() []string {
	self := os.Getpid()
	var out []string
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
		if ppid == self && rest[0] != "Z" {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
		}
	}
	return out
}

func killOrphans() {
	for _, o := range orphans() {
		pid, _ := strconv.Atoi(strings.Fields(o)[0])
		unix.Kill(pid, unix.SIGKILL)
	}
	for {
		if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}
