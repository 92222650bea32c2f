package container

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// Exit codes of minicontainer itself, as docker run and podman run use
// them; otherwise minicontainer exits with the command's own status, or
// 128+N when the command was killed by signal N (as a shell reports it).
const (
	ExitSetup      = 125 // minicontainer failed before the command ran
	ExitCannotExec = 126 // the command was found but could not be executed
	ExitNotFound   = 127 // the command was not found
)

// containerFlags are the namespaces a container gets (--net host drops
// CLONE_NEWNET, see Config.cloneFlags). Not CLONE_NEWUSER:
// minicontainer runs as root and maps nobody (see user_namespaces(7)); not
// CLONE_NEWTIME: it only shifts the monotonic and boot clocks.
const containerFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// forwardedSignals are passed on to the container's PID 1. SIGQUIT is
// among them also because Go's default for it prints every goroutine's
// stack, which a user must never see.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// hangUpGrace is how long the container has to end by itself after its
// terminal hung up (SIGHUP to minicontainer, or EIO/EOF reading the host's
// terminal under -t) before minicontainer kills it. A hung-up terminal is
// final: nobody can type into the container again, nor stop it, and a
// shell as PID 1 ignores the SIGHUP we pass on (PID 1 gets only the
// signals it has a handler for, pid_namespaces(7)). Two seconds are
// enough for a command with a handler to save its work (an editor writes
// its recovery file), and short enough that the terminal's closing is not
// felt as a hang. docker stop waits 10 s, but there a user is waiting and
// can see it; here nobody is left.
//
// SIGTERM and SIGINT are only passed on, as `docker run` (sig-proxy) does:
// whoever sent them is still there and can send SIGKILL to minicontainer,
// which kills the container with it (Pdeathsig). A `sleep` as PID 1 keeps
// running after a SIGTERM, as under docker: use --init.
const hangUpGrace = 2 * time.Second

// Stdio is the terminal or files the container's command gets.
type Stdio struct{ In, Out, Err *os.File }

// Run runs one container to its end and returns the exit code for
// minicontainer. err is non-nil when the command did not run (code 125,
// 126 or 127) and says why in one line.
func Run(cfg Config, stdio Stdio, x *explain.Narrator) (code int, err error) {
	spec, err := cfg.validate()
	if err != nil {
		return ExitSetup, err
	}
	cgroupPlan, err := cfg.validateCgroup(x)
	if err != nil {
		return ExitSetup, err
	}
	if spec.Base == "" {
		if spec.Base, err = EnsureDefaultRootfs(x); err != nil {
			return ExitSetup, err
		}
		if err := spec.Validate(); err != nil {
			return ExitSetup, err
		}
	}

	// Catch the signals to forward before anything exists, so that a ^C
	// during set-up still lets us clean up instead of killing us.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, forwardedSignals...)
	defer signal.Stop(signals)

	c, err := create(cfg, cgroupPlan, x)
	if err != nil {
		return ExitSetup, err
	}
	defer func() {
		if cerr := c.cleanup(); cerr != nil {
			fmt.Fprintf(stdio.Err, "minicontainer: cleanup: %v\n", cerr)
			if code == 0 {
				code = ExitSetup
			}
		}
	}()

	// The overlay's upper and work dirs: the container's writes land here,
	// never in the base rootfs (rootfs.Setup mounts it inside the container).
	// create recorded it as a resource already.
	spec.Scratch = c.State.Scratch
	spec.Workdir = cfg.Workdir // made inside if missing, as docker does
	// On disk, under ContainersDir: a container's writes are files the
	// kernel writes back and may drop from memory, so a container may
	// write more than its --memory (on a tmpfs every byte is memory
	// charged to it).
	err = os.Mkdir(spec.Scratch, 0o700)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%q, 0700)", spec.Scratch), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("scratch dir: %w", err)
	}
	c.OnCleanup(func() error {
		x.Note("clean up: remove %s", spec.Scratch)
		return os.RemoveAll(spec.Scratch)
	})

	// The cgroup, with its limits, before the init exists (see cgroup.go).
	if err := c.setupCgroup(cgroupPlan); err != nil {
		return ExitSetup, err
	}
	if cgroupPlan != nil {
		for _, m := range cgroupPlan.host.ContainerMounts() {
			spec.Mounts = append(spec.Mounts, rootfs.Mount{Source: m.Source, Target: m.Target, FSType: m.FSType, Flags: m.Flags, Data: m.Data})
		}
	}

	return c.start(spec, stdio, signals)
}

