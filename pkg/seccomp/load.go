package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Load compiles s and installs it on the calling thread with
// seccomp(SECCOMP_SET_MODE_FILTER) (seccomp(2)). A nil s loads nothing.
//
// The caller has locked its goroutine to the thread (runtime.LockOSThread)
// that will call execve: the filter belongs to that thread and what it
// execs or clones, never to the process's other threads unless the
// profile's flags ask for SECCOMP_FILTER_FLAG_TSYNC. The kernel accepts a
// filter only from a thread with no_new_privs set (prctl(2),
// PR_SET_NO_NEW_PRIVS) or with CAP_SYS_ADMIN in its user namespace: so set
// no_new_privs first, or load before capabilities drop CAP_SYS_ADMIN.
func Load(s *specs.LinuxSeccomp, x *explain.Narrator) error {
	if s == nil {
		return nil
	}
	prog, err := Compile(s)
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("seccomp: %v", err)
	}
	var flags uint
	var names []explain.Flag
	for _, f := range s.Flags {
		flags |= flagValues[f]
		names = append(names, explain.Flag{Value: uint64(flagValues[f]), Name: string(f)})
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	err = nil
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
	x.Note("a %d-instruction filter, default %s: every system call of this thread and what it execs now runs it", len(filter), s.DefaultAction)
	return nil
}
