package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/network"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// initEntry is the name the container's init runs under (pkg/reexec): the
// re-executed minicontainer that is PID 1 in the new namespaces until it
// becomes the user's command.
const initEntry = "minicontainer-init"

// syncFd is the init's end of the sync socket (cmd.ExtraFiles[0]).
const syncFd = 3

func init() {
	reexec.Register(initEntry, initMain)
	if os.Args[0] == initEntry {
		// PR_SET_PDEATHSIG is a property of a THREAD, not of the process
		// (prctl(2)): Go's fork sets it on the init's first thread only,
		// and new threads start without it. execve(2) keeps the value of
		// the thread that calls it, so an init whose goroutine had moved
		// to another runtime thread exec'd the command without it, and the
		// command survived a SIGKILLed minicontainer (1 run in 7 here).
		// Package init runs on the main thread; locking the main goroutine
		// to it now keeps initMain, and its execve, there.
		runtime.LockOSThread()
	}
}

// initMain is the container side, from clone(2) to execve(2). It runs in
// the new namespaces as PID 1; it returns (and exits) only on failure,
// after telling the parent what failed.
func initMain() {
	// PR_SET_PDEATHSIG (SysProcAttr.Pdeathsig) is a property of one
	// thread: the one clone(2) made. The Go runtime starts more threads
	// (they get no parent-death signal, see prctl(2)), and execve(2) from
	// one of them keeps *its* setting, none: a container whose command was
	// exec'd from another thread outlived a SIGKILLed minicontainer (2 to 3
	// runs in 15 here). So: stay on one thread from here to the exec, and
	// arm the signal on it. Had minicontainer died before this prctl, the
	// receive below sees end of file and the init exits.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		os.Exit(ExitSetup)
	}
	log := &syncLog{}
	x := explain.FromEnvTo(log, "[container] ")
	var ic initConfig
	// Block until the host side is ready (cgroup, network...). End of file
	// means minicontainer died or gave up: there is nothing to do.
	_, eof, err := receive(syncFd, &ic)
	if eof {
		os.Exit(ExitSetup)
	}
	if err != nil {
		log.fail(ExitSetup, fmt.Errorf("the container's init could not read its config: %w", err))
		os.Exit(ExitSetup)
	}
	x.Note("the config arrived on fd %d: the host side is ready", syncFd)
	code, err := startCommand(ic, log, x)
	log.fail(code, err)
	os.Exit(code)
}

// startCommand sets the container up and execs the command; it returns
// only on failure, with the exit code the failure maps to.
func startCommand(ic initConfig, log *syncLog, x *explain.Narrator) (int, error) {
	if ic.UnshareCgroupNS {
		if err := unshareCgroupNS(x); err != nil {
			return ExitSetup, err
		}
	}
	err := unix.Sethostname([]byte(ic.Hostname))
	x.Call("sethostname(2)", fmt.Sprintf("sethostname(%q, %d)", ic.Hostname, len(ic.Hostname)), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("sethostname %q: %w", ic.Hostname, err)
	}
	// A new network namespace has only "lo", and it is down. (With --net
	// host this is the host's namespace: not ours to touch.)
	if ic.NetNS {
		if err := network.LoopbackUp(x); err != nil {
			return ExitSetup, err
		}
	}
	// Mounts: private propagation, overlay, volumes, /proc /sys /dev, then
	// pivot_root (or chroot). From here on "/" is the container's.
	if err := rootfs.Setup(ic.Rootfs, x); err != nil {
		return ExitSetup, err
	}
	if ic.Workdir != "" {
		err := unix.Chdir(ic.Workdir)
		x.Call("chdir(2)", fmt.Sprintf("chdir(%q)", ic.Workdir), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("workdir %s: %w", ic.Workdir, err)
		}
	}
	path, err := lookPath(ic.Command[0], ic.Env)
	if err != nil {
		return execCode(err), fmt.Errorf("exec %q: %w", ic.Command[0], err)
	}

	var tty *os.File
	if ic.TTY {
		master, slave, err := openPTY(ic.WindowSize, x)
		if err != nil {
			return ExitSetup, err
		}
		// The parent proxies the master between the user's terminal and
		// the container, like runc's --console-socket.
		_, err = send(syncFd, initMessage{Type: "pty"}, int(master.Fd()))
		master.Close()
		if err != nil {
			return ExitSetup, err
		}
		tty = slave
	}
	// Nothing but stdin, stdout and stderr may leak into the command: not
	// the sync socket, nor a descriptor of the Go runtime's. (What
	// minicontainer inherited from its caller never reached this process:
	// the parent marked it close-on-exec before the clone.) The kernel
	// closes them at a successful execve, and the parent reads the sync
	// socket's end of file as "the command runs".
	if err := execvp.CloseOnExecFrom(syncFd, x); err != nil {
		return ExitSetup, err
	}
	// Set-up is done: from here, an end of file is the exec, not a death.
	if _, err := send(syncFd, initMessage{Type: "exec"}); err != nil {
		return ExitSetup, err
	}

	if ic.Init {
		return tinyInit(path, ic.Command, ic.Env, tty, log, x)
	}
	if tty != nil {
		if err := takeTerminal(tty, x); err != nil {
			return ExitSetup, err
		}
	}
	x.Note("execve(%q, %q, [%d vars]): PID 1 becomes the command", path, ic.Command, len(ic.Env))
	err = unix.Exec(path, ic.Command, ic.Env)
	return execCode(err), fmt.Errorf("exec %q: %w", ic.Command[0], err)
}

// errNotFound is exec's "not in $PATH", as docker words it.
var errNotFound = errors.New("executable file not found in $PATH")

// lookPath finds name as execvp(3) would, with the container's PATH (the
// init's own environment has none), inside the container's root.
func lookPath(name string, env []string) (string, error) {
	// An empty name joined to a PATH directory is that directory, which
	// would be reported as "is a directory" (126). execvp(3) fails an empty
	// file with ENOENT; runc (Go's exec.LookPath) says "executable file not
	// found in $PATH" and docker exits 127: so do we.
	if name == "" {
		return "", errNotFound
	}
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[len("PATH="):]
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, unix.ENOENT) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", errNotFound
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	return unix.Access(p, unix.X_OK)
}

// execCode maps why a command could not be started to docker's codes:
// 127 not found, 126 found but not executable.
func execCode(err error) int {
	if errors.Is(err, errNotFound) || errors.Is(err, unix.ENOENT) {
		return ExitNotFound
	}
	return ExitCannotExec
}
