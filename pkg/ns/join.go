package ns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNeedsSingleThread is returned when asked to join a user or time
// namespace from Go. setns(2) refuses both for a multithreaded caller
// (EINVAL for user, see setns(2) ERRORS; the time namespace of a
// multithreaded process cannot be changed either), and a Go program is
// multithreaded before main runs. pkg/nsenter joins them from a cgo
// constructor instead, before the Go runtime starts its threads.
var ErrNeedsSingleThread = errors.New("a multithreaded process cannot join this namespace; it must be joined before the Go runtime starts (see pkg/nsenter)")

// Join moves the calling thread into the namespace open at fd, which must be
// of kind k (setns(2) checks this because nstype is not 0).
//
// The caller must have called runtime.LockOSThread and must not unlock it
// afterwards: setns changes only the calling thread, and the Go scheduler
// would otherwise run other goroutines on this thread, or this goroutine on
// another one. A thread that is never unlocked is destroyed when its
// goroutine exits, so the change cannot leak into the rest of the program.
//
// Kind rules (see setns(2), "Details for specific namespace types"):
//   - mnt: the thread first gets its own filesystem attributes with
//     unshare(CLONE_FS), because Go creates its threads with CLONE_FS and the
//     kernel refuses to change the root of a shared fs_struct (EINVAL).
//   - pid: only children created afterwards are in the new namespace; the
//     caller itself stays where it was.
//   - user, time: impossible from a running Go program; ErrNeedsSingleThread.
func Join(fd int, k Kind) error {
	switch k.Flag {
	case unix.CLONE_NEWUSER, unix.CLONE_NEWTIME:
		return fmt.Errorf("setns %s: %w", k.Name, ErrNeedsSingleThread)
	case unix.CLONE_NEWNS:
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare(CLONE_FS) before joining mnt: %w", err)
		}
	}
	if err := unix.Setns(fd, int(k.Flag)); err != nil {
		return fmt.Errorf("setns %s: %w", k.Name, err)
	}
	return nil
}

// JoinPath opens path and joins it; see Join for the thread rules.
func JoinPath(path string, k Kind) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	return Join(fd, k)
}
