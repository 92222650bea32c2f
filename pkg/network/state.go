package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"
)

// State is what one bridge network looks like on disk
// (STATEDIR/network-net-INODE-BRIDGE.json): its subnet, who holds which
// address, and what minicontainer changed in the network namespace to serve
// it. There is one per network namespace, whatever --root each container
// uses: the bridge, its addresses, the nftables table and ip_forward belong
// to the namespace, so two state roots sharing one must share one book.
//
// What was made is recorded BEFORE it is made (written ahead), so that
// whoever comes next — the next container or `minicontainer gc` after a
// SIGKILL at any moment — knows what to undo, and never undoes what
// minicontainer did not make.
type State struct {
	Bridge string       `json:"bridge"`
	Subnet netip.Prefix `json:"subnet"`
	// Netns is the namespace's cookie (SO_NETNS_COOKIE, socket(7)): never
	// reused while the machine runs, unlike the inode in the file's name,
	// so a book left by a dead namespace is not taken for a new one's.
	Netns uint64 `json:"netns_cookie,omitempty"`
	// MadeBridge and MadeTable: the bridge and the nftables table are
	// ours to delete. A bridge or table of that name made by someone else
	// is refused, never taken over.
	MadeBridge bool `json:"made_bridge,omitempty"`
	MadeTable  bool `json:"made_table,omitempty"`
	// IPForwardWas is the value of net.ipv4.ip_forward before we turned it
	// on, so it is put back when the bridge goes.
	IPForwardWas string  `json:"ip_forward_was,omitempty"`
	Leases       []Lease `json:"leases"`
}

// made reports whether the book records anything to undo.
func (st *State) made() bool { return st.MadeBridge || st.MadeTable || st.IPForwardWas != "" }

// Lease is one container's address on the bridge and what was made for it.
type Lease struct {
	ID       string     `json:"id"`
	Name     string     `json:"name,omitempty"`
	Hostname string     `json:"hostname,omitempty"`
	Address  netip.Addr `json:"address"`
	HostVeth string     `json:"host_veth"`
	Ports    []Port     `json:"ports,omitempty"`
	// Owner is the process that holds the lease (minicontainer itself, the
	// parent of the container) and OwnerStart its start time in clock
	// ticks since boot (proc(5), /proc/PID/stat field 22), so a reused PID
	// is not mistaken for the owner. When the owner is gone the lease is stale.
	Owner      int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start"`
}

// store is an open, locked state file.
type store struct {
	prefix, bridge string // the files are PREFIX+BRIDGE.json and PREFIX+BRIDGE.lock
	lock           *os.File
}

func (s *store) statePath() string { return s.prefix + s.bridge + ".json" }
func lockPath(prefix, bridge string) string {
	return prefix + bridge + ".lock"
}

