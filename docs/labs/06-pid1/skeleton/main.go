// Lab 06: the container's PID 1. This is lab 05's solution; make the
// command PID 1 of a new PID namespace, pass signals on to it, and report
// its exit status the way a shell does.
//
//	demo ROOTFS COMMAND [ARG...]
//
// Example (as root, with a busybox root filesystem in /tmp/lab06/rootfs):
//
//	demo /tmp/lab06/rootfs /bin/sh -c 'echo $$; ps'
//
// prints 1, and ps lists only the container's processes. Read
// docs/06-minicontainer.md (section 4, PID 1) and pid_namespaces(7).
// Fill in the TODOs. Check your work as root: make lab LAB=06
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

// signal.Notify is what TODO 2 needs.
var _ = signal.Notify

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s ROOTFS COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	cmd := reexec.Command(childEntry, os.Args[1:]...)
	// TODO 1: add CLONE_NEWPID, so that the child is PID 1 of a new PID
	// namespace. Do it here, at clone time: unshare(CLONE_NEWPID) moves
	// only the caller's next child (lesson 04, the ENOMEM trap).
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	// TODO 2 (first half): catch SIGTERM, SIGINT and SIGHUP with
	// signal.Notify on a channel sigs, before Start.
	sigs := make(chan os.Signal, 8)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	go func() {
		// PID 1 gets only the signals it has a handler for, when they come
		// from inside its namespace (pid_namespaces(7)); from here, its
		// parent's namespace, the same rule holds for all but SIGKILL
		// and SIGSTOP. We pass each one on; the command decides.
		// TODO 2 (second half): send each signal from sigs to the child
		// with cmd.Process.Signal.
		for range sigs {
		}
	}()
	err := cmd.Wait()
	if err == nil {
		os.Exit(0)
	}
	if exit, ok := err.(*exec.ExitError); ok {
		// TODO 3: when a signal killed the command, exit with 128 + the
		// signal's number, as sh(1) reports it (137 for SIGKILL).
		// exit.Sys().(syscall.WaitStatus) has Signaled() and Signal().
		os.Exit(exit.ExitCode())
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
