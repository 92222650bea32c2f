package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/minicontainer/minicontainer/pkg/proc"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// The steps of create that `create` (oci.go) and `run` (run.go) share,
// in the order both take them: the cgroup, the exec fifo, the sync
// socket, the init cloned into the Spec's namespaces and recorded, the
// host steps, the Spec sent, and the init's messages until it is ready.
// They differ only in who holds the init afterwards: create's caller, or
// run itself, which starts it at once and waits.

// writeSpec keeps the Spec the container was created from in its state
// dir (specFile): start, state, delete and exec read it there.
func writeSpec(dir string, s *specs.Spec) error {
	data, err := spec.MarshalIndent(s, "", "\t") // as json.MarshalIndent, colder types left out
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, specFile), data, 0o600)
}

// makeExecFifo makes the exec fifo in the state dir and returns it open
// O_PATH: the init opens it for writing, which blocks until start opens it
// for reading (fifo(7)). 0622 as runc makes it: a process.user that is
// not root can still open it to write. An O_PATH descriptor opens nothing
// (no blocking), and the init reopens it through /proc/self/fd once its
// own root hides the path.
func (c *Container) makeExecFifo() (*os.File, error) {
	fifo := filepath.Join(c.State.Dir(), execFifo)
	err := unix.Mkfifo(fifo, 0o622)
	c.x.Call("mkfifo(3)", fmt.Sprintf("mkfifo(%q, 0622)", fifo), nil, err)
	if err == nil {
		// mkfifo applies the umask (0600 under 022): set the mode again.
		err = unix.Chmod(fifo, 0o622)
	}
	if err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	fd, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	return os.NewFile(uintptr(fd), execFifo), nil
}

// syncSocket is the parent's end and the init's end of a socketpair(2)
// (see sync.go).
func syncSocket(x *explain.Narrator) (int, *os.File, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	x.Call("socketpair(2)", fmt.Sprintf("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [%d, %d])", pair[0], pair[1]), nil, err)
	if err != nil {
		return -1, nil, fmt.Errorf("socketpair: %w", err)
	}
	return pair[0], os.NewFile(uintptr(pair[1]), "sync"), nil
}

