// Lab 05: run a command inside a root filesystem of its own, with a new
// mount namespace, pivot_root(2) and a new /proc.
//
//	demo ROOTFS COMMAND [ARG...]
//
// Example (as root, with a busybox root filesystem in /tmp/lab05/rootfs):
//
//	demo /tmp/lab05/rootfs /bin/sh -c 'ls /; cat /proc/self/mountinfo'
//
// lists the root filesystem's files, and the command sees two mounts only:
// "/" and "/proc". Read docs/05-rootfs.md, pivot_root(2) and
// mount_namespaces(7). Fill in the TODOs of setUpRoot.
// Check your work as root: make lab LAB=05
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// Go has no clone(fn): the child is this program started again, by this
// name, in a new mount namespace (see pkg/reexec and lesson 02).
const childEntry = "lab05-child"

func main() {
	reexec.Register(childEntry, child)
	reexec.Init() // runs child instead of main in the re-executed program
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s ROOTFS COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	cmd := reexec.Command(childEntry, os.Args[1:]...)
	// The mount namespace is made by the clone(2) that starts the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			os.Exit(exit.ExitCode()) // the command's exit status is ours
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// child runs in the new mount namespace: os.Args is ROOTFS COMMAND [ARG...].
func child() {
	root, argv := os.Args[1], os.Args[2:]
	if err := setUpRoot(root); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	// The command is looked up in the new root (PATH, or a path like /bin/sh).
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", path, err)
	os.Exit(126)
}

// setUpRoot makes root the root directory of this mount namespace and
// mounts a new proc filesystem on /proc. Return an error that says which
// step failed, e.g. fmt.Errorf("pivot_root %s: %w", root, err).
func setUpRoot(root string) error {
	// TODO 1: make every mount of this namespace private (unix.Mount with
	// MS_REC|MS_PRIVATE on "/"). The new namespace holds copies of the
	// host's mounts, and on a systemd host they are shared: without this
	// step, what you mount below also appears on the host, and
	// pivot_root(2) fails with EINVAL.

	// TODO 2: pivot_root(2) needs new_root to be a mount point. Bind-mount
	// root on itself (MS_BIND|MS_REC).

	// TODO 3: go into root (unix.Chdir) and call unix.PivotRoot(".", ".").
	// The old root is now stacked on top of ".".

	// TODO 4: detach the old root: unix.Unmount(".", unix.MNT_DETACH), then
	// unix.Chdir("/"). Afterwards no path leads back to the host's files.

	// TODO 5: mount a new proc filesystem on /proc ("proc", "/proc",
	// "proc"). Make the directory first if the root has none: mount(2)
	// on a missing directory fails with ENOENT.
	return nil
}
