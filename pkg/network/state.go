package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"
)

// State is what one bridge network looks like on disk
// (STATEDIR/network-net-INODE-BRIDGE.json): its subnet and who holds which
// address.
type State struct {
	Bridge string       `json:"bridge"`
	Subnet netip.Prefix `json:"subnet"`
	// IPForwardWas is the value of net.ipv4.ip_forward before we turned it
	// on, so it is put back when the bridge goes.
	IPForwardWas string  `json:"ip_forward_was,omitempty"`
	Leases       []Lease `json:"leases"`
}

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

// read returns the state; a missing file is a network with no leases.
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
	return &st, nil
}

// write replaces the state file atomically (write a temporary file, then
// rename(2)), so a reader never sees half of it.
func (s *store) write(st *State) error {
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
// lock, when the bridge is gone.
func (s *store) remove() {
	os.Remove(s.statePath())
	os.Remove(lockPath(s.prefix, s.bridge))
}

// namespacePrefix names the files of the bridges of the calling thread's
// network namespace: BASE/network-net-INODE-. A bridge, its veths and its
// nftables table live in one network namespace, so its address book must
// belong to that namespace too: a minicontainer run inside another one (a
// test, a lesson's throwaway "host") has bridges of its own, and must
// neither see nor take the addresses of ours.
//
// They are plain files beside the containers' directories in
// /run/minicontainer, not a directory of their own: gc takes every
// directory there for a container's.
func namespacePrefix(base string) (string, error) {
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
	prefix, err := namespacePrefix(base)
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
	own, err := namespacePrefix(base)
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
