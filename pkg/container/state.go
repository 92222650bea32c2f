package container

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"
)

// DefaultStateRoot holds one directory per container. It is under /run
// (cleared at boot): no container survives a reboot, neither a `run`
// one, which lives as long as its minicontainer process, nor one made by
// `create`, which lives as long as its init. --root changes it (as runc's --root), e.g. for tests.
const DefaultStateRoot = "/run/minicontainer"

// ContainersDir holds each container's writable layer (the overlay's
// upper and work dirs) and its own /etc/hosts, /etc/hostname and
// /etc/resolv.conf, in ContainersDir/ID, removed with the container (or
// by gc). On disk, as docker's /var/lib/docker/containers and overlay2:
// /run is a tmpfs on most hosts, and a container's files there would be
// memory.
const ContainersDir = "/var/lib/minicontainer/containers"

// State is state.json: what `ps` shows and what `gc` needs to reclaim a
// container whose minicontainer process was killed.
type State struct {
	Root    string    `json:"-"` // the state root it lives in
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Command []string  `json:"command"`
	Created time.Time `json:"created"`
	// Runtime is the minicontainer process that owns the container, Pid its
	// init (PID 1 inside, this number on the host; 0 while starting). Each
	// comes with its start time (field 22 of /proc/PID/stat, see proc(5)) so
	// a PID reused by an unrelated process is not taken for ours.
	Runtime      int    `json:"runtime"`
	RuntimeStart uint64 `json:"runtime_start"`
	Pid          int    `json:"pid"`
	PidStart     uint64 `json:"pid_start"`
	// Address is the container's address on the bridge (--net bridge).
	Address netip.Addr `json:"address,omitzero"`
	// Scratch is the container's directory in ContainersDir: the
	// overlay's upper and work dirs, its /etc files.
	Scratch string `json:"scratch"`
	// OCI is set for a container made by `create` (a bundle): it belongs
	// to its caller, not to the minicontainer process that made it, and
	// outlives it; Ready once create finished. Bundle and Annotations are
	// what `state` reports.
	OCI         bool              `json:"oci,omitempty"`
	Ready       bool              `json:"ready,omitempty"`
	Bundle      string            `json:"bundle,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Foreground: made by `run --bundle`, which waits for it; it lives
	// and dies with that minicontainer process, as a `run` container.
	Foreground bool `json:"foreground,omitempty"`
	// Detached: run -d. Runtime is then its monitor (monitor.go), which
	// keeps the container's output in LogPath (Docker's json-file) and,
	// when the command ends, records Finished and ExitCode here. The state
	// stays, listed as exited, until rm (or until the monitor removes it,
	// run --rm).
	Detached bool      `json:"detached,omitempty"`
	LogPath  string    `json:"log_path,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	ExitCode int       `json:"exit_code,omitempty"`
	// Resources are host objects to reclaim, in creation order; gc undoes
	// them in reverse. Each Kind has a reclaimer in reclaimers.
	Resources []Resource `json:"resources"`
}

// Resource is one host object owned by a container: a directory, a cgroup,
// a veth... Kind selects how gc removes it; Name says which one.
type Resource struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Dir is the container's state directory.
func (s *State) Dir() string { return filepath.Join(s.Root, s.ID) }

// Status is "running", "starting" (no init yet), "exited" (ended under
// its monitor), or "dead" when gc may reclaim it. The rule: a container outlives the minicontainer process
// that made it only when it was made with `create` (OCI): that one
// belongs to create's caller (podman's conmon, containerd's shim, a
// shell), who removes it with `delete`, and it is never dead to gc once
// create finished (its status is then the runtime-spec's: created,
// running, stopped). A `run` container (also `run --bundle`), and a
// create that died half way, are dead as soon as their minicontainer
// process is gone (its init died with it, PR_SET_PDEATHSIG, or never got
// its config). A detached container (run -d) is a `run` one whose
// minicontainer process is its monitor; once the monitor recorded its end
// it is "exited", and stays until rm.
func (s *State) Status() string {
	if !s.Finished.IsZero() {
		return "exited" // its monitor recorded the end: kept until rm
	}
	if s.OCI && s.Ready && !s.Foreground {
		return string(s.ociStatus())
	}
	switch {
	case !proc.Alive(s.Runtime, s.RuntimeStart):
		return "dead"
	case s.Pid == 0:
		return "starting"
	case !proc.Alive(s.Pid, s.PidStart):
		return "stopping"
	}
	return "running"
}

// save writes state.json atomically (write, then rename(2)), so a reader
// never sees half a file.
func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir(), ".state.json.tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir(), "state.json")); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// newID is 6 random bytes in hex: 12 characters, what docker shows of its
// longer IDs. A collision is caught by mkdir(2) failing with EEXIST. The
// bytes come straight from getrandom(2): crypto/rand would add its
// package initialisation to every start of the container init.
func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return "", fmt.Errorf("getrandom: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// lockStateRoot takes an exclusive flock(2) on the state root directory
// itself (no lock file to leave behind), so that checking a name is free
// and claiming it are one step for concurrent runs, and gc does not reclaim
// a container that is being created.
func lockStateRoot(root string) (unlock func(), err error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("flock %s: %w", root, err)
	}
	return func() { unix.Close(fd) }, nil // closing the last fd releases the lock
}

// List returns the containers in the state root, oldest first. Entries without a
// readable state.json are returned with only their ID, so gc can remove them.
func List(root string) ([]*State, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var states []*State
	for _, e := range entries {
		if !e.IsDir() {
			continue // e.g. the network's address book (pkg/network)
		}
		s := &State{Root: root, ID: e.Name()}
		if data, err := os.ReadFile(filepath.Join(root, e.Name(), "state.json")); err == nil {
			json.Unmarshal(data, s)
			s.Root, s.ID = root, e.Name()
		}
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Created.Before(states[j].Created) })
	return states, nil
}
