// Package seccomp turns a runtime-spec seccomp profile (specs.LinuxSeccomp,
// the linux.seccomp of config.json; Docker's default profile is one) into a
// classic BPF program, and loads it with seccomp(2).
//
// A seccomp filter is a classic BPF program the kernel runs at every system
// call of the thread, on a struct seccomp_data (seccomp(2)):
//
//	struct seccomp_data {
//	    int   nr;                   // offset 0: the system call number
//	    __u32 arch;                 // offset 4: AUDIT_ARCH_* of the calling ABI
//	    __u64 instruction_pointer;  // offset 8
//	    __u64 args[6];              // offset 16: the arguments
//	};
//
// and returns SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|errno, SECCOMP_RET_KILL_*
// and so on. runc and crun build the program with libseccomp, which needs
// cgo; minicontainer is built with CGO_ENABLED=0, so this package builds
// it itself, as the struct sock_filter array the kernel takes (asm.go);
// Compile also returns it as golang.org/x/net/bpf instructions, which
// that package's VM runs in the unit tests. The program, in order:
//
//  1. The architecture check: seccomp_data.nr means nothing without arch,
//     since the same number is a different call in each ABI (11 is munmap on
//     x86_64, execve on i386). x86_64 is always filtered; i386 (SCMP_ARCH_X86)
//     when the profile lists it, with its own table; any other arch is
//     killed. x32 has no table here (golang.org/x/sys, where the tables come
//     from, has none): its calls arrive as AUDIT_ARCH_X86_64 with the
//     __X32_SYSCALL_BIT (0x40000000) set in nr, and they are killed, so an
//     x32 call can never be read as the x86_64 call of the same low number.
//  2. Numbers above the highest one the profile names on that arch return
//     ENOSYS instead of the default action (when that denies): a system
//     call newer than the profile is one its author never judged, and
//     glibc falls back to an older call only on ENOSYS; with EPERM it gives
//     up (runc's libcontainer/seccomp/patchbpf explains this at length;
//     clone3 was the case that forced it).
//  3. A binary search on the number, down to the rules of that call. Rules
//     are tried in the profile's order and the first whose argument
//     conditions all hold decides; when none does, the default action.
//     Arguments are 64 bits and classic BPF loads 32: each condition is
//     compared on both halves, the high one first (an unsigned 64-bit
//     comparison); on i386 arguments are 32 bits and only the low half is
//     read.
//
// The filter belongs to the thread that loads it (and to what that thread
// execs or clones afterwards): Load runs on the init's locked thread just
// before execve, like capabilities.
package seccomp

