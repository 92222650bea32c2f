package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
)

// unshareThenFork is --no-fork: what the C does first, unshare(2) in this
// process, then what the article's port did next, start the program with
// os/exec. With CLONE_NEWPID this fails: the caller itself stays in its PID
// namespace, and the first process it creates afterwards becomes PID 1 of
// the new one (pid_namespaces(7)). Package os's first fork is a throwaway
// probe (does clone(CLONE_PIDFD) work?) that exits at once; when the init
// of a PID namespace is gone, every later fork into it fails with ENOMEM.
func unshareThenFork(x *explain.Narrator, flags uintptr) int {
	// unshare(2) changes only the calling thread of a Go program; the
	// program must be started from that thread, which must then die.
	runtime.LockOSThread()
	err := unix.Unshare(int(flags))
	x.Call("unshare(2)", fmt.Sprintf("unshare(%s)", ns.FlagString(flags)), nil, err)
	if err != nil {
		if flags&unix.CLONE_NEWUSER != 0 && errors.Is(err, unix.EINVAL) {
			x.Note("a multithreaded process cannot unshare(CLONE_NEWUSER), and a Go program always has threads")
		}
		fail("unshare", err)
	}
	if flags&unix.CLONE_NEWNS != 0 {
		if err := prepareMounts(x, cli.Propagation, cli.MountProc); err != nil {
			fail("mount", err)
		}
	}
	cmd := exec.Command(cli.Program[0], cli.Program[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	x.Note("os/exec forks; the first time, it first probes clone(CLONE_PIDFD) with a child that exits at once")
	err = cmd.Start()
	x.Call("clone(2)", "clone(CLONE_VM|CLONE_PIDFD|CLONE_VFORK|SIGCHLD)", pid(cmd), err)
	if errors.Is(err, unix.ENOMEM) && flags&unix.CLONE_NEWPID != 0 {
		fmt.Fprintf(os.Stderr, "unsharedemo: fork: %s\n", explain.Strerror(err))
		fmt.Fprintln(os.Stderr, "unsharedemo: the new PID namespace has no init: Go's first fork (a pidfd probe) became its PID 1 and exited; drop --no-fork")
		return 1
	}
	if err != nil {
		fail("execvp", err)
	}
	return wait(x, cmd)
}