// create claims an ID and (if given) the name, and creates the state dir,
// all under the state root's lock. Stale states of killed runs are
// reclaimed first, so a name they held becomes free again. The first
// state.json already names the scratch dir and the cgroup (when plan is
// not nil) that Run will make, so gc finds them should minicontainer be
// killed while making them.
func create(cfg Config, plan *cgroupPlan, x *explain.Narrator) (*Container, error) {
	unlock, err := lockStateRoot(cfg.StateRoot)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Reclaim what killed runs left. Quietly: what cannot be reclaimed now
	// (a resource kind this build does not know) is for `minicontainer gc`
	// to report, not for every run to complain about.
	gcLocked(cfg.StateRoot, nil)
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
	c := &Container{Config: cfg, x: x, State: &State{
		Root: cfg.StateRoot, ID: id, Name: cfg.Name, Command: cfg.Command, Created: time.Now().UTC(),
		Runtime: self, RuntimeStart: proc.StartTime(self),
	}}
	// Recorded in the first state.json, before Run creates them (one
	// write of state.json each fewer at every start). gc's reclaimers
	// succeed when a recorded object was never made.
	c.State.Scratch = filepath.Join(ContainersDir, id)
	if err := os.MkdirAll(ContainersDir, 0o700); err != nil {
		return nil, fmt.Errorf("containers dir: %w", err)
	}
	c.State.Resources = []Resource{{Kind: "dir", Name: c.State.Scratch}}
	if plan != nil {
		c.State.Resources = append(c.State.Resources, plan.resource(id))
	}
	err = os.Mkdir(c.State.Dir(), 0o700)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%q, 0700)", c.State.Dir()), nil, err)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	c.OnCleanup(func() error {
		x.Note("clean up: remove %s", c.State.Dir())
		return os.RemoveAll(c.State.Dir())
	})
	if err := c.State.save(); err != nil {
		c.cleanup()
		return nil, err
	}
	x.Note("container %s: state.json written; name and ID claimed under flock(2) on %s", id, cfg.StateRoot)
	return c, nil
}

