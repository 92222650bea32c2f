package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how a host mounts its cgroup hierarchies (see cgroups(7),
// "CGROUPS VERSION 1" and "CGROUPS VERSION 2").
type Mode int

const (
	// Unified is pure cgroup v2: one cgroup2 filesystem at /sys/fs/cgroup
	// holding every controller. Current distributions boot this way.
	Unified Mode = iota + 1
	// Legacy is pure cgroup v1: a tmpfs at /sys/fs/cgroup and one cgroup
	// filesystem per controller (or per group of co-mounted controllers)
	// under it, /sys/fs/cgroup/memory, /sys/fs/cgroup/pids, ...
	Legacy
	// Hybrid is v1 for the controllers plus an (empty) cgroup2 at
	// /sys/fs/cgroup/unified that systemd uses only to track processes.
	// A controller is bound to one hierarchy at a time, so all limits
	// go through the v1 hierarchies.
	Hybrid
)

func (m Mode) String() string {
	switch m {
	case Unified:
		return "cgroup v2"
	case Legacy:
		return "cgroup v1"
	case Hybrid:
		return "hybrid: v1 controllers, empty cgroup2"
	}
	return "no cgroups"
}

// Host describes the cgroup filesystems of this machine: where they are
// mounted and which controllers they carry. Tests build one by hand around
// a fake tree in a temporary directory.
type Host struct {
	Mode       Mode
	Unified    string            // cgroup2 mount point, "" if none
	V1         map[string]string // v1 controller name → its hierarchy's mount point
	V2         []string          // controllers the cgroup2 root offers (its cgroup.controllers)
	Hierarchy  []V1Mount         // every v1 hierarchy, also those without controllers (name=systemd)
	OnlineCPUs []int             // from /sys/devices/system/cpu/online
	// Delegated is, for a user other than root, the root of the cgroup v2
	// subtree delegated to it, below the cgroup2 mount (see delegate.go);
	// Unified is then that subtree's directory. "" for root's host.
	Delegated string

	// enable are the controllers the v2 driver enables for the children
	// of the root and of the parent; nil means v2Controllers.
	enable []string
	fs     fsOps // how directories are made and removed; nil means the kernel's cgroupfs
}

// V1Mount is one v1 hierarchy's mount: where, and the options that name
// it ("cpu,cpuacct", "memory", "name=systemd"). Mounting cgroup with the
// same options again attaches to the same hierarchy.
type V1Mount struct {
	Dir     string
	Options string
}

// v1Controllers are the v1 controller names that may appear among a
// cgroup mount's super options; the other options (rw, name=systemd,
// clone_children, ...) are not controllers.
var v1Controllers = map[string]bool{
	"blkio": true, "cpu": true, "cpuacct": true, "cpuset": true, "devices": true,
	"freezer": true, "hugetlb": true, "memory": true, "misc": true, "net_cls": true,
	"net_prio": true, "perf_event": true, "pids": true, "rdma": true,
}

// Detect finds the host's mode from /proc/self/mountinfo, confirms a
// cgroup2 /sys/fs/cgroup with statfs(2) the way runc does
// (CGROUP2_SUPER_MAGIC), and reads the online CPUs.
func Detect() (*Host, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("finding cgroup mounts: %w", err)
	}
	defer f.Close()
	h, err := ParseMountinfo(f)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		h.Mode = Unified
	}
	if h.Unified != "" {
		data, _ := os.ReadFile(filepath.Join(h.Unified, "cgroup.controllers"))
		h.V2 = strings.Fields(string(data))
	}
	if data, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		h.OnlineCPUs, _ = ParseCPUList(string(data))
	}
	if h.Mode == 0 {
		return nil, noCgroupError()
	}
	return h, nil
}

