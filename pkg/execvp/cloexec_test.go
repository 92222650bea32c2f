package execvp

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// leak opens /dev/null the way an inherited descriptor looks: without
// O_CLOEXEC, so a child would get it.
func leak(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// childFds lists the descriptors a child shell has open, as it sees them.
func childFds(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "ls /proc/$$/fd").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func TestCloseOnExecFrom(t *testing.T) {
	for name, mark := range map[string]func(int) error{
		"close_range": func(fd int) error { return CloseOnExecFrom(fd, nil) },
		"/proc walk":  closeOnExecByWalking,
	} {
		t.Run(name, func(t *testing.T) {
			low, high := leak(t), leak(t)
			fds := childFds(t)
			if !contains(fds, high) || !contains(fds, low) {
				t.Fatalf("before: a child should inherit fds %d and %d, it has %v", low, high, fds)
			}
			if err := mark(high); err != nil {
				t.Fatal(err)
			}
			flags, err := unix.FcntlInt(uintptr(high), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC == 0 {
				t.Errorf("fd %d: flags %#x, %v; want FD_CLOEXEC", high, flags, err)
			}
			fds = childFds(t)
			if contains(fds, high) {
				t.Errorf("after: the child still has fd %d: %v", high, fds)
			}
			// Below minFd nothing changes: the caller keeps its stdio.
			if !contains(fds, low) || !contains(fds, 0) {
				t.Errorf("after: the child lost fd %d or 0, below the range: %v", low, fds)
			}
			if _, err := unix.FcntlInt(uintptr(high), unix.F_GETFD, 0); err != nil {
				t.Errorf("fd %d was closed, not only marked: %v", high, err)
			}
		})
	}
}

func contains(fds []string, fd int) bool {
	for _, f := range fds {
		if f == strconv.Itoa(fd) {
			return true
		}
	}
	return false
}