// lockState takes the bridge's lock: flock(2) on PREFIX+BRIDGE.lock. All
// changes to a bridge — creating it, allocating an address, removing it —
// happen under this lock, so two minicontainers started at the same moment
// never pick the same address nor both create the bridge. flock is tied to
// the open file, so the kernel drops it when its holder dies, even by SIGKILL.
func lockState(prefix, bridge string) (*store, error) {
	for range 100 {
		if err := os.MkdirAll(filepath.Dir(prefix), 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		f, err := os.OpenFile(lockPath(prefix, bridge), os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			continue // the directory was just removed; make it again
		}
		if err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		// The last user removes the lock file (under the lock) when the
		// bridge goes. If that happened while we waited, we hold a lock on a
		// file nobody else will open: start again with the new one.
		var held, named unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(f.Name(), &named) == nil && held.Ino == named.Ino {
			return &store{prefix: prefix, bridge: bridge, lock: f}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: kept disappearing", lockPath(prefix, bridge))
}

// unlock releases the lock (closing the file drops the flock).
func (s *store) unlock() { s.lock.Close() }

// read returns the state; a missing file is a network with no leases, and
// so is the book of a dead namespace whose inode number a new one got: what
// it describes went with the old namespace.
func (s *store) read() (*State, error) {
	data, err := os.ReadFile(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return &State{Bridge: s.bridge}, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", s.statePath(), err)
	}
	if c := netnsCookie(); c != 0 && st.Netns != 0 && st.Netns != c {
		return &State{Bridge: s.bridge}, nil
	}
	return &st, nil
}

// netnsCookie identifies the calling thread's network namespace for as long
// as the machine runs (SO_NETNS_COOKIE, Linux 5.14; 0 before it).
func netnsCookie() uint64 {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0
	}
	return c
}

// write replaces the state file atomically (write a temporary file, then
// rename(2)), so a reader never sees half of it.
func (s *store) write(st *State) error {
	st.Netns = netnsCookie()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.statePath())
}

// remove deletes the state and the lock file; called, still under the
// lock, when the bridge is gone. And write's temporary file: only a writer
// killed between making it and renaming it leaves one (every writer holds
// the lock), and the next write would have replaced it; with the book gone
// there is no next write.
func (s *store) remove() {
	os.Remove(s.statePath())
	os.Remove(s.statePath() + ".tmp")
	os.Remove(lockPath(s.prefix, s.bridge))
}

// NamespacePrefix names the files of the bridges of the calling thread's
// network namespace: BASE/network-net-INODE-. A bridge, its veths and its
// nftables table live in one network namespace, so its address book must
// belong to that namespace too: a minicontainer run inside another one (a
// test, a lesson's throwaway "host") has bridges of its own, and must
// neither see nor take the addresses of ours.
//
// They are plain files in /run/minicontainer (DefaultStateDir) whatever
// --root says, not a directory of their own: gc takes every directory of a
// state root for a container's. ip netns exec and nsenter --net change the
// network namespace but not /run, so every minicontainer of a namespace
// finds its book there.
func NamespacePrefix(base string) (string, error) {
	if base == "" {
		base = DefaultStateDir
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", fmt.Errorf("identifying the network namespace: %w", err)
	}
	return filepath.Join(base, fmt.Sprintf("network-net-%d-", st.Ino)), nil
}

// allocate picks the lowest free address of the subnet: not the network
// address, not the gateway, not the broadcast address, not leased.
func allocate(st *State) (netip.Addr, error) {
	used := map[netip.Addr]bool{Gateway(st.Subnet): true, broadcast(st.Subnet): true}
	for _, l := range st.Leases {
		used[l.Address] = true
	}
	for a := Gateway(st.Subnet).Next(); st.Subnet.Contains(a); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s is full (%d containers)", st.Subnet, len(st.Leases))
}

// alive reports whether the lease's owner still runs.
func (l Lease) alive() bool {
	return l.Owner > 0 && l.OwnerStart != 0 && proc.Alive(l.Owner, l.OwnerStart)
}

// ReadStates returns every bridge network of the current network namespace
// recorded under base, for `minicontainer network ls` and `inspect`. It
// takes each lock so it never reads a state in the middle of a change.
// A lock file without a state (its maker was killed before it wrote one)
// is removed.
func ReadStates(base string) ([]*State, error) {
	prefix, err := NamespacePrefix(base)
	if err != nil {
		return nil, err
	}
	var bridges []string
	for _, ext := range []string{".json", ".lock"} {
		files, _ := filepath.Glob(prefix + "*" + ext)
		for _, f := range files {
			if b := strings.TrimSuffix(strings.TrimPrefix(f, prefix), ext); !slices.Contains(bridges, b) {
				bridges = append(bridges, b)
			}
		}
	}
	var out []*State
	for _, bridge := range bridges {
		s, err := lockState(prefix, bridge)
		if err != nil {
			return nil, err
		}
		st, err := s.read()
		if err == nil && !st.Subnet.IsValid() {
			s.remove() // removed by its last user while we waited, or never written
		}
		s.unlock()
		if err != nil {
			return nil, err
		}
		if st.Subnet.IsValid() {
			out = append(out, st)
		}
	}
	return out, nil
}

// reclaimOtherNamespaces runs reclaimHere in each other network namespace
// whose book under base has something to reclaim (a lease whose owner is
// gone, or something made and no lease) and which still exists — held by
// a process or a bind mount (ip netns add). The namespace is found by the
// inode in the book's name and entered on a thread of its own (inNetns);
// there, read() checks the book's cookie, so a namespace that only reuses
// the inode number of the book's is left alone.
func reclaimOtherNamespaces(base string, n *explain.Narrator) ([]string, error) {
	if base == "" {
		base = DefaultStateDir
	}
	self, err := NamespacePrefix(base)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(base, "network-net-*-*.json"))
	todo := map[uint64]bool{}
	for _, f := range files {
		ino, ok := bookInode(filepath.Base(f))
		if !ok || strings.HasPrefix(f, self) || !needsReclaim(f) {
			continue
		}
		todo[ino] = true
	}
	if len(todo) == 0 {
		return nil, nil
	}
	var ids []string
	var errs []error
	for ino, path := range liveNamespaces() {
		if !todo[ino] {
			continue
		}
		n.Note("killed runs left a book in network namespace %s: reclaiming there", path)
		err := inNetns(path, func() error {
			r, err := reclaimHere(base, n)
			ids = append(ids, r...)
			return err
		})
		errs = append(errs, err)
	}
	return ids, errors.Join(errs...)
}

