// Package execvp is execvp(3) for Go: search PATH like the shell, then
// replace the calling process with the program (execve(2)).
//
// The demos end the way their C originals do, by becoming the command the
// user asked for, so its PID, namespaces and exit status are the demo's.
package execvp

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Exec never returns on success. On failure it returns the errno execvp(3)
// would set: ENOENT when the program is found nowhere in PATH, EACCES when
// it is not executable, or what execve(2) reported.
//
// Call it from the goroutine whose thread carries the state the program
// must inherit (runtime.LockOSThread): execve keeps the calling thread's
// namespaces and makes it the only thread of the new program.
func Exec(argv []string) error {
	path, err := LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// LookPath finds a program as execvp(3) does, for a caller that must fork
// before it execs; errors are execvp's errnos.
func LookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", errnoOf(err)
	}
	return path, nil
}

// errnoOf turns os/exec's lookup errors into execvp(3)'s errno.
func errnoOf(err error) error {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, os.ErrPermission):
		return syscall.EACCES
	}
	return err
}

// ExitStatus is the status a shell reports for a program that ended
// (sh(1), "Exit Status"): its own exit status, or 128+N when signal N
// killed it. The demos and minicontainer exit with it, as docker does.
func ExitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
