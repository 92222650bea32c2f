package container

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// Exit codes of minicontainer itself, as docker run and podman run use
// them; otherwise minicontainer exits with the command's own status, or
// 128+N when the command was killed by signal N (as a shell reports it).
const (
	ExitSetup      = 125 // minicontainer failed before the command ran
	ExitCannotExec = 126 // the command was found but could not be executed
	ExitNotFound   = 127 // the command was not found
)

// forwardedSignals are passed on to the container's PID 1, as docker's
// sig-proxy does: every signal whose default action ends a process, but
// SIGPIPE (ours, see Run), SIGKILL and SIGSTOP (which cannot be caught).
// Catching them also keeps Go's runtime from its own defaults: on SIGQUIT,
// SIGABRT, SIGTRAP, SIGSYS (and SIGSEGV, SIGBUS, SIGFPE, SIGILL sent with
// kill(2)) it prints every goroutine's stack and dies, leaving the
// container's state for gc; a user must never see either (signal(7) for
// the default actions, os/signal for Go's).
var forwardedSignals = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP,
	unix.SIGABRT, unix.SIGBUS, unix.SIGFPE, unix.SIGUSR1, unix.SIGSEGV, unix.SIGUSR2, unix.SIGALRM,
	unix.SIGTERM, unix.SIGSTKFLT, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGIO,
	unix.SIGPWR, unix.SIGSYS}

// hangUpGrace is how long the container has to end by itself after the
// caller's terminal hung up (SIGHUP to minicontainer while its terminal
// polls POLLHUP, or EIO/EOF reading the terminal under -it) before
// minicontainer kills it. A hung-up terminal is final: nobody can type
// into the container again, nor stop it, and a shell as PID 1 ignores the
// SIGHUP we pass on (PID 1 gets only the signals it has a handler for,
// pid_namespaces(7)). Two seconds are enough for a command with a handler
// to save its work (an editor writes its recovery file), and short enough
// that the terminal's closing is not felt as a hang. docker stop waits
// 10 s, but there a user is waiting and can see it; here nobody is left.
//
// A SIGHUP with no terminal hung up (`kill -HUP`: "reload your
// configuration") is only passed on, as `docker run` does. So are SIGTERM
// and SIGINT: whoever sent them is still there and can send SIGKILL to
// minicontainer, which kills the container with it (Pdeathsig). A `sleep`
// as PID 1 keeps running after a SIGTERM, as under docker: use --init.
const hangUpGrace = 2 * time.Second

// Stdio is the terminal or files the container's command gets.
type Stdio struct{ In, Out, Err *os.File }

