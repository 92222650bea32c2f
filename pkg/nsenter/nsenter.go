// Package nsenter joins namespaces before the Go runtime starts threads,
// for the kinds a running Go program cannot join.
//
// setns(2) moves only the calling thread, and refuses a multithreaded
// caller for a user namespace (EINVAL) and a time namespace (EUSERS). A Go
// program has several threads before main runs, so it can never join
// those two. runc solves this in libcontainer/nsenter with a C
// constructor: code the loader runs before the Go runtime starts, while
// the process still has a single thread.
//
// This package is that constructor, made small. Importing it links the
// constructor into the program; it does nothing unless the environment
// variable EnvVar names namespace files to join. Exec sets that variable
// and re-executes the program in place (same PID, same arguments), the
// constructor joins every namespace given, in order, and the program
// starts again already inside them; Steps then reports what happened.
package nsenter

/*
#include "nsenter.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/ns"
)

// EnvVar tells the constructor what to join: lines "FD:NSTYPE:PATH".
const EnvVar = C.MC_NSENTER_ENV

// File is one namespace file to join: an open descriptor and its kind.
type File struct {
	FD   int
	Kind ns.Kind
	Path string // for messages only
}

// Step is one setns(2) the constructor made (or did not reach).
type Step struct {
	File
	Err   error // nil: joined
	Tried bool  // false: an earlier step failed first, or Left
	// Left is true for a PID namespace: the constructor leaves it to the
	// Go side (File.FD is still open), because after setns(CLONE_NEWPID)
	// clone(2) refuses to create threads (EINVAL), and the Go runtime
	// needs them. A locked goroutine can join it with ns.Join instead: Go
	// then creates its threads from a template thread that never joined.
	Left bool
}

// Exec re-executes this program (same arguments) so that the constructor
// joins files, in the order given, before the Go runtime starts (all but a
// PID namespace, see Step.Left). It
// returns only on failure. The descriptors must stay open across execve,
// so their close-on-exec flag is cleared here.
func Exec(files []File) error {
	var spec strings.Builder
	for _, f := range files {
		if _, err := unix.FcntlInt(uintptr(f.FD), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("fcntl(%d, F_SETFD, 0): %w", f.FD, err)
		}
		fmt.Fprintf(&spec, "%d:%d:%s\n", f.FD, f.Kind.Flag, f.Path)
	}
	env := append(os.Environ(), EnvVar+"="+spec.String())
	return syscall.Exec("/proc/self/exe", os.Args, env)
}

// Steps reports what the constructor did. ok is false when this process
// was not started by Exec. The variable is removed from the environment so
// that the program's children do not see it.
func Steps() (steps []Step, ok bool) {
	spec, ok := os.LookupEnv(EnvVar)
	if !ok || C.mc_nsenter_nsteps < 0 {
		return nil, false
	}
	os.Unsetenv(EnvVar)
	lines := strings.Split(strings.TrimSuffix(spec, "\n"), "\n")
	cSteps := unsafe.Slice(&C.mc_nsenter_steps[0], int(C.mc_nsenter_nsteps))
	for i, s := range cSteps {
		k, _ := ns.ByFlag(uintptr(s.nstype))
		step := Step{File: File{FD: int(s.fd), Kind: k}, Tried: s.err >= 0, Left: s.err == C.MC_NSENTER_LEFT}
		if i < len(lines) {
			if parts := strings.SplitN(lines[i], ":", 3); len(parts) == 3 {
				step.Path = parts[2]
			}
		}
		if s.err > 0 {
			step.Err = syscall.Errno(s.err)
		}
		steps = append(steps, step)
	}
	return steps, true
}