// bookInode is the namespace inode in a book's file name, network-net-INODE-BRIDGE.json.
func bookInode(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, "network-net-")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(num, 10, 64)
	return ino, err == nil
}

// needsReclaim looks at a book from outside its namespace, without the
// lock (reclaimHere takes it and reads again): a dead owner, or something
// made that no container uses.
func needsReclaim(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var st State
	if json.Unmarshal(data, &st) != nil {
		return false
	}
	if len(st.Leases) == 0 {
		return st.made()
	}
	return slices.ContainsFunc(st.Leases, func(l Lease) bool { return !l.alive() })
}

// liveNamespaces maps the inode of every network namespace that still
// exists to a path that opens it: a process's /proc/PID/ns/net, or a bind
// mount in /run/netns (ip-netns(8)).
func liveNamespaces() map[uint64]string {
	live := map[uint64]string{}
	paths, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	mounted, _ := filepath.Glob("/run/netns/*")
	for _, p := range append(mounted, paths...) {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			if _, seen := live[st.Ino]; !seen {
				live[st.Ino] = p
			}
		}
	}
	return live
}

// inNetns runs fn on a thread moved into the network namespace at path
// with setns(2). Every netlink and nftables socket fn opens, and every
// /proc/sys/net file, then belongs to that namespace. The thread is locked
// to its goroutine and never unlocked: when the goroutine ends, the Go
// runtime ends the thread too (runtime.LockOSThread), so no other goroutine
// ever runs in the other namespace.
func inNetns(path string, fn func() error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns(%s, CLONE_NEWNET): %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// forgetDeadNamespaces removes the address books of other network
// namespaces that no longer exist. A namespace dies with its last process
// (and bind mount, see ip-netns(8)), taking its bridge, veths and nftables
// table with it: once none of its minicontainers runs, its book only
// describes what is already gone, and nobody inside is left to remove it.
//
// Only the books of other namespaces are looked at: ours is alive, and
// finding which others are means stat(2)ing every thread of the machine
// (7 s for gc on a host with 28,000 threads).
func forgetDeadNamespaces(base string) {
	own, err := NamespacePrefix(base)
	if err != nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(base, "network-net-*-*.json"))
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasPrefix(f, own) })
	if len(files) == 0 {
		return
	}
	live := map[string]bool{}
	paths, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/ns/net")
	mounted, _ := filepath.Glob("/run/netns/*")
	for _, p := range append(paths, mounted...) {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			live[fmt.Sprintf("network-net-%d-", st.Ino)] = true
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		i := strings.Index(name[len("network-net-"):], "-")
		if i < 0 {
			continue
		}
		prefix := name[:len("network-net-")+i+1]
		if live[prefix] {
			continue
		}
		bridge := strings.TrimSuffix(name[len(prefix):], ".json")
		s, err := lockState(filepath.Join(base, prefix), bridge)
		if err != nil {
			continue
		}
		if st, err := s.read(); err == nil && !slices.ContainsFunc(st.Leases, Lease.alive) {
			s.remove()
		}
		s.unlock()
	}
}