// Run runs one container to its end and returns the exit code for
// minicontainer. err is non-nil when the command did not run (code 125,
// 126 or 127) and says why in one line.
//
// It takes a bundle's road (see bundle.go) in one process: the Spec that
// pkg/spec makes of the flags (what `minicontainer spec` prints), create
// (the bundle init, blocked before execve), the host steps (the network,
// between create and start), start, wait, and the undo of it all.
func Run(cfg Config, stdio Stdio, x *explain.Narrator) (code int, err error) {
	// Catch the signals to forward before anything exists, so that a ^C
	// during set-up still lets us clean up instead of killing us; until the
	// command runs, they stop the set-up (see interrupted).
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, forwardedSignals...)
	defer signal.Stop(signals)
	// SIGPIPE caught (and dropped): a write to a closed stdout or stderr
	// then fails with EPIPE, and the relay stops copying; uncaught, Go
	// dies of it on fds 1 and 2 and leaves the container to gc. Caught, not
	// ignored: SIG_IGN would be inherited through execve(2) by the command.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, unix.SIGPIPE)
	defer signal.Stop(sigpipe)

	// docker's check: -i copies the keyboard into a pseudo-terminal, and
	// input that is no terminal has no keyboard (raw mode, ^C, window
	// size); `echo hi | run -it -- cat` would wait forever.
	if cfg.TTY && cfg.Interactive && (stdio.In == nil || !term.IsTerminal(int(stdio.In.Fd()))) {
		return ExitSetup, errors.New("the input device is not a TTY: -i with -t needs a terminal as stdin (drop -t to pipe input into the container)")
	}
	plan, err := cfg.plan(x)
	if err != nil {
		return ExitSetup, err
	}
	if plan.rootfs.Base == "" {
		if plan.rootfs.Base, err = BuiltinRootfs(x); err != nil {
			return ExitSetup, err
		}
		if err := plan.rootfs.Validate(); err != nil {
			return ExitSetup, err
		}
	}
	s, err := cfg.spec(plan, plan.rootfs.Base)
	if err != nil {
		return ExitSetup, err
	}
	// Refused here, before anything exists: user namespaces forbidden by
	// a sysctl (named), maps outside the user's ranges, newuidmap missing.
	if err := checkUserNS(s); err != nil {
		return ExitSetup, err
	}
	for _, n := range plan.notes {
		fmt.Fprintf(stdio.Err, "minicontainer: %s\n", n)
	}
	if cfg.TTY {
		// The pseudo-terminal starts at the user's terminal's size, so
		// the command never sees 0x0 (later changes follow by SIGWINCH).
		if ws := windowSize(stdio.In); ws != nil {
			s.Process.ConsoleSize = &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
		}
	}
	bp, err := planBundle(s, "", false)
	if err != nil {
		return ExitSetup, err
	}
	bp.cgroup = plan.cgroup
	// linux.resources.devices (spec.Default's deny-all and allow list,
	// --privileged's a *:* rwm), written into the cgroup as a bundle's
	// are. A host without cgroups runs the container unlimited, as
	// before, and so without device rules.
	// A rootless run's cgroup gets none: see planRootless.
	if bp.cgroup != nil && !rootless() {
		if bp.devices, err = planDevices(s, true); err != nil {
			return ExitSetup, err
		}
	}

	if sig := pending(signals); sig != 0 {
		return interrupted(sig)
	}
	// --userns remap: "minicontainer"'s entries in /etc/subuid and
	// /etc/subgid, added now if missing: the last check, the first write.
	if err := addRemap(cfg.Userns, s, x); err != nil {
		return ExitSetup, err
	}
	t := cfg.Timing
	t.Mark("validate")
	c, err := create(cfg, plan, s, x)
	if err != nil {
		return ExitSetup, err
	}
	defer func() {
		if err != nil {
			t.Mark("failed") // the set-up, from the last mark to its failure
		}
		if cerr := c.cleanup(); cerr != nil {
			fmt.Fprintf(stdio.Err, "minicontainer: cleanup: %v\n", cerr)
			if code == 0 {
				code = ExitSetup
			}
		}
		t.Mark("cleanup")
	}()
	bp.cgroupName = c.State.ID

	// The overlay's upper and work dirs: the container's writes land here,
	// never in the base rootfs (the init mounts the overlay inside its
	// own mount namespace). create recorded it as a resource already.
	// On disk, under ContainersDir: a container's writes are files the
	// kernel writes back and may drop from memory, so a container may
	// write more than its --memory (on a tmpfs every byte is memory
	// charged to it).
	scratch := c.State.Scratch
	err = os.Mkdir(scratch, 0o700)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%q, 0700)", scratch), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("scratch dir: %w", err)
	}
	c.OnCleanup(func() error {
		x.Note("clean up: remove %s", scratch)
		return os.RemoveAll(scratch)
	})
	if idmapRoot(s) {
		if err := chownScratch(scratch, s, x); err != nil {
			return ExitSetup, err
		}
	}
	if err := fault.Point(x, "scratch-dir"); err != nil {
		return ExitSetup, err
	}
	t.Mark("state")

	// The cgroup, with its limits, before the init exists (see cgroup.go).
	if err := c.setupCgroup(bp.cgroup, bp.cgroupName, bp.devices); err != nil {
		return ExitSetup, err
	}
	t.Mark("cgroup")
	if sig := pending(signals); sig != 0 {
		return interrupted(sig)
	}
	var phase setupPhase
	code, err = c.runInit(bp, stdio, signals, &phase)
	if sig := syscall.Signal(phase.interrupted.Load()); sig != 0 {
		return interrupted(sig)
	}
	return code, err
}

