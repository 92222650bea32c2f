// Lab 11, a solution: run a command inside a running process's
// namespaces, as `minicontainer exec` and `nsenter -a` do (lesson 11,
// "exec: everything setnsdemo did, and more").
//
//	demo PID COMMAND [ARG...]
//
// joins the UTS, IPC, network, PID and mount namespaces of PID (those that
// differ from ours), then forks COMMAND and exits with its status.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// kinds are joined in this order; mnt last: once in it, the paths of
// /proc may mean something else (all files are opened first anyway).
var kinds = []struct {
	name string
	flag int
}{
	{"uts", unix.CLONE_NEWUTS}, {"ipc", unix.CLONE_NEWIPC}, {"net", unix.CLONE_NEWNET},
	{"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS},
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "usage: %s PID COMMAND [ARG...]\n", os.Args[0])
		os.Exit(1)
	}
	pid := os.Args[1]
	// setns(2) moves one thread: stay on it from the first join to the
	// fork, which clones this very thread.
	runtime.LockOSThread()
	var fds []int
	for _, k := range kinds {
		theirs, err := os.Readlink("/proc/" + pid + "/ns/" + k.name)
		if err != nil {
			fail("open", err)
		}
		if ours, _ := os.Readlink("/proc/self/ns/" + k.name); ours == theirs {
			fds = append(fds, -1) // ours already
			continue
		}
		fd, err := unix.Open("/proc/"+pid+"/ns/"+k.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fail("open", err)
		}
		fds = append(fds, fd)
	}
	for i, k := range kinds {
		if fds[i] < 0 {
			continue
		}
		if k.flag == unix.CLONE_NEWNS {
			// Go's threads share their root and cwd (CLONE_FS): the
			// kernel refuses to move a thread that shares them (EINVAL).
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				fail("unshare", err)
			}
		}
		if err := unix.Setns(fds[i], k.flag); err != nil {
			fail("setns "+k.name, err)
		}
		unix.Close(fds[i])
	}
	// After setns into a PID namespace only our children are inside:
	// fork (os/exec), wait, and pass the status on.
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	case err != nil:
		fail("exec", err)
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %v\n", os.Args[0], what, err)
	os.Exit(1)
}
