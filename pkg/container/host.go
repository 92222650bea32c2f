package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// Container is what the host side knows about a container being run: its
// configuration, its state (the init's PID once started), and the undo
// stack of everything created for it.
type Container struct {
	Config Config
	plan   *runPlan // what validation learnt (run; nil for a bundle)
	State  *State
	x      *explain.Narrator
	undos  []func() error
	files  map[string][]byte // written inside the container (AddFile)

	cgroup        cgroup.Cgroup // nil when the host has no cgroups
	cgroupPlan    *cgroupPlan
	placedAtClone bool // v2: born in its cgroup (CLONE_INTO_CGROUP)

	keepState bool // Run leaves the state dir to the monitor (Config.Detached)

	initCmd *exec.Cmd     // a bundle's init (run --bundle waits for it)
	exited  chan struct{} // closed once the init has been waited for

	initPhases []timing.Phase // the init's own, with --timing (timing.go)
}

// AddFile asks for a file inside the container (an absolute path there),
// written before the command starts; a host step uses it for what it
// learns about the container (e.g. its /etc/hosts entries).
func (c *Container) AddFile(path string, data []byte) {
	if c.files == nil {
		c.files = map[string][]byte{}
	}
	c.files[path] = data
}

// A hostStep is work only the host can do for a container, run in order
// while the init waits (docs/ARCHITECTURE.md, run flow step 6): the init
// exists, so its PID and namespaces do, but nothing runs inside yet.
//
// Do records each host object with c.Own before creating it (so gc can
// reclaim it if minicontainer is killed half way) and registers its undo
// with c.OnCleanup at once. A failing step makes the run fail with 125 and
// everything already done is undone.
type hostStep struct {
	name string
	do   func(c *Container) error
}

// hostSteps is the ordered list of host-side steps. The cgroup engineer
// adds "cgroup" (create the cgroup, apply limits, move c.State.Pid in), the
// network engineer "network" (veth pair, one end into
// /proc/PID/ns/net, addresses, routes). Each Resource.Kind a step records
// needs an entry in reclaimers.
var hostSteps = []hostStep{
	{"cgroup", placeInCgroup},
	{"network", connectNetwork},
}

// reclaimers remove a Resource left by a minicontainer that was killed,
// keyed by Resource.Kind. They must succeed when the object is already gone.
var reclaimers = map[string]func(r Resource) error{
	"dir":     func(r Resource) error { return os.RemoveAll(r.Name) },
	"file":    removeFile,
	"cgroup":  reclaimCgroup,
	"network": reclaimNetwork,
	"mount":   reclaimMount,
}

// Own records r in state.json before the object is created, so that a
// SIGKILLed minicontainer leaves a trail gc can follow.
func (c *Container) Own(r Resource) error {
	c.State.Resources = append(c.State.Resources, r)
	return c.State.save()
}

// OnCleanup pushes an undo; they run in reverse order when the container
// ends or the run fails half way.
func (c *Container) OnCleanup(undo func() error) { c.undos = append(c.undos, undo) }

// cleanup runs the undo stack in reverse and reports every failure.
func (c *Container) cleanup() error {
	var errs []error
	for i := len(c.undos) - 1; i >= 0; i-- {
		if err := c.undos[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.undos = nil
	return errors.Join(errs...)
}

// Explain is the narrator host steps should use.
func (c *Container) Explain() *explain.Narrator { return c.x }

// GC removes what killed runs left behind: every state whose minicontainer
// process is gone. A container init still alive then (it should have died
// with its parent through PR_SET_PDEATHSIG) is killed first. It writes one
// line per reclaimed container to w (nil: quiet) and returns how many.
func GC(root string, w io.Writer) (int, error) {
	unlock, err := lockStateRoot(root)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return gcLocked(root, w)
}

func gcLocked(root string, w io.Writer) (int, error) {
	states, err := List(root)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, s := range states {
		if s.Status() != "dead" {
			continue
		}
		if err := reclaim(s); err != nil {
			errs = append(errs, fmt.Errorf("reclaim %s: %w", short(s.ID), err))
			continue
		}
		n++
		if w != nil {
			fmt.Fprintf(w, "removed %s\n", short(s.ID))
		}
	}
	return n, errors.Join(errs...)
}

func reclaim(s *State) error {
	if proc.Alive(s.Pid, s.PidStart) {
		unix.Kill(s.Pid, unix.SIGKILL)
		for i := 0; i < 100 && proc.Alive(s.Pid, s.PidStart); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var errs []error
	for i := len(s.Resources) - 1; i >= 0; i-- {
		r := s.Resources[i]
		fn, ok := reclaimers[r.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown resource kind %q (%s)", r.Kind, r.Name))
			continue
		}
		if err := fn(r); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Kind, r.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.RemoveAll(s.Dir())
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