// spec is the Spec of this run: pkg/spec's mapping of run's flags (the
// one `minicontainer spec` prints), on the base rootfs and with the
// image's layers over it.
//
// A rootless run (a caller other than root) gets a user namespace with
// rootlessMaps; without a range the plan gets rootlessMaps' note.
func (c *Config) spec(plan *runPlan, base string) (*specs.Spec, error) {
	uids, gids, err := RemapMaps(c.Userns, false, nil)
	if err != nil {
		return nil, err
	}
	if rootless() {
		var note string
		if uids, gids, note, err = rootlessMaps(); err != nil {
			return nil, err
		}
		if note != "" {
			plan.notes = append(plan.notes, note)
		}
	}
	s, err := spec.FromRun(spec.RunFlags{
		Rootfs: base, Layers: c.Layers, Name: c.Name, Hostname: c.Hostname, Env: c.Env, Workdir: c.Workdir,
		Volumes: c.Volumes, ReadOnly: c.ReadOnly, Chroot: c.Chroot, Init: c.Init, Interactive: c.Interactive,
		TTY: c.TTY, Net: c.Net, Subnet: c.Subnet, Ports: c.Ports, Resources: c.Resources,
		CgroupParent: c.CgroupParent, Cgroup2: c.CgroupV2, Command: c.Command, User: c.User,
		UIDMappings: uids, GIDMappings: gids,
		CapAdd: c.CapAdd, CapDrop: c.CapDrop, Privileged: c.Privileged, SecurityOpt: c.SecurityOpt,
	}, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// create claims an ID and (if given) the name, and creates the state dir
// with the Spec in it, all under the state root's lock. Stale states of
// killed runs are reclaimed first, so a name they held becomes free
// again. The first state.json already names the scratch dir and the
// cgroup (when the plan has one) that Run will make, so gc finds them
// should minicontainer be killed while making them.
func create(cfg Config, plan *runPlan, s *specs.Spec, x *explain.Narrator) (*Container, error) {
	unlock, err := lockStateRoot(cfg.StateRoot)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Reclaim what killed runs left. Quietly: what cannot be reclaimed now
	// (a resource kind this build does not know) is for `minicontainer gc`
	// to report, not for every run to complain about.
	gcLocked(cfg.StateRoot, nil)
	cfg.Timing.Mark("gc")
	if cfg.Name != "" {
		states, err := List(cfg.StateRoot)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if s.Name == cfg.Name {
				return nil, fmt.Errorf("name %q is already in use by container %s", cfg.Name, short(s.ID))
			}
		}
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	c := &Container{Config: cfg, plan: plan, x: x, State: &State{
		Root: cfg.StateRoot, ID: id, Name: cfg.Name, Command: cfg.Command, Created: time.Now().UTC(),
		Runtime: self, RuntimeStart: proc.StartTime(self),
	}}
	// Recorded in the first state.json, before Run creates them (one
	// write of state.json each fewer at every start). gc's reclaimers
	// succeed when a recorded object was never made.
	dir, err := containersDir()
	if err != nil {
		return nil, err
	}
	c.State.Scratch = filepath.Join(dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("containers dir: %w", err)
	}
	c.State.Resources = []Resource{{Kind: "dir", Name: c.State.Scratch}}
	if plan.cgroup != nil {
		c.State.Resources = append(c.State.Resources, plan.cgroup.resource(id))
	}
	err = os.Mkdir(c.State.Dir(), 0o700)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%q, 0700)", c.State.Dir()), nil, err)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	c.OnCleanup(func() error {
		if c.keepState {
			return nil // the monitor's, for the exit status (Detached)
		}
		x.Note("clean up: remove %s", c.State.Dir())
		return os.RemoveAll(c.State.Dir())
	})
	if err := fault.Point(x, "state-dir"); err != nil {
		return nil, errors.Join(err, c.cleanup())
	}
	err = writeSpec(c.State.Dir(), s)
	if err == nil {
		err = c.State.save()
	}
	if err != nil {
		c.cleanup()
		return nil, err
	}
	if err := fault.Point(x, "name"); err != nil {
		return nil, errors.Join(err, c.cleanup())
	}
	x.Note("container %s: state.json written; name and ID claimed under flock(2) on %s", id, cfg.StateRoot)
	return c, nil
}

// setupPhase is what start and forward share: whether the command runs
// yet, and the signal that stopped the set-up, if one did.
type setupPhase struct {
	running     atomic.Bool
	interrupted atomic.Int32
}

// pending returns a signal already received, or 0.
func pending(signals chan os.Signal) syscall.Signal {
	select {
	case sig := <-signals:
		return sig.(syscall.Signal)
	default:
		return 0
	}
}

// interrupted is Run's answer to a signal during set-up: everything made
// so far is undone (the deferred cleanups), one line names the signal, and
// the exit code is 128+N, as if minicontainer had died of it.
func interrupted(sig syscall.Signal) (int, error) {
	return 128 + int(sig), fmt.Errorf("%s during set-up: the container was stopped and removed", unix.SignalName(sig))
}

