package container

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// tinyInit is --init: PID 1 stays minicontainer, starts the command as
// PID 2, and does the two jobs of an init (pid_namespaces(7); Kerrisk's
// simple_init.c; tini):
//   - reap: orphans of the namespace are re-parented to PID 1; without
//     wait(2) they stay zombies;
//   - forward: PID 1 gets only signals it has a handler for, so the
//     command as PID 1 would ignore a SIGTERM; here the init catches them
//     and passes them on to the command, which gets the default actions.
//
// It exits with the command's status (128+N if a signal killed it), and
// the kernel then kills whatever else is left in the namespace.
func tinyInit(path string, argv, env []string, tty *os.File, log *syncLog, x *explain.Narrator) (int, error) {
	signals := make(chan os.Signal, 32)
	// Before the child exists, so that no SIGCHLD is missed.
	// The signals minicontainer passes on (forwardedSignals), and the
	// terminal's SIGWINCH and SIGCONT: caught, so the Go runtime takes no
	// default action of its own (a stack trace on SIGABRT, SIGQUIT...).
	signal.Notify(signals, append([]os.Signal{unix.SIGCHLD, unix.SIGWINCH, unix.SIGCONT}, forwardedSignals...)...)

	attr := &os.ProcAttr{Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	if tty != nil {
		// The command, not the init, leads the session that owns the
		// terminal, so ^C and job control concern it.
		attr.Files = []*os.File{tty, tty, tty}
		attr.Sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	// The sync socket closes before the fork: the command, and any process
	// of the container, must never find minicontainer's end of it as
	// /proc/1/fd/3. The parent reads end of file after "exec": the command
	// runs; should the fork or exec fail, the line goes to stderr.
	log.close()
	child, err := os.StartProcess(path, argv, attr)
	pid := 0
	if child != nil {
		pid = child.Pid
	}
	x.Call("execve(2)", fmt.Sprintf("fork+execve(%q, %q, [%d vars])", path, argv, len(env)), pid, err)
	if err != nil {
		return execCode(err), fmt.Errorf("exec %q: %w", argv[0], err)
	}
	if tty != nil {
		tty.Close()
	}

	for sig := range signals {
		if sig != unix.SIGCHLD {
			unix.Kill(pid, sig.(syscall.Signal))
			continue
		}
		for {
			var ws unix.WaitStatus
			reaped, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if reaped <= 0 || err != nil {
				break
			}
			if reaped != pid {
				x.Note("init reaped orphan %d", reaped)
				continue
			}
			if ws.Signaled() {
				os.Exit(128 + int(ws.Signal()))
			}
			os.Exit(ws.ExitStatus())
		}
	}
	return ExitSetup, fmt.Errorf("init: signal channel closed")
}