// ErrCgroupsHidden is Detect's error when this mount namespace has no
// cgroup file system but PID 1's has: the cgroups exist, something hid
// them from us. `ip netns exec` does: it runs its command in a new mount
// namespace with a new sysfs on /sys (so /sys/class/net shows the named
// network namespace), and that sysfs has nothing mounted under
// /sys/fs/cgroup. A container started there would silently get no cgroup.
var ErrCgroupsHidden = errors.New("no cgroup filesystem is mounted here, but the host has some: " +
	"`ip netns exec` mounts a new /sys without /sys/fs/cgroup; " +
	"to run in a named network namespace use `nsenter --net=/run/netns/NAME minicontainer ...` (it keeps the mounts)")

func noCgroupError() error {
	if f, err := os.Open("/proc/1/mountinfo"); err == nil {
		defer f.Close()
		if init, err := ParseMountinfo(f); err == nil && init.Mode != 0 {
			return ErrCgroupsHidden
		}
	}
	return fmt.Errorf("no cgroup filesystem is mounted (see cgroups(7))")
}

// ParseMountinfo reads a mountinfo table (see proc(5), /proc/PID/mountinfo)
// and classifies the host:
//
//	34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//	40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
//
// For "cgroup" (v1) mounts the controllers are among the super options
// after the filesystem source.
func ParseMountinfo(r io.Reader) (*Host, error) {
	h := &Host{V1: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		root, mountPoint, fstype := fields[3], unescape(fields[4]), fields[sep+1]
		if root != "/" {
			continue // a bind mount of a sub-cgroup: not a hierarchy's root
		}
		switch fstype {
		case "cgroup2":
			if h.Unified == "" {
				h.Unified = mountPoint
			}
		case "cgroup":
			var names []string
			for _, opt := range strings.Split(fields[sep+3], ",") {
				if v1Controllers[opt] || strings.HasPrefix(opt, "name=") {
					names = append(names, opt)
				}
				if v1Controllers[opt] {
					if _, dup := h.V1[opt]; !dup {
						h.V1[opt] = mountPoint
					}
				}
			}
			if len(names) > 0 {
				h.Hierarchy = append(h.Hierarchy, V1Mount{Dir: mountPoint, Options: strings.Join(names, ",")})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	switch {
	case len(h.V1) > 0 && h.Unified != "":
		h.Mode = Hybrid
	case len(h.V1) > 0:
		h.Mode = Legacy
	case h.Unified != "":
		h.Mode = Unified
	}
	return h, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Has reports whether the host can limit with controller c in the mode its
// driver uses: in a v1 hierarchy on Legacy and Hybrid hosts, in the cgroup2
// root's cgroup.controllers on Unified ones.
func (h *Host) Has(c string) bool {
	if h.Mode == Unified {
		for _, v := range h.V2 {
			if v == c {
				return true
			}
		}
		return false
	}
	_, ok := h.V1[c]
	return ok
}

// Controllers lists what Has would accept, sorted.
func (h *Host) Controllers() []string {
	var out []string
	if h.Mode == Unified {
		out = append(out, h.V2...)
	} else {
		for c := range h.V1 {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// UseUnified makes a hybrid host use its cgroup2 hierarchy instead of the
// v1 ones: the v2 driver, CLONE_INTO_CGROUP, cgroup.kill, cgroup.events —
// with no controller there, so no limit (Limits.Check refuses them). It is
// how the v2 code path runs for real on a hybrid machine, and what a
// systemd-style "track processes in cgroup2" setup would use.
func (h *Host) UseUnified() error {
	if h.Mode == Unified {
		return nil
	}
	if h.Unified == "" {
		return fmt.Errorf("this host has no cgroup2 hierarchy (%s)", h.Mode)
	}
	data, err := os.ReadFile(filepath.Join(h.Unified, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(h.Unified, "cgroup.controllers"), err)
	}
	h.Mode, h.V2 = Unified, strings.Fields(string(data))
	return nil
}

// Driver names the driver the host's mode calls for, "v1" or "v2" ("v2user"
// in a delegated subtree), as recorded with a container so that gc and
// stats find its cgroup again.
func (h *Host) Driver() string {
	if h.Delegated != "" {
		return "v2user"
	}
	if h.Mode == Unified {
		return "v2"
	}
	return "v1"
}