// runInit is the road from create to the end, for run: the init cloned
// with the stdio relay, its PID recorded, signals forwarded, the host
// steps, the Spec sent; then start, and wait.
func (c *Container) runInit(plan *bundlePlan, stdio Stdio, signals chan os.Signal, phase *setupPhase) (int, error) {
	x := c.x
	fifo, err := c.makeExecFifo()
	if err != nil {
		return ExitSetup, err
	}
	defer fifo.Close()
	sock, initEnd, err := syncSocket(x)
	if err != nil {
		return ExitSetup, err
	}
	defer unix.Close(sock)
	pipes, err := newRelay(stdio, x)
	if err != nil {
		initEnd.Close()
		return ExitSetup, err
	}
	// Waited for last: the container's last output is copied before Run
	// returns (and main's error line, if any, comes after it).
	defer pipes.wait()
	started := false
	defer func() {
		if !started {
			pipes.started()
		}
	}()
	cmd, unshareCgroupNS, closeCgroupFD, err := c.initCommand(plan, []*os.File{initEnd, fifo}, pipes.child, true)
	if err != nil {
		initEnd.Close()
		return ExitSetup, err
	}
	// Every descriptor minicontainer inherited from its caller without
	// close-on-exec (a shell's "exec 9</tmp", a CI runner's pipe) would
	// survive the init's execve(2) and stay open in PID 1 for as long as
	// it runs (with --init, the whole run; reachable as /proc/1/fd/N). The
	// init gets only stdio, the sync socket and the fifo: os/exec dup2s
	// those onto 0-4; everything else is marked here, and the kernel
	// closes it in the init at its execve. (Not close(2): the Go runtime
	// owns some of them.)
	if err := execvp.CloseOnExecFrom(3, x); err != nil {
		initEnd.Close()
		closeCgroupFD()
		return ExitSetup, err
	}
	pid, err := c.cloneJoined(cmd, nil, true)
	c.Config.Timing.Mark("clone")
	initEnd.Close() // only the init holds its end now: its closing is our EOF
	pipes.started()
	started = true
	closeCgroupFD()
	if err != nil {
		pipes.stdin.Close()
		return ExitSetup, fmt.Errorf("starting the container init: %w", err)
	}
	x.Note("init %d: setsid(), prctl(PR_SET_PDEATHSIG, SIGKILL), then execve(%q, [%q]) with the sync socket as fd %d and the exec fifo as fd %d",
		pid, reexec.Self, bundleInitEntry, bundleSyncFd, bundleFifoFd)
	// From here on the init must never outlive this function.
	defer func() {
		cmd.Process.Kill()
		c.waitInit()
	}()
	done := make(chan struct{})
	defer close(done)

	// Without -t, the caller's stdin is copied in when it is not a
	// terminal (a pipe, a file: `echo hi | run -- cat`), and from a
	// terminal with -i only, as docker attaches it: a copy reading the
	// terminal when nobody asked would steal keystrokes, and stop
	// minicontainer (SIGTTIN) when run in the background.
	pipes.run(stdio, !c.Config.TTY && (c.Config.Interactive || !term.IsTerminal(int(stdio.In.Fd()))))
	if err := c.recordInit(pid); err != nil {
		return ExitSetup, err
	}
	if userNS(plan.spec) {
		if err := writeIDMaps(pid, plan.spec, x); err != nil {
			return ExitSetup, err
		}
	}
	hangUp := make(chan struct{}, 1)
	var killedForHangUp atomic.Bool
	go forward(signals, hangUp, terminals(stdio), phase, cmd.Process, &killedForHangUp, done, x)
	if err := c.runHostSteps(); err != nil {
		return ExitSetup, err
	}

	bi := c.bundleInit(CreateOptions{}, plan, unshareCgroupNS)
	// run's own set-up: the overlay over the base with the files that say
	// who the container is (the host steps added the network's), --chroot,
	// --init; and the narration in order on the socket until the exec.
	bi.Overlay = &rootfs.Overlay{Layers: c.Config.Layers, Scratch: c.State.Scratch, Hostname: plan.spec.Hostname, Files: c.files, UserNS: userNS(plan.spec)}
	var lowerFDs []int
	if idmapRoot(plan.spec) {
		// Root's user namespace (--userns remap): the lower dirs idmapped
		// with it, and the upper dir on disk in the scratch dir, which is
		// the container's root's (see remap.go).
		if lowerFDs, err = idmapLowers(pid, plan.root, c.Config.Layers, x); err != nil {
			return ExitSetup, err
		}
		defer closeAll(lowerFDs)
		bi.Overlay.IDMapped, bi.Overlay.DiskScratch = true, true
	}
	bi.Chroot, bi.TinyInit, bi.Attached = c.Config.Chroot, c.Config.Init, true
	var con *console
	defer func() {
		if con != nil {
			con.close()
		}
	}()
	ev := initEvents{log: stdio.Err,
		died: func(cause error) error {
			_, err := c.deadInit(pipes, cause)
			return err
		},
		pty: func(master int) error {
			if con != nil {
				unix.Close(master)
				return errors.New("the container init sent a second terminal")
			}
			var err error
			con, err = newConsole(os.NewFile(uintptr(master), "ptmx"), stdio, c.Config.Interactive, hangUp)
			return err
		}}
	t := c.Config.Timing
	if err := c.sendInit(sock, bi, lowerFDs...); err != nil {
		return c.initFailed(ev.died(err), pipes)
	}
	t.Mark("host")
	if err := c.awaitInit(sock, false, ev); err != nil {
		return c.initFailed(err, pipes)
	}
	t.Mark("await ready")
	if err := openExecFifo(c.State, x); err != nil {
		return ExitSetup, err
	}
	// From here a signal is the command's, passed on, not an interruption
	// of the set-up.
	phase.running.Store(true)
	if err := c.awaitInit(sock, true, ev); err != nil {
		return c.initFailed(err, pipes)
	}
	t.Mark("start")
	return c.attach(pipes, con, stdio, &killedForHangUp)
}