// initCommand is the bundle init, re-executed, as clone will start it:
// the sync socket and the fifo as fds 3 and 4 (then the preserved ones),
// the given stdio, the Spec's namespaces, a session of its own, and on
// v2 the cgroup it is born in. foreground: the init dies with
// minicontainer (run, run --bundle). It returns whether the init must
// unshare its cgroup namespace itself, and what closes the cgroup's
// descriptor once the init started.
func (c *Container) initCommand(plan *bundlePlan, files []*os.File, stdio [3]*os.File, foreground bool) (*execCmd, bool, func(), error) {
	cmd := reexec.Command(bundleInitEntry)
	cmd.ExtraFiles = files
	// The process's own environment comes with the Spec. GOMAXPROCS=1:
	// the init is one goroutine; one P means fewer runtime threads to
	// start (each one also takes a PID in the container's namespace).
	// containermaxprocs=0: else Go (1.25 and later) keeps the container's
	// cpu.cfs_quota_us and cpu.cfs_period_us open for the whole run, and
	// with --init PID 1 would hand them to the container as /proc/1/fd/N,
	// opened on the init's writable copy of the host's cgroup mount.
	cmd.Env = append([]string{c.x.Env(), "GOMAXPROCS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}, c.Config.Timing.Env()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: plan.cloneFlags,
		// A session of its own, with no controlling terminal, as runc's
		// init makes (setsid(2)): else the container would share ours, and
		// open("/dev/tty") in there would give it the caller's terminal
		// (tty(4)). A terminal of its own comes with process.terminal.
		Setsid: true,
	}
	if foreground {
		// If minicontainer is killed (even by SIGKILL), the kernel kills
		// the init, and with it the whole PID namespace (pid_namespaces(7)).
		// PR_SET_PDEATHSIG fires when the creating THREAD exits, not the
		// process (prctl(2)): cloneJoined keeps that thread until the wait.
		// Without it (create), the init is create's caller's, re-parented
		// to its subreaper (prctl(2) PR_SET_CHILD_SUBREAPER) until delete.
		cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
	}
	if userNS(plan.spec) {
		if err := bridgeCaps(cmd.SysProcAttr); err != nil {
			return nil, false, nil, err
		}
	}
	unshareCgroupNS, closeCgroupFD, err := c.cgroupClone(cmd.SysProcAttr)
	if err != nil {
		return nil, false, nil, err
	}
	// Only a Spec that asks for a cgroup namespace gets one.
	unshareCgroupNS = unshareCgroupNS && plan.cloneFlags&unix.CLONE_NEWCGROUP != 0
	c.placedAtClone = cmd.SysProcAttr.UseCgroupFD && c.cgroup.Joined()
	c.initCmd = cmd
	return cmd, unshareCgroupNS, closeCgroupFD, nil
}

// recordInit writes the init's PID in state.json; the undo that kills it
// is registered first.
func (c *Container) recordInit(pid int) error {
	c.OnCleanup(func() error {
		c.initCmd.Process.Kill()
		c.waitInit()
		return nil
	})
	if err := fault.Point(c.x, "clone"); err != nil {
		return err
	}
	c.State.Pid, c.State.PidStart = pid, proc.StartTime(pid)
	if err := c.State.save(); err != nil {
		return err
	}
	return fault.Point(c.x, "pid")
}

// runHostSteps does what only the host can (hostSteps) while the init
// waits for its Spec.
func (c *Container) runHostSteps() error {
	for _, step := range hostSteps {
		c.x.Note("host step %s for init %d", step.name, c.State.Pid)
		if err := step.do(c); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		if err := fault.Point(c.x, "host step "+step.name); err != nil {
			return err
		}
	}
	return nil
}

// sendInit sends the init its Spec: the host side is ready.
func (c *Container) sendInit(sock int, bi bundleInit, fds ...int) error {
	// The Linux-only form: encoding/json then builds no encoder for the
	// other platforms' types (spec.LinuxJSON). A Spec that Validate
	// accepted sets none of their sections.
	if bi.LinuxSpec = spec.ToLinuxJSON(bi.Spec); bi.LinuxSpec == nil {
		return errors.New("the Spec sets another platform's section (solaris, windows, vm, zos or freebsd)")
	}
	n, err := send(sock, bi, fds...)
	rights := ""
	if len(fds) > 0 {
		rights = fmt.Sprintf(", SCM_RIGHTS %v", fds)
	}
	c.x.Call("sendmsg(2)", fmt.Sprintf("sendmsg(%d, {the Spec, process %s%s}, 0)", sock, explain.Quote(strings.Join(bi.Spec.Process.Args, " ")), rights), n, err)
	if err != nil {
		return err
	}
	return fault.Point(c.x, "config-sent")
}

// waitInit waits for the init: through cloneJoined's goroutine when it
// waits for it (a foreground init), else here.
func (c *Container) waitInit() {
	if c.exited != nil {
		<-c.exited
		return
	}
	c.initCmd.Wait()
}

// initEvents are how create and run take the init's messages.
type initEvents struct {
	log  io.Writer               // its narration
	pty  func(master int) error  // its terminal's master (the callee owns it)
	died func(cause error) error // it ended, or the socket broke (cause)
}

// initError is what awaitInit returns when the init said why it gives
// up, with the exit code it maps to.
type initError struct {
	code int
	msg  string
}

func (e *initError) Error() string { return e.msg }

// awaitInit reads the init's messages until it is ready, or with
// untilEOF until the end of file that its execve(2) makes (its end of
// the socket is close-on-exec). A failure the init reports is an
// *initError with its exit code; an end of file before "ready" is a
// death (ev.died).
func (c *Container) awaitInit(sock int, untilEOF bool, ev initEvents) error {
	for {
		var m initMessage
		fds, eof, err := receive(sock, &m)
		switch {
		case err != nil:
			// ECONNRESET: the init died with our message unread.
			for _, fd := range fds {
				unix.Close(fd)
			}
			return ev.died(err)
		case eof && untilEOF:
			return nil
		case eof:
			return ev.died(nil)
		case m.Type == "log":
			io.WriteString(ev.log, m.Text)
		case m.Type == "pty" && len(fds) == 1 && ev.pty != nil:
			if err := ev.pty(fds[0]); err != nil {
				return err
			}
		case m.Type == "ready" && !untilEOF:
			return nil
		case m.Type == "timing":
			c.initTimes(m.Phases)
		case m.Type == "error":
			c.waitInit()
			if m.Code == 0 {
				m.Code = ExitSetup
			}
			return &initError{m.Code, m.Error}
		default:
			for _, fd := range fds {
				unix.Close(fd)
			}
			return fmt.Errorf("unexpected message %q from the container init", m.Type)
		}
	}
}

// openExecFifo is start's step: open the fifo to read, which lets the
// init's open for writing return; read its byte; remove the fifo. The
// init then execs the process.
func openExecFifo(s *State, x *explain.Narrator) error {
	fifo := filepath.Join(s.Dir(), execFifo)
	// O_NONBLOCK: open returns at once even with no writer (fifo(7)), so
	// a start never hangs on an init that died; the read below waits.
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	x.Call("open(2)", fmt.Sprintf("open(%q, O_RDONLY|O_NONBLOCK|O_CLOEXEC)", fifo), fd, err)
	if err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			x.Call("read(2)", fmt.Sprintf("read(%d<%s>, %q)", fd, fifo, buf[:n]), n, nil)
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("exec fifo: %w", err)
		}
		// No byte yet (EAGAIN, or end of file before the init's open):
		// the init may have died meanwhile. Or it may have opened the
		// fifo, written its byte and run a short process to its end since
		// that read (seen once in make test-repeat, runtime-tools'
		// linux_masked_paths): the byte stays in the pipe while we hold
		// it open (pipe(7)), so one more read tells the two apart.
		if !proc.Alive(s.Pid, s.PidStart) {
			fifoRaced()
			if n, _ := unix.Read(fd, buf); n > 0 {
				x.Call("read(2)", fmt.Sprintf("read(%d<%s>, %q)", fd, fifo, buf[:n]), n, nil)
				break
			}
			return errStopped
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 20)
	}
	err = os.Remove(fifo)
	x.Call("unlink(2)", fmt.Sprintf("unlink(%q)", fifo), nil, err)
	if err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	return nil
}

// fifoRaced is called when start finds the init gone after an empty
// read; a test makes the init's byte arrive there.
var fifoRaced = func() {}

// errStopped is start's answer for an init that is gone (runc's words).
var errStopped = errors.New("cannot start a container that has stopped")
