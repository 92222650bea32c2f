package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/proc"
)

// The docker-style verbs on a container that runs, or ran, under its
// monitor (monitor.go), or in the foreground: stop, rm, wait, logs,
// inspect. They take an ID already resolved (Resolve).

// Running reports whether s's command may still run: its init has not
// been seen to end.
func (s *State) Running() bool {
	switch s.Status() {
	case "running", "starting", "created", "creating":
		return true
	}
	return false
}

// waitGone waits until process pid (started at start) has ended, for up
// to d; true if it did. A pidfd (pidfd_open(2)) becomes readable when the
// process exits, also for a process that is not our child; a zombie
// counts as ended (proc.Alive).
func waitGone(pid int, start uint64, d time.Duration) bool {
	if !proc.Alive(pid, start) {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return !proc.Alive(pid, start)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(d)
	for proc.Alive(pid, start) {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// At most 100 ms at a time: a zombie init (its parent not yet
		// waiting) is not "exited" to the pidfd, but is to proc.Alive.
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(min(left, 100*time.Millisecond)/time.Millisecond))
	}
	return true
}

// Stop stops a container as docker stop does: SIGTERM to its init, up to
// timeout for it to end, then SIGKILL (killing a PID namespace's init
// kills all of it, pid_namespaces(7)). A container that is not running
// is stopped already: nothing to do, no error. It returns once the
// monitor (or the foreground run) has recorded the end.
func Stop(root, id string, timeout time.Duration, x *explain.Narrator) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	if !s.Running() || s.Pid == 0 {
		return nil
	}
	// A PID 1 gets only the signals it has a handler for
	// (pid_namespaces(7)): a sleep ignores SIGTERM, and stop then waits
	// for the whole timeout, as under docker.
	if err := signalInit(s, unix.SIGTERM, x); err != nil {
		return nil // ended meanwhile
	}
	if !waitGone(s.Pid, s.PidStart, timeout) {
		x.Note("still running after %v: SIGKILL", timeout)
		signalInit(s, unix.SIGKILL, x)
		waitGone(s.Pid, s.PidStart, 10*time.Second)
	}
	// The monitor records the exit and cleans up; wait for it, so that
	// ps, rm and wait after stop see the container exited.
	waitGone(s.Runtime, s.RuntimeStart, 10*time.Second)
	return nil
}