// initFailed is run's answer when the init gave up or died before the
// command ran: its exit code (126 or 127 when the command cannot be
// executed or was not found), and the held output let through.
func (c *Container) initFailed(err error, pipes *relay) (int, error) {
	pipes.pass()
	var ie *initError
	if errors.As(err, &ie) {
		return ie.code, ie
	}
	return ExitSetup, err
}

// attach is the run once the command runs: its output passes, and
// minicontainer waits for PID 1 and maps its status to the exit code.
func (c *Container) attach(pipes *relay, console *console, stdio Stdio, killedForHangUp *atomic.Bool) (int, error) {
	x, cmd, pid := c.x, c.initCmd, c.State.Pid
	if d := c.Config.Detached; d != nil {
		c.State.Detached = true
		if err := d.Running(c.State); err != nil {
			return ExitSetup, err
		}
		c.keepState = true
	}
	started := c.Config.Timing.LastUnix() // the end of file: the init's execve(2) is done
	pipes.pass()
	x.Note("the command runs; waiting for PID 1 (host PID %d) to exit", pid)
	if err := fault.Point(x, "started"); err != nil {
		return ExitSetup, err
	}
	<-c.exited
	if console != nil {
		console.drain()
	}
	pipes.wait()
	if err := fault.Point(x, "exited"); err != nil {
		return ExitSetup, err
	}
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitSetup, errors.New("waiting for the container: no wait status")
	}
	code := execvp.ExitStatus(cmd.ProcessState) // 128+N when signal N killed it
	if status.Signaled() && status.Signal() == unix.SIGKILL && killedForHangUp.Load() {
		// We killed it because its terminal hung up: report it as a
		// terminal session would, died of SIGHUP.
		code = 128 + int(unix.SIGHUP)
	}
	x.Call("wait4(2)", fmt.Sprintf("wait4(%d, {%s})", pid, waitString(status)), pid, nil)
	c.reportOOM(status, stdio.Err)
	c.Config.Timing.Mark("wait")
	c.timeExec(started)
	return code, nil
}

