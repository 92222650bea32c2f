// Lab 05's solution: a command inside a root filesystem of its own. The
// steps are the project's own functions (pkg/rootfs), which the container
// runtime uses too; read them for the comments on each system call.
//
//	demo ROOTFS COMMAND [ARG...]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

const childEntry = "lab05-child"

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s ROOTFS COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	cmd := reexec.Command(childEntry, os.Args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

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

func setUpRoot(root string) error {
	// 1. Cut every mount from its peers on the host (mount_namespaces(7)).
	if err := rootfs.SetPropagation(nil, "/", "private"); err != nil {
		return err
	}
	// 2. pivot_root(2) wants a mount point: bind the root on itself.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s on itself: %w", root, err)
	}
	// 3 and 4. pivot_root(".", ".") and the lazy unmount of the old root.
	if err := rootfs.PivotRoot(nil, root); err != nil {
		return err
	}
	// 5. A proc of our own; mount(2) needs the directory.
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return fmt.Errorf("mkdir /proc: %w", err)
	}
	return rootfs.MountProc(nil, "/proc")
}