// start starts the init, runs the host steps, lets the init go, and waits.
func (c *Container) start(spec rootfs.Spec, stdio Stdio, signals chan os.Signal) (int, error) {
	x := c.x
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	x.Call("socketpair(2)", fmt.Sprintf("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [%d, %d])", pair[0], pair[1]), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("socketpair: %w", err)
	}
	sock, initEnd := pair[0], os.NewFile(uintptr(pair[1]), "sync")
	defer unix.Close(sock)

	cmd := reexec.Command(initEntry)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.In, stdio.Out, stdio.Err
	cmd.ExtraFiles = []*os.File{initEnd} // fd 3 in the init
	// The command's own environment comes with initConfig. GOMAXPROCS=1:
	// the init is one goroutine; one P means fewer runtime threads to
	// start (each one also takes a PID in the container's namespace).
	cmd.Env = []string{x.Env(), "GOMAXPROCS=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: c.Config.cloneFlags(),
		// If minicontainer is killed (even by SIGKILL), the kernel kills
		// the init, and with it the whole PID namespace (pid_namespaces(7)).
		// PR_SET_PDEATHSIG fires when the creating THREAD exits, not the
		// process (prctl(2)); Go may end threads, so this goroutine stays
		// locked to its thread from start to wait.
		Pdeathsig: unix.SIGKILL,
	}
	unshareCgroupNS, closeCgroupFD, err := c.cgroupClone(cmd.SysProcAttr)
	if err != nil {
		return ExitSetup, err
	}
	c.placedAtClone = cmd.SysProcAttr.UseCgroupFD && c.cgroup.Joined()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	initEnd.Close() // only the init holds its end now: its closing is our EOF
	closeCgroupFD()
	pid := 0
	if err == nil {
		pid = cmd.Process.Pid
	}
	if cmd.SysProcAttr.UseCgroupFD {
		// Go uses clone3(2) for this; the kernel puts the child in the
		// cgroup as it is created, before it runs a single instruction.
		x.Call("clone3(2)", fmt.Sprintf("clone3({flags=%s|CLONE_INTO_CGROUP, cgroup=%d<%s>, exit_signal=SIGCHLD})",
			ns.FlagString(uintptr(cmd.SysProcAttr.Cloneflags)), cmd.SysProcAttr.CgroupFD, c.cgroup.Paths()[0]), pid, err)
	} else {
		x.Call("clone(2)", fmt.Sprintf("clone(%s|SIGCHLD)", ns.FlagString(uintptr(cmd.SysProcAttr.Cloneflags))), pid, err)
	}
	if err != nil {
		return ExitSetup, fmt.Errorf("starting the container init: %w", err)
	}
	x.Note("init %d: prctl(PR_SET_PDEATHSIG, SIGKILL), then execve(%q, [%q]) with the sync socket as fd %d", pid, reexec.Self, initEntry, syncFd)
	// From here on the init must never outlive this function.
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	c.State.Pid, c.State.PidStart = pid, proc.StartTime(pid)
	if err := c.State.save(); err != nil {
		return ExitSetup, err
	}
	done := make(chan struct{})
	defer close(done)
	// The console reports here when the host's terminal hangs up.
	hangUp := make(chan struct{}, 1)
	var killedForHangUp atomic.Bool
	go forward(signals, hangUp, cmd.Process, &killedForHangUp, done, x)

	for _, step := range hostSteps {
		x.Note("host step %s for init %d", step.name, pid)
		if err := step.do(c); err != nil {
			return ExitSetup, fmt.Errorf("%s: %w", step.name, err)
		}
	}

	// Files the host steps want inside (the network's /etc/hosts entries
	// and /etc/resolv.conf), written by rootfs.Setup into the overlay.
	for path, data := range c.files {
		if spec.Files == nil {
			spec.Files = map[string][]byte{}
		}
		spec.Files[path] = data
	}
	var console *console
	ic := initConfig{NetNS: c.Config.cloneFlags()&unix.CLONE_NEWNET != 0,
		Rootfs: spec, Hostname: c.Config.Hostname, Env: c.Config.environment(), Workdir: c.Config.Workdir,
		Command: c.Config.Command, Init: c.Config.Init, TTY: c.Config.TTY, Interactive: c.Config.Interactive,
		UnshareCgroupNS: unshareCgroupNS,
	}
	if c.Config.TTY {
		ic.WindowSize = windowSize(stdio.In)
	}
	n, err := send(sock, ic)
	x.Call("sendmsg(2)", fmt.Sprintf("sendmsg(%d, {the config, command %s}, 0)", sock, explain.Quote(strings.Join(ic.Command, " "))), n, err)
	if err != nil {
		return ExitSetup, err
	}
	for started := false; !started; {
		var m initMessage
		fds, eof, err := receive(sock, &m)
		switch {
		case err != nil:
			return ExitSetup, err
		case eof:
			started = true
		case m.Type == "pty" && len(fds) == 1:
			console, err = newConsole(os.NewFile(uintptr(fds[0]), "ptmx"), stdio, c.Config.Interactive, hangUp)
			if err != nil {
				return ExitSetup, err
			}
			defer console.close()
		case m.Type == "error":
			cmd.Wait()
			exited = true
			if m.Code == 0 {
				m.Code = ExitSetup
			}
			return m.Code, errors.New(m.Error)
		default:
			return ExitSetup, fmt.Errorf("unexpected message %q from the container init", m.Type)
		}
	}
	x.Note("the command runs; waiting for PID 1 (host PID %d) to exit", pid)

	err = cmd.Wait()
	exited = true
	if console != nil {
		console.drain()
	}
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitSetup, fmt.Errorf("waiting for the container: %v", err)
	}
	code := execvp.ExitStatus(cmd.ProcessState) // 128+N when signal N killed it
	if status.Signaled() && status.Signal() == unix.SIGKILL && killedForHangUp.Load() {
		// We killed it because its terminal hung up: report it as a
		// terminal session would, died of SIGHUP.
		code = 128 + int(unix.SIGHUP)
	}
	x.Call("wait4(2)", fmt.Sprintf("wait4(%d, {%s})", pid, waitString(status)), pid, nil)
	c.reportOOM(status, stdio.Err)
	return code, nil
}

// forward passes signals sent to minicontainer on to the container's
// PID 1. The kernel delivers to a namespace's init only the signals it has
// a handler for (pid_namespaces(7)): a `sleep` as PID 1 ignores SIGTERM,
// as under docker. --init installs handlers and passes them on.
//
// A hang-up (SIGHUP, or the console's report that the host terminal is
// gone) is passed on as SIGHUP, and if the container still runs
// hangUpGrace later it gets SIGKILL: killing PID 1 kills every process of
// its PID namespace (pid_namespaces(7)). Signals go through pid1 (a pidfd
// in Go's os package), so none can reach a recycled PID after the wait.
func forward(signals chan os.Signal, hangUp chan struct{}, pid1 *os.Process, killed *atomic.Bool, done chan struct{}, x *explain.Narrator) {
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
			send(sig.(syscall.Signal))
			if sig == unix.SIGHUP {
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
