package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
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
	spec := plan.rootfs
	cgroupPlan := plan.cgroup
	if spec.Base == "" {
		if spec.Base, err = EnsureDefaultRootfs(x); err != nil {
			return ExitSetup, err
		}
		if err := spec.Validate(); err != nil {
			return ExitSetup, err
		}
	}

	if sig := pending(signals); sig != 0 {
		return interrupted(sig)
	}
	c, err := create(cfg, plan, x)
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
	if err := fault.Point(x, "scratch-dir"); err != nil {
		return ExitSetup, err
	}

	// The cgroup, with its limits, before the init exists (see cgroup.go).
	if err := c.setupCgroup(cgroupPlan); err != nil {
		return ExitSetup, err
	}
	if sig := pending(signals); sig != 0 {
		return interrupted(sig)
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
// state.json already names the scratch dir and the cgroup (when the plan
// has one) that Run will make, so gc finds them should minicontainer be
// killed while making them.
func create(cfg Config, plan *runPlan, x *explain.Narrator) (*Container, error) {
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
	c := &Container{Config: cfg, plan: plan, x: x, State: &State{
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
	if err := c.State.save(); err != nil {
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

// start starts the init, runs the host steps, lets the init go, and waits.
func (c *Container) start(spec rootfs.Spec, stdio Stdio, signals chan os.Signal) (int, error) {
	var phase setupPhase
	code, err := c.startAndWait(spec, stdio, signals, &phase)
	if sig := syscall.Signal(phase.interrupted.Load()); sig != 0 {
		return interrupted(sig)
	}
	return code, err
}

func (c *Container) startAndWait(spec rootfs.Spec, stdio Stdio, signals chan os.Signal, phase *setupPhase) (int, error) {
	l, err := c.launch(stdio)
	if l != nil {
		// Run last: the thread stays locked until the init has been
		// waited for (PR_SET_PDEATHSIG), and the container's last output
		// is copied before Run returns (main's error line comes after).
		defer l.release()
	}
	if err != nil {
		return ExitSetup, err
	}
	// From here on the init must never outlive this function.
	defer func() {
		if !l.exited {
			l.cmd.Process.Kill()
			l.cmd.Wait()
		}
	}()
	l.done = make(chan struct{})
	defer close(l.done)
	console, code, err := c.handshake(l, spec, stdio, signals, phase)
	if console != nil {
		defer console.close()
	}
	if err != nil {
		return code, err
	}
	return c.attach(l, console, stdio, phase)
}

// launched is the init as launch started it, shared by handshake and
// attach (and exec, which needs launch and attach on their own).
type launched struct {
	cmd             *exec.Cmd
	sock            int    // our end of the sync socket
	pipes           *relay // the container's stdio
	pid             int
	unshareCgroupNS bool // the init makes its cgroup namespace itself (v1)
	locked          bool // this goroutine is locked to its thread
	exited          bool // the init has been waited for
	done            chan struct{}
	hangUp          chan struct{} // the console reports a hung-up terminal here
	killedForHangUp atomic.Bool
}

// release undoes launch, in the order startAndWait always had: the
// thread, the output copies, the socket.
func (l *launched) release() {
	if l.locked {
		runtime.UnlockOSThread()
	}
	if l.pipes != nil {
		l.pipes.wait()
	}
	unix.Close(l.sock)
}

// launch starts the init: the sync socket, the clone options (the
// namespaces, PR_SET_PDEATHSIG, setsid, the cgroup), the stdio relay, and
// clone itself, on a thread locked for the init's whole life. A non-nil l
// must be released, also with an error.
func (c *Container) launch(stdio Stdio) (*launched, error) {
	x := c.x
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	x.Call("socketpair(2)", fmt.Sprintf("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [%d, %d])", pair[0], pair[1]), nil, err)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	sock, initEnd := pair[0], os.NewFile(uintptr(pair[1]), "sync")
	l := &launched{sock: sock, hangUp: make(chan struct{}, 1)}
	cmd := reexec.Command(initEntry)
	cmd.ExtraFiles = []*os.File{initEnd} // fd 3 in the init
	// The command's own environment comes with initConfig. GOMAXPROCS=1:
	// the init is one goroutine; one P means fewer runtime threads to
	// start (each one also takes a PID in the container's namespace).
	// containermaxprocs=0: else Go (1.25 and later) keeps the container's
	// cpu.cfs_quota_us and cpu.cfs_period_us open for the whole run, and
	// with --init PID 1 would hand them to the container as /proc/1/fd/N,
	// opened on the init's writable copy of the host's cgroup mount.
	cmd.Env = []string{x.Env(), "GOMAXPROCS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: c.plan.net.cloneFlags(),
		// If minicontainer is killed (even by SIGKILL), the kernel kills
		// the init, and with it the whole PID namespace (pid_namespaces(7)).
		// PR_SET_PDEATHSIG fires when the creating THREAD exits, not the
		// process (prctl(2)); Go may end threads, so this goroutine stays
		// locked to its thread from start to wait.
		Pdeathsig: unix.SIGKILL,
		// A session of its own, with no controlling terminal, as runc's
		// init makes (setsid(2)): else the container would share ours, and
		// open("/dev/tty") in there would give it the caller's terminal
		// (tty(4)). -t gives it a terminal of its own (takeTerminal).
		Setsid: true,
	}
	unshareCgroupNS, closeCgroupFD, err := c.cgroupClone(cmd.SysProcAttr)
	if err != nil {
		initEnd.Close()
		return l, err
	}
	l.cmd, l.unshareCgroupNS = cmd, unshareCgroupNS
	c.placedAtClone = cmd.SysProcAttr.UseCgroupFD && c.cgroup.Joined()
	pipes, err := newRelay(stdio, x)
	if err != nil {
		initEnd.Close()
		closeCgroupFD()
		return l, err
	}
	// Waited for by release, after the init's kill-and-wait: the
	// container's last output is copied before Run returns (and main's
	// error line, if any, comes after it).
	l.pipes = pipes
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pipes.child[0], pipes.child[1], pipes.child[2]
	// Every descriptor minicontainer inherited from its caller without
	// close-on-exec (a shell's "exec 9</tmp", a CI runner's pipe) would
	// survive the init's execve(2) and stay open in PID 1 for as long as
	// it runs (with --init, the whole run; reachable as /proc/1/fd/N). The
	// init gets only stdio and the sync socket: os/exec dup2s those onto
	// 0-3; everything else is marked here, and the kernel closes it in the
	// init at its execve. (Not close(2): the Go runtime owns some of them.)
	if err := execvp.CloseOnExecFrom(3, x); err != nil {
		initEnd.Close()
		pipes.started()
		closeCgroupFD()
		return l, err
	}
	runtime.LockOSThread()
	l.locked = true
	err = cmd.Start()
	initEnd.Close() // only the init holds its end now: its closing is our EOF
	pipes.started()
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
		pipes.stdin.Close()
		return l, fmt.Errorf("starting the container init: %w", err)
	}
	l.pid = pid
	x.Note("init %d: setsid(), prctl(PR_SET_PDEATHSIG, SIGKILL), then execve(%q, [%q]) with the sync socket as fd %d", pid, reexec.Self, initEntry, syncFd)
	return l, nil
}

// handshake is what happens while the init waits on the sync socket:
// the caller's stdin is attached, the PID recorded, signals forwarded,
// the host steps run (cgroup placement, network through /proc/PID/ns/net),
// and the init gets its config; it returns once the command runs (or
// failed to), with the console when there is a terminal.
func (c *Container) handshake(l *launched, spec rootfs.Spec, stdio Stdio, signals chan os.Signal, phase *setupPhase) (*console, int, error) {
	x, cmd, pid, pipes, sock := c.x, l.cmd, l.pid, l.pipes, l.sock
	// Without -t, the caller's stdin is copied in when it is not a
	// terminal (a pipe, a file: `echo hi | run -- cat`), and from a
	// terminal with -i only, as docker attaches it: a copy reading the
	// terminal when nobody asked would steal keystrokes, and stop
	// minicontainer (SIGTTIN) when run in the background.
	attach := !c.Config.TTY && (c.Config.Interactive || !term.IsTerminal(int(stdio.In.Fd())))
	pipes.run(stdio, attach)
	if err := fault.Point(x, "clone"); err != nil {
		return nil, ExitSetup, err
	}
	c.State.Pid, c.State.PidStart = pid, proc.StartTime(pid)
	if err := c.State.save(); err != nil {
		return nil, ExitSetup, err
	}
	if err := fault.Point(x, "pid"); err != nil {
		return nil, ExitSetup, err
	}
	go forward(signals, l.hangUp, terminals(stdio), phase, cmd.Process, &l.killedForHangUp, l.done, x)

	for _, step := range hostSteps {
		x.Note("host step %s for init %d", step.name, pid)
		if err := step.do(c); err != nil {
			return nil, ExitSetup, fmt.Errorf("%s: %w", step.name, err)
		}
		if err := fault.Point(x, "host step "+step.name); err != nil {
			return nil, ExitSetup, err
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
	ic := initConfig{NetNS: c.plan.net.cloneFlags()&unix.CLONE_NEWNET != 0,
		Rootfs: spec, Hostname: c.Config.Hostname, Env: c.Config.environment(), Workdir: c.Config.Workdir,
		Command: c.Config.Command, Init: c.Config.Init, TTY: c.Config.TTY, Interactive: c.Config.Interactive,
		UnshareCgroupNS: l.unshareCgroupNS,
	}
	if c.Config.TTY {
		ic.WindowSize = windowSize(stdio.In)
	}
	n, err := send(sock, ic)
	x.Call("sendmsg(2)", fmt.Sprintf("sendmsg(%d, {the config, command %s}, 0)", sock, explain.Quote(strings.Join(ic.Command, " "))), n, err)
	if err != nil {
		// EPIPE: the init is gone already.
		l.exited = true
		code, err := c.deadInit(cmd, pipes, err)
		return nil, code, err
	}
	if err := fault.Point(x, "config-sent"); err != nil {
		return nil, ExitSetup, err
	}
	console, gone, code, err := c.awaitExec(sock, cmd, pipes, stdio, l.hangUp, &phase.running)
	l.exited = gone
	return console, code, err
}

// attach is the run once the command runs: its output passes, and
// minicontainer waits for PID 1 and maps its status to the exit code.
func (c *Container) attach(l *launched, console *console, stdio Stdio, phase *setupPhase) (int, error) {
	x, cmd, pid, pipes := c.x, l.cmd, l.pid, l.pipes
	phase.running.Store(true)
	if d := c.Config.Detached; d != nil {
		c.State.Detached = true
		if err := d.Running(c.State); err != nil {
			return ExitSetup, err
		}
		c.keepState = true
	}
	pipes.pass()
	x.Note("the command runs; waiting for PID 1 (host PID %d) to exit", pid)
	if err := fault.Point(x, "started"); err != nil {
		return ExitSetup, err
	}

	err := cmd.Wait()
	l.exited = true
	if console != nil {
		console.drain()
	}
	pipes.wait()
	if err := fault.Point(x, "exited"); err != nil {
		return ExitSetup, err
	}
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitSetup, fmt.Errorf("waiting for the container: %v", err)
	}
	code := execvp.ExitStatus(cmd.ProcessState) // 128+N when signal N killed it
	if status.Signaled() && status.Signal() == unix.SIGKILL && l.killedForHangUp.Load() {
		// We killed it because its terminal hung up: report it as a
		// terminal session would, died of SIGHUP.
		code = 128 + int(unix.SIGHUP)
	}
	x.Call("wait4(2)", fmt.Sprintf("wait4(%d, {%s})", pid, waitString(status)), pid, nil)
	c.reportOOM(status, stdio.Err)
	return code, nil
}

// awaitExec reads the init's messages until the command runs: end of file
// after "exec". Otherwise it returns the code and the one line that say
// why not; gone is true when the init has been waited for.
//
// running is set as soon as the init says it execs: from then on a signal
// is the command's, passed on, not an interruption of the set-up. The end
// of file that follows (the socket is close-on-exec) can reach us after
// the command has already written to a terminal and the terminal has hung
// up: on a slow machine that hang-up was taken for one during set-up.
func (c *Container) awaitExec(sock int, cmd *exec.Cmd, pipes *relay, stdio Stdio, hangUp chan<- struct{}, running *atomic.Bool) (con *console, gone bool, code int, err error) {
	execing := false
	for {
		var m initMessage
		fds, eof, err := receive(sock, &m)
		switch {
		case err != nil && !execing:
			// ECONNRESET: the init died with our message unread.
			for _, fd := range fds {
				unix.Close(fd)
			}
			code, err := c.deadInit(cmd, pipes, err)
			return con, true, code, err
		case err != nil:
			return con, false, ExitSetup, err
		case eof && !execing:
			code, err := c.deadInit(cmd, pipes, nil)
			return con, true, code, err
		case eof:
			return con, false, 0, nil
		case m.Type == "log":
			io.WriteString(stdio.Err, m.Text)
		case m.Type == "exec":
			execing = true
			running.Store(true)
		case m.Type == "pty" && len(fds) == 1 && con == nil:
			con, err = newConsole(os.NewFile(uintptr(fds[0]), "ptmx"), stdio, c.Config.Interactive, hangUp)
			if err != nil {
				return nil, false, ExitSetup, err
			}
		case m.Type == "error":
			cmd.Wait()
			pipes.pass()
			if m.Code == 0 {
				m.Code = ExitSetup
			}
			return con, true, m.Code, errors.New(m.Error)
		default:
			for _, fd := range fds {
				unix.Close(fd)
			}
			return con, false, ExitSetup, fmt.Errorf("unexpected message %q from the container init", m.Type)
		}
	}
}

// deadInit is start's answer when the init ended before the command ran
// (end of file on the sync socket without "exec" before it, or the socket
// broke under a send or receive): it waits for the init and says in one
// line why it died. The Go runtime's own report (a failed thread start
// under a tiny --pids: "fatal error: newosproc", and a stack trace) was
// held back by the relay; its first line is all the user sees.
func (c *Container) deadInit(cmd *exec.Cmd, pipes *relay, cause error) (int, error) {
	if cause != nil && !errors.Is(cause, unix.EPIPE) && !errors.Is(cause, unix.ECONNRESET) {
		// Not a sign of death: the init may live on. It must not.
		cmd.Process.Kill()
		cmd.Wait()
		return ExitSetup, cause
	}
	cmd.Wait()
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