// deadInit is start's answer when the init ended before the command ran
// (end of file on the sync socket without "exec" before it, or the socket
// broke under a send or receive): it waits for the init and says in one
// line why it died. The Go runtime's own report (a failed thread start
// under a tiny --pids: "fatal error: newosproc", and a stack trace) was
// held back by the relay; its first line is all the user sees.
func (c *Container) deadInit(pipes *relay, cause error) (int, error) {
	cmd := c.initCmd
	if cause != nil && !errors.Is(cause, unix.EPIPE) && !errors.Is(cause, unix.ECONNRESET) {
		// Not a sign of death: the init may live on. It must not.
		cmd.Process.Kill()
		c.waitInit()
		return ExitSetup, cause
	}
	c.waitInit()
	pipes.wait()
	pipes.outGate.discard()
	report := pipes.errGate.discard()
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitSetup, fmt.Errorf("the container's init ended during set-up: %v", cause)
	}
	c.x.Call("wait4(2)", fmt.Sprintf("wait4(%d, {%s})", cmd.Process.Pid, waitString(status)), cmd.Process.Pid, nil)
	var limits cgroup.Limits
	if c.cgroupPlan != nil {
		limits = c.cgroupPlan.limits
	}
	if status.Signaled() {
		why := ""
		if status.Signal() == unix.SIGKILL && limits.Memory > 0 {
			why = fmt.Sprintf(" (out of memory? limit %s)", cgroup.FormatSize(limits.Memory))
			if c.cgroup != nil {
				if st, err := c.cgroup.Stats(); err == nil && st.OOMKills > 0 {
					why = fmt.Sprintf(" (out of memory: limit %s)", cgroup.FormatSize(limits.Memory))
				}
			}
		}
		return ExitSetup, fmt.Errorf("the container's init was killed by %s during set-up%s", unix.SignalName(status.Signal()), why)
	}
	if failure := runtimeFailure(report); failure != "" {
		why := ""
		if limits.Pids > 0 {
			why = fmt.Sprintf(" (too few tasks for it? --pids %d)", limits.Pids)
		}
		return ExitSetup, fmt.Errorf("the container's init failed during set-up: %s%s", failure, why)
	}
	return ExitSetup, fmt.Errorf("the container's init exited with status %d during set-up", status.ExitStatus())
}

// forward passes signals sent to minicontainer on to the container's
// PID 1. The kernel delivers to a namespace's init only the signals it has
// a handler for (pid_namespaces(7)): a `sleep` as PID 1 ignores SIGTERM,
// as under docker. --init installs handlers and passes them on.
//
// Until the command runs, a signal stops the set-up instead: the init is
// killed, and start undoes everything and reports the signal. (Passed on
// to an init still in Go, it would die of Go's default action, or a
// handler-less PID 1 would ignore it and the user's ^C would do nothing.)
//
// A hang-up (SIGHUP while one of the caller's terminals has hung up, or
// the console's report that it did) is passed on as SIGHUP, and if the
// container still runs hangUpGrace later it gets SIGKILL: killing PID 1
// kills every process of its PID namespace (pid_namespaces(7)). Signals go
// through pid1 (a pidfd in Go's os package), so none can reach a recycled
// PID after the wait.
func forward(signals chan os.Signal, hangUp chan struct{}, ttys []*os.File, phase *setupPhase, pid1 *os.Process, killed *atomic.Bool, done chan struct{}, x *explain.Narrator) {
	send := func(sig syscall.Signal) {
		err := pid1.Signal(sig)
		x.Call("kill(2)", fmt.Sprintf("kill(%d, %s)", pid1.Pid, unix.SignalName(sig)), nil, err)
	}
	var deadline <-chan time.Time
	startGrace := func() {
		if deadline == nil {
			x.Note("the terminal hung up: SIGKILL to PID 1 if it still runs in %v", hangUpGrace)
			deadline = time.After(hangUpGrace)
		}
	}
	for {
		select {
		case sig := <-signals:
			if !phase.running.Load() {
				x.Note("%s during set-up: stop the init", unix.SignalName(sig.(syscall.Signal)))
				phase.interrupted.CompareAndSwap(0, int32(sig.(syscall.Signal)))
				send(unix.SIGKILL)
				continue
			}
			send(sig.(syscall.Signal))
			if sig == unix.SIGHUP && hungUp(ttys) {
				startGrace()
			}
		case <-hangUp:
			send(unix.SIGHUP)
			startGrace()
		case <-deadline:
			killed.Store(true)
			send(unix.SIGKILL)
		case <-done:
			return
		}
	}
}

func waitString(s syscall.WaitStatus) string {
	if s.Signaled() {
		return fmt.Sprintf("WIFSIGNALED(s) && WTERMSIG(s) == %s", unix.SignalName(s.Signal()))
	}
	return fmt.Sprintf("WIFEXITED(s) && WEXITSTATUS(s) == %d", s.ExitStatus())
}
