// Package reexec is Go's answer to clone(2) with a child function.
//
// In C, clone(fn, stack, CLONE_NEWUTS|SIGCHLD, arg) starts fn in a child
// that is already inside the new namespaces. Go has no such call: a raw
// fork or clone copies only the calling thread of a multithreaded runtime,
// and the child can deadlock on a lock another thread held, or in the
// garbage collector. Go's own fork (syscall.ForkExec) is safe because the
// child does nothing but system calls before exec.
//
// So the child runs the same program again: the parent starts
// /proc/self/exe with SysProcAttr.Cloneflags (the namespaces are created by
// the clone(2) that os/exec makes), and argv[0] names the entry point the
// new process should run instead of main. Docker, runc and Go's own tests
// use this idiom.
package reexec

import (
	"fmt"
	"os"
	"os/exec"
)

var entries = map[string]func(){}

// Register names a child entry point. Call it from init() or early in main,
// before Init. Names should not look like a program the user might run.
func Register(name string, fn func()) {
	if _, dup := entries[name]; dup {
		panic(fmt.Sprintf("reexec: %q registered twice", name))
	}
	entries[name] = fn
}

// Init runs the entry point named by os.Args[0], if there is one, and exits
// with status 0 when it returns (an entry point normally execs or exits
// itself): in a re-executed child it never returns. It returns only in the
// original process, which goes on with main.
func Init() {
	fn, ok := entries[os.Args[0]]
	if !ok {
		return
	}
	fn()
	os.Exit(0)
}

// Self is the path the kernel keeps for the running executable; it works
// even when the binary was started by a relative path or was deleted.
const Self = "/proc/self/exe"

// Command prepares a re-execution of this program that will run entry
// point name with args. The caller sets SysProcAttr (Cloneflags, pipes) and
// starts it. Args[0] is name, so ps(1) shows which entry point runs.
func Command(name string, args ...string) *exec.Cmd {
	if _, ok := entries[name]; !ok {
		panic(fmt.Sprintf("reexec: %q is not registered", name))
	}
	cmd := exec.Command(Self, args...)
	cmd.Args[0] = name
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}
