// Lab 06's solution: lab 05's program, with the command as PID 1 of a new
// PID namespace, signals passed on to it and its exit status reported the
// way a shell does.
//
//	demo ROOTFS COMMAND [ARG...]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

const childEntry = "lab06-child"

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s ROOTFS COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	cmd := reexec.Command(childEntry, os.Args[1:]...)
	// CLONE_NEWPID at clone time: the child is PID 1 of the new namespace
	// from its first instruction (unshare(CLONE_NEWPID) would move only
	// our next child, and Go's first fork is not ours: lesson 04).
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
	// Catch the signals a user or a supervisor sends to stop us before
	// the child exists, so none kills us between Start and the loop.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	go func() {
		// PID 1 gets only the signals it has a handler for, when they come
		// from inside its namespace (pid_namespaces(7)); from here, its
		// parent's namespace, the same rule holds for all but SIGKILL
		// and SIGSTOP. We pass each one on; the command decides.
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	if err == nil {
		os.Exit(0)
	}
	if exit, ok := err.(*exec.ExitError); ok {
		ws := exit.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal())) // as sh(1) reports it
		}
		os.Exit(ws.ExitStatus())
	}
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	os.Exit(1)
}

// child is PID 1 of the new PID namespace, in the new mount namespace.
func child() {
	root, argv := os.Args[1], os.Args[2:]
	if err := setUpRoot(root); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", path, err)
	os.Exit(126)
}

// setUpRoot is lab 05's. The proc mounted here shows the new PID
// namespace: the namespace of the process that mounts it
// (pid_namespaces(7), "/proc and PID namespaces").
func setUpRoot(root string) error {
	if err := rootfs.SetPropagation(nil, "/", "private"); err != nil {
		return err
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s on itself: %w", root, err)
	}
	if err := rootfs.PivotRoot(nil, root); err != nil {
		return err
	}
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return fmt.Errorf("mkdir /proc: %w", err)
	}
	return rootfs.MountProc(nil, "/proc")
}
