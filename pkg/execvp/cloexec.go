package execvp

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// CloseOnExecFrom marks every open file descriptor from minFd up
// close-on-exec, so that a program exec'd later gets only the ones below.
//
// Why: a descriptor the caller inherited without FD_CLOEXEC (a shell's
// saved fd 10, a CI runner's pipe) stays open across fork and execve(2),
// and Go's os/exec does not close it either. Into a container it would
// carry a way out of the sandbox, so runc's init does the same before the
// user's command (libcontainer/utils.CloseExecFrom). Marking, not
// closing: the Go runtime owns some of them (its epoll fd, for example)
// and those are close-on-exec already.
//
// close_range(2) with CLOSE_RANGE_CLOEXEC needs Linux 5.11; older kernels
// get the same by walking /proc/self/fd. x narrates the call made.
func CloseOnExecFrom(minFd int, x *explain.Narrator) error {
	err := unix.CloseRange(uint(minFd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	x.Call("close_range(2)", fmt.Sprintf("close_range(%d, ~0U, CLOSE_RANGE_CLOEXEC)", minFd), nil, err)
	if err == nil || !(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		return err
	}
	x.Note("no CLOSE_RANGE_CLOEXEC before Linux 5.11: fcntl(fd, F_SETFD, FD_CLOEXEC) for each fd >= %d in /proc/self/fd", minFd)
	return closeOnExecByWalking(minFd)
}

// closeOnExecByWalking is CloseOnExecFrom for kernels without
// CLOSE_RANGE_CLOEXEC: one fcntl(2) per descriptor in /proc/self/fd.
func closeOnExecByWalking(minFd int) error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("close-on-exec from fd %d: %w", minFd, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("close-on-exec from fd %d: %w", minFd, err)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < minFd || fd == int(d.Fd()) {
			continue
		}
		// EBADF: the fd was the directory's, or closed meanwhile.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("close-on-exec fd %d: %w", fd, err)
		}
	}
	return nil
}
