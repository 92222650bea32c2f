package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Filter is a compiled profile, ready for the kernel: Prepare makes it,
// Install loads it. The two are apart because compiling allocates (the
// program, its labels) and installing does not: an init compiles before
// process.rlimits are set, since a small RLIMIT_AS (runtime-tools'
// process_rlimits gives 1 GiB) can leave the Go heap no room to grow
// ("fatal error: runtime: out of memory" during Compile, 1 run in 25).
type Filter struct {
	filter []unix.SockFilter
	flags  uint
	names  []explain.Flag
	action specs.LinuxSeccompAction
}

// Prepare compiles s into a Filter (nil for a nil s: nothing to load).
func Prepare(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, nil
	}
	filter, err := build(s)
	if err != nil {
		return nil, err
	}
	f := &Filter{filter: filter, action: s.DefaultAction}
	for _, fl := range s.Flags {
		f.flags |= flagValues[fl]
		f.names = append(f.names, explain.Flag{Value: uint64(flagValues[fl]), Name: string(fl)})
	}
	return f, nil
}

// Load compiles s and installs it on the calling thread (Prepare, then
// Install). A nil s loads nothing.
func Load(s *specs.LinuxSeccomp, x *explain.Narrator) error {
	f, err := Prepare(s)
	if err != nil {
		return err
	}
	return f.Install(x)
}

// Install loads f with seccomp(SECCOMP_SET_MODE_FILTER) (seccomp(2)). A
// nil f loads nothing.
//
// The caller has locked its goroutine to the thread (runtime.LockOSThread)
// that will call execve: the filter belongs to that thread and what it
// execs or clones, never to the process's other threads unless the
// profile's flags ask for SECCOMP_FILTER_FLAG_TSYNC. The kernel accepts a
// filter only from a thread with no_new_privs set (prctl(2),
// PR_SET_NO_NEW_PRIVS) or with CAP_SYS_ADMIN in its user namespace: so set
// no_new_privs first, or load before capabilities drop CAP_SYS_ADMIN.
func (f *Filter) Install(x *explain.Narrator) error {
	if f == nil {
		return nil
	}
	filter, flags, names := f.filter, f.flags, f.names
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	var err error
	if errno != 0 {
		err = errno
	}
	fl := "0"
	if flags != 0 {
		fl = explain.Flags(uint64(flags), names)
	}
	x.Call("seccomp(2)", fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %s, {len=%d, filter=...})", fl, len(filter)), nil, err)
	if err != nil {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %s", explain.Strerror(err))
	}
	x.Note("a %d-instruction filter, default %s: every system call of this thread and what it execs now runs it", len(filter), f.action)
	return nil
}