import (
	"cmp"
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sysEntry is one line of a system call table (ztables.go).
type sysEntry struct {
	name string
	nr   uint32
}

//go:generate go run mktables.go

// x32Bit is __X32_SYSCALL_BIT (arch/x86/include/uapi/asm/unistd.h): x32
// system calls are x86_64's audit arch with this bit set in nr.
const x32Bit = 0x40000000

// An abi is an architecture Compile writes a section for.
type abi struct {
	arch  specs.Arch
	audit uint32 // AUDIT_ARCH_* (linux/audit.h), seccomp_data.arch
	table []sysEntry
	index []uint16 // table's hash index by name (ztables.go)
	wide  bool     // 64-bit arguments
}

// The name index is a hash table generated with the tables (mktables.go),
// not a map: every minicontainer process imports this package (ps, the
// container's init, exec's helper), and a map of ~800 entries filled at
// package initialisation cost each of them ~100 page faults; filled on
// first use, it still cost the init that compiles a filter the time to
// hash every name into it, for the ~1200 lookups Docker's profile makes.

// number returns the number of the named system call in a's table.
func (a *abi) number(name string) (uint32, bool) {
	m := uint32(len(a.index) - 1) // the size is a power of two
	for i := hashName(name) & m; a.index[i] != 0; i = (i + 1) & m {
		if e := a.table[a.index[i]-1]; e.name == name {
			return e.nr, true
		}
	}
	return 0, false
}

// hashName is 32-bit FNV-1a (the Fowler-Noll-Vo hash), as mktables.go
// hashes the names into the index: keep the two alike.
func hashName(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// name returns the name of system call nr in a's table (sorted by
// number), "" if none.
func (a *abi) name(nr uint32) string {
	i, ok := slices.BinarySearchFunc(a.table, nr, func(e sysEntry, n uint32) int { return cmp.Compare(e.nr, n) })
	if !ok {
		return ""
	}
	return a.table[i].name
}

// isOtherSyscall says whether name is a system call of another
// architecture (otherSyscalls is sorted: a slice searched, not a map
// filled at start-up, as the tables of the abis).
func isOtherSyscall(name string) bool {
	_, ok := slices.BinarySearch(otherSyscalls, name)
	return ok
}

var (
	x86_64 = &abi{arch: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, table: x86_64Syscalls, index: x86_64Index[:], wide: true}
	i386   = &abi{arch: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, table: i386Syscalls, index: i386Index[:]}
	abis   = []*abi{x86_64, i386}
)

func abiOf(arch specs.Arch) *abi {
	for _, a := range abis {
		if a.arch == arch {
			return a
		}
	}
	return nil
}

// SyscallNumber returns the number of the named system call on arch
// (SCMP_ARCH_X86_64 or SCMP_ARCH_X86).
func SyscallNumber(arch specs.Arch, name string) (uint32, bool) {
	a := abiOf(arch)
	if a == nil {
		return 0, false
	}
	return a.number(name)
}

// SyscallName returns the name of system call nr on arch, "" if none.
func SyscallName(arch specs.Arch, nr uint32) string {
	if a := abiOf(arch); a != nil {
		return a.name(nr)
	}
	return ""
}

// AuditArch returns the AUDIT_ARCH_* value seccomp_data.arch holds for the
// architectures that have a table here.
func AuditArch(arch specs.Arch) (uint32, bool) {
	if a := abiOf(arch); a != nil {
		return a.audit, true
	}
	return 0, false
}

// knownArches are runtime-spec's Arch values (libseccomp's names).
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
	specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

// The flags seccomp(2) takes with SECCOMP_SET_MODE_FILTER that a profile
// may ask for. SECCOMP_FILTER_FLAG_TSYNC (every thread of the process) is
// used only when the profile names it: the filter is meant for the one
// thread that execs the container's program. NEW_LISTENER and
// WAIT_KILLABLE_RECV need a seccomp agent (listenerPath), which
// minicontainer does not have.
var flagValues = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":     unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

// retErrno and the other SECCOMP_RET_* values, by action name. KILL is
// libseccomp's old name for KILL_THREAD.
var actionBase = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
	specs.ActTrap:        unix.SECCOMP_RET_TRAP,
	specs.ActErrno:       unix.SECCOMP_RET_ERRNO,
	specs.ActTrace:       unix.SECCOMP_RET_TRACE,
	specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
	specs.ActLog:         unix.SECCOMP_RET_LOG,
}

// actionValue is what the filter returns for action a. errnoRet is the
// SECCOMP_RET_DATA of ERRNO (the errno, EPERM when not given, as runc
// does) and of TRACE (the value the tracer reads with
// PTRACE_GETEVENTMSG); other actions take none. where names the field for
// the error.
func actionValue(a specs.LinuxSeccompAction, errnoRet *uint, where string) (uint32, error) {
	base, ok := actionBase[a]
	if !ok {
		if a == specs.ActNotify {
			return 0, fmt.Errorf("%s: %s needs a seccomp agent (listenerPath), which minicontainer does not have", where, a)
		}
		if a == "" {
			return 0, fmt.Errorf("%s: missing", where)
		}
		return 0, fmt.Errorf("%s: unknown action %q", where, a)
	}
	switch a {
	case specs.ActErrno, specs.ActTrace:
		data := uint(unix.EPERM)
		if errnoRet != nil {
			data = *errnoRet
		}
		// The kernel returns -data from the system call; errno values end
		// at MAX_ERRNO (4095, include/linux/err.h) and TRACE's message is
		// 16 bits (SECCOMP_RET_DATA).
		if a == specs.ActErrno && data > 4095 || data > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("%s: errnoRet %d out of range", where, data)
		}
		return base | uint32(data), nil
	}
	if errnoRet != nil {
		return 0, fmt.Errorf("%s: errnoRet is for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", where, a)
	}
	return base, nil
}

// allows reports whether a return value lets the call run.
func allows(ret uint32) bool {
	return ret == unix.SECCOMP_RET_ALLOW || ret == unix.SECCOMP_RET_LOG
}
