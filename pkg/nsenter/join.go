package nsenter

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
)

// CallError is a failed step of a join, named by the call as err(3)
// would print it: "open", "setns" or "execve".
type CallError struct {
	Call string
	Err  error
}

func (e *CallError) Error() string { return e.Call + ": " + e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// Open opens each namespace file (O_CLOEXEC, so that the command does not
// inherit it) and returns them in join order: the order of ns.Kinds, user
// first, because it grants the capabilities the other joins need (see
// setns(2) and nsenter(1)). A file that is no namespace fails as the C's
// setns(fd, 0) fails on it, with the kernel's EINVAL, from that very call.
func Open(paths []string, x *explain.Narrator) ([]File, error) {
	var files []File
	for _, path := range paths {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		x.Call("open(2)", fmt.Sprintf("open(%s, O_RDONLY|O_CLOEXEC)", explain.Quote(path)), fd, err)
		if err != nil {
			return nil, &CallError{"open", err}
		}
		kind, err := ns.KindOf(fd)
		if err != nil {
			err := unix.Setns(fd, 0)
			x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, 0)", fd, path), nil, err)
			return nil, &CallError{"setns", err}
		}
		files = append(files, File{FD: fd, Kind: kind, Path: path})
	}
	slices.SortStableFunc(files, func(a, b File) int { return order(a.Kind) - order(b.Kind) })
	return files, nil
}

// Paths returns the namespace files of process pid for kinds, leaving out
// those this process is in already, as nsenter(1) does: joining our own
// user namespace would fail with EINVAL (setns(2)).
func Paths(pid int, kinds []ns.Kind) []string {
	var paths []string
	for _, k := range kinds {
		theirs, err := ns.Of(pid, k)
		if ours, _ := ns.Of(0, k); err == nil && theirs == ours {
			continue
		}
		paths = append(paths, ns.Path(pid, k))
	}
	return paths
}

func order(k ns.Kind) int {
	return slices.IndexFunc(ns.Kinds, func(t ns.Kind) bool { return t.Flag == k.Flag })
}

// Join joins files from the calling goroutine, which must be locked to its
// thread (setns(2) moves one thread). A user or time namespace cannot be
// joined by a multithreaded process, so Join then re-executes the program
// (Exec) and returns only on failure; call Resume first in the new one.
// It reports whether a PID namespace was joined: only children enter it.
func Join(files []File, x *explain.Narrator) (joinedPID bool, err error) {
	for _, f := range files {
		if f.Kind.Flag == unix.CLONE_NEWUSER || f.Kind.Flag == unix.CLONE_NEWTIME {
			x.Note("%s: a multithreaded process cannot join it; re-exec so that a C constructor joins (pkg/nsenter)", f.Kind.Name)
			return false, &CallError{"execve", Exec(files)}
		}
	}
	for _, f := range files {
		if f.Kind.Flag == unix.CLONE_NEWNS {
			// Go's threads share one fs_struct (CLONE_FS); the kernel will
			// not move a thread that shares it into another mount
			// namespace. ns.Join does this too; shown here for the lesson.
			err := unix.Unshare(unix.CLONE_FS)
			x.Call("unshare(2)", "unshare(CLONE_FS)", nil, err)
		}
		err := ns.Join(f.FD, f.Kind)
		x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", f.FD, f.Path, f.Kind.Const), nil, err)
		if err != nil {
			return false, &CallError{"setns", err}
		}
		joinedPID = joinedPID || f.Kind.Flag == unix.CLONE_NEWPID
	}
	return joinedPID, nil
}

// Resume is Join's second half in the program Exec started: it narrates
// what the constructor joined and joins the PID namespace it left (see
// Step.Left) from the calling, locked goroutine. resumed is false when
// this process was not started by Exec.
func Resume(x *explain.Narrator) (resumed, joinedPID bool, err error) {
	steps, ok := Steps()
	if !ok {
		return false, false, nil
	}
	x.Note("re-executed: a C constructor joined before the Go runtime started (pkg/nsenter)")
	for _, s := range steps {
		if s.Tried {
			x.Call("setns(2)", fmt.Sprintf("[constructor] setns(%d<%s>, %s)", s.FD, s.Path, s.Kind.Const), nil, s.Err)
		}
		if s.Err != nil {
			return true, false, &CallError{"setns", s.Err}
		}
	}
	for _, s := range steps {
		if s.Left {
			err := ns.Join(s.FD, s.Kind)
			x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", s.FD, s.Path, s.Kind.Const), nil, err)
			if err != nil {
				return true, false, &CallError{"setns", err}
			}
			unix.Close(s.FD)
		}
		joinedPID = joinedPID || s.Kind.Flag == unix.CLONE_NEWPID
	}
	return true, joinedPID, nil
}