// signalInit sends sig to the container's init through a pidfd: a PID
// reused since is never signalled.
func signalInit(s *State, sig unix.Signal, x *explain.Narrator) error {
	pfd, err := unix.PidfdOpen(s.Pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if !proc.Alive(s.Pid, s.PidStart) {
		return unix.ESRCH
	}
	err = unix.PidfdSendSignal(pfd, sig, nil, 0)
	x.Call("pidfd_send_signal(2)", fmt.Sprintf("pidfd_send_signal(pidfd_open(%d), %s)", s.Pid, unix.SignalName(sig)), nil, err)
	return err
}

// ErrRunning is Remove's refusal without force.
var ErrRunning = errors.New("container is running")

// Remove removes a container that ended (exited, or dead: what gc
// reclaims), and with force a running one, killed first. A container made
// by create is Delete's.
func Remove(root, id string, force bool, x *explain.Narrator) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	if s.OCI && !s.Foreground {
		return Delete(root, id, force, x)
	}
	if s.Running() || s.Status() == "stopping" {
		if !force {
			return fmt.Errorf("cannot remove container %s: %w (stop it first, or rm -f)", id, ErrRunning)
		}
		if s.Pid != 0 {
			signalInit(s, unix.SIGKILL, x)
			waitGone(s.Pid, s.PidStart, 10*time.Second)
		}
		// Its owner (the monitor, or the foreground minicontainer)
		// cleans up; a foreground one also removes the state.
		waitGone(s.Runtime, s.RuntimeStart, 10*time.Second)
		if s, err = load(root, id); errors.Is(err, ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
	}
	unlock, err := lockStateRoot(root)
	if err != nil {
		return err
	}
	defer unlock()
	x.Note("remove %s: its log and state dir", id)
	return reclaim(s)
}

// Wait waits until the container's command ends and returns its exit
// code, as docker wait. The monitor writes the code into the state when
// it has cleaned up; a container that ends without one (its monitor
// killed, a foreground run) has none to give.
func Wait(root, id string) (int, error) {
	// A shared flock(2) on the state dir: a --rm monitor removes it only
	// once every waiter has let go (recordExit), so a wait that began
	// before the end reads the exit code.
	fd, err := unix.Open(filepath.Join(root, id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, ErrNotExist
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		return 0, fmt.Errorf("flock %s: %w", filepath.Join(root, id), err)
	}
	for {
		s, err := load(root, id)
		if errors.Is(err, ErrNotExist) {
			return 0, fmt.Errorf("container %s was removed before its exit code was read", id)
		}
		if err != nil {
			return 0, err
		}
		switch s.Status() {
		case "exited":
			return s.ExitCode, nil
		case "dead":
			// The state was read before the monitor was found gone: it
			// may have recorded the exit code and ended in between (a
			// make test-repeat run showed it). The monitor records
			// before it exits, so a read made now, after its end, is the
			// last word.
			waitRaced()
			if s, err := load(root, id); err == nil && s.Status() == "exited" {
				return s.ExitCode, nil
			}
			return 0, fmt.Errorf("container %s ended without an exit code: its monitor was killed", id)
		}
		if s.OCI && s.ociStatus() == specs.StateStopped {
			return 0, fmt.Errorf("container %s (made by create) has stopped: its exit code is its creator's", id)
		}
		// The owner's end (the monitor exits once it recorded the code),
		// polled against the state: a --rm run removes it at once.
		waitGone(s.Runtime, s.RuntimeStart, 50*time.Millisecond)
	}
}

// waitRaced is called when Wait finds the monitor gone without an exit
// code in the state it read; a test's hook plays the monitor there.
var waitRaced = func() {}

// LogOptions are logs's flags.
type LogOptions struct {
	Follow     bool
	Tail       int // the last N lines; < 0: all
	Timestamps bool
}

// Logs copies a detached container's log to stdout and stderr, each line
// to the stream it came from. With Follow it goes on while the container
// runs and returns when it has ended and every line is out.
func Logs(root, id string, o LogOptions, stdout, stderr io.Writer) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	if s.LogPath == "" {
		return fmt.Errorf("container %s has no log: only a detached container (run -d) keeps one; a foreground run's output went to its terminal", id)
	}
	f, err := os.Open(s.LogPath)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	print := func(line []byte) error {
		var e logEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("log %s: %w", s.LogPath, err)
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if o.Timestamps {
			fmt.Fprintf(w, "%s ", e.Time.Format(time.RFC3339Nano))
		}
		_, err := io.WriteString(w, e.Log)
		return err
	}
	// What is there now; with --tail only its last lines.
	var lines [][]byte
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if len(line) > 0 {
				r = bufio.NewReader(io.MultiReader(bytes.NewReader(line), f)) // half written: read again
			}
			break
		}
		lines = append(lines, line)
		if o.Tail >= 0 && len(lines) > o.Tail {
			lines = lines[1:]
		}
	}
	for _, line := range lines {
		if err := print(line); err != nil {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	var pending []byte
	for {
		line, err := r.ReadBytes('\n')
		pending = append(pending, line...)
		if err == nil {
			if err := print(pending); err != nil {
				return err
			}
			pending = nil
			continue
		}
		// At the end of what is written: done if the container has ended
		// (its monitor closed the log before recording the end), else
		// wait for more.
		cur, lerr := load(root, id)
		if lerr != nil || !cur.Running() && cur.Status() != "stopping" {
			if lerr == nil || errors.Is(lerr, ErrNotExist) {
				// One last read: lines written before the end was recorded.
				rest, _ := io.ReadAll(r)
				pending = append(pending, rest...)
				for len(pending) > 0 {
					i := indexByte(pending, '\n')
					if i < 0 {
						break
					}
					if err := print(pending[:i+1]); err != nil {
						return err
					}
					pending = pending[i+1:]
				}
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Inspection is what inspect prints: docker inspect's field names, for
// what minicontainer has.
type Inspection struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Created time.Time `json:"Created,omitzero"`
	Path    string    `json:"Path"`
	Args    []string  `json:"Args"`
	State   struct {
		Status     string    `json:"Status"`
		Running    bool      `json:"Running"`
		Pid        int       `json:"Pid"`
		ExitCode   int       `json:"ExitCode"`
		StartedAt  time.Time `json:"StartedAt,omitzero"`
		FinishedAt time.Time `json:"FinishedAt,omitzero"`
	} `json:"State"`
	// Monitor is the process that owns the container: its monitor (run
	// -d), the foreground minicontainer, or create's (gone once it
	// finished: 0).
	Monitor int            `json:"Monitor"`
	Config  *InspectConfig `json:"Config,omitempty"`
	Network struct {
		IPAddress string `json:"IPAddress"`
	} `json:"NetworkSettings"`
	Cgroup   string        `json:"Cgroup,omitempty"`
	Mounts   []specs.Mount `json:"Mounts"`
	LogPath  string        `json:"LogPath,omitempty"`
	StateDir string        `json:"StateDir"`
	Scratch  string        `json:"Scratch,omitempty"`
	Bundle   string        `json:"Bundle,omitempty"`
}

// InspectConfig is the container's process and hostname, from its saved
// config.json.
type InspectConfig struct {
	Hostname   string   `json:"Hostname"`
	User       string   `json:"User"`
	Env        []string `json:"Env"`
	Cmd        []string `json:"Cmd"`
	WorkingDir string   `json:"WorkingDir"`
	Tty        bool     `json:"Tty"`
}

// Inspect gathers what inspect prints about one container.
func Inspect(root, id string) (*Inspection, error) {
	s, err := load(root, id)
	if err != nil {
		return nil, err
	}
	in := &Inspection{ID: s.ID, Name: s.Name, Created: s.Created, StateDir: s.Dir(), Scratch: s.Scratch,
		LogPath: s.LogPath, Bundle: s.Bundle, Mounts: []specs.Mount{}}
	if len(s.Command) > 0 {
		in.Path, in.Args = s.Command[0], s.Command[1:]
	}
	in.State.Status, in.State.Running = s.Status(), s.Running()
	if s.OCI && s.Ready && !s.Foreground {
		in.State.Status = string(s.ociStatus())
	}
	if in.State.Running || in.State.Status == "stopping" {
		in.State.Pid = s.Pid
	}
	in.State.ExitCode, in.State.StartedAt, in.State.FinishedAt = s.ExitCode, s.Started, s.Finished
	if proc.Alive(s.Runtime, s.RuntimeStart) {
		in.Monitor = s.Runtime
	}
	if s.Address.IsValid() {
		in.Network.IPAddress = s.Address.String()
	}
	for _, r := range s.Resources {
		if r.Kind == "cgroup" {
			in.Cgroup = r.Name
		}
	}
	if sp, err := s.savedSpec(); err == nil {
		if sp.Process != nil {
			p := sp.Process
			in.Config = &InspectConfig{Hostname: sp.Hostname, Env: p.Env, Cmd: p.Args, WorkingDir: p.Cwd, Tty: p.Terminal,
				User: fmt.Sprintf("%d:%d", p.User.UID, p.User.GID)}
			if len(in.Args) == 0 && len(in.Path) == 0 && len(p.Args) > 0 {
				in.Path, in.Args = p.Args[0], p.Args[1:]
			}
		}
		in.Mounts = append(in.Mounts, sp.Mounts...)
	}
	return in, nil
}

// MadeByCreate reports whether the container was made by `create`: an
// engine's (podman, containerd), which expects runc's conventions.
func MadeByCreate(root, id string) bool {
	s, err := load(root, id)
	return err == nil && s.OCI && !s.Foreground
}
