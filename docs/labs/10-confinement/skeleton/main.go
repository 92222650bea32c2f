// Lab 10: the last steps of a container's init, on this process itself:
// keep some capabilities, set no_new_privs, load a seccomp filter, then
// execve the command (lesson 10, "Each layer, with -x").
//
//	demo [-keep CAP,CAP] [-nnp] [-deny SYSCALL,SYSCALL] COMMAND [ARG...]
//
// Run as root. Read docs/10-confinement.md, capabilities(7), prctl(2) and
// seccomp(2). Fill in the TODOs. Check your work as root: make lab LAB=10
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	keep := flag.String("keep", "", "capabilities to keep, CAP_CHOWN,CAP_NET_RAW (none if empty)")
	nnp := flag.Bool("nnp", false, "set no_new_privs")
	deny := flag.String("deny", "", "system calls the filter answers with EPERM (x86_64 names)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintf(os.Stderr, "Usage: %s [-keep CAP,CAP] [-nnp] [-deny SYSCALL,SYSCALL] COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	// Capabilities, no_new_privs and seccomp belong to a thread: this one
	// is the one that calls execve.
	runtime.LockOSThread()
	path, err := exec.LookPath(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	kept, err := parseCaps(*keep)
	if err != nil {
		fail(err)
	}
	nrs, err := syscallNumbers(*deny)
	if err != nil {
		fail(err)
	}

	// TODO 1: the bounding set. For uid 0, execve rebuilds the permitted
	// set from it (capabilities(7)): capset alone is undone by the exec.
	// PR_CAPBSET_DROP needs CAP_SETPCAP, so before capset.
	_ = lastCap // the kernel's last capability number

	// TODO 2: no_new_privs, when asked.
	_ = nnp

	// TODO 3: the filter. The kernel takes one from a thread with
	// no_new_privs or CAP_SYS_ADMIN (seccomp(2)): before capset drops it.
	_ = nrs // then loadFilter(nrs), below, when there are some

	// Effective, permitted and inheritable in one capset(2).
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: uint32(kept), Permitted: uint32(kept)}, {Effective: uint32(kept >> 32), Permitted: uint32(kept >> 32)}}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fail(fmt.Errorf("capset: %w", err))
	}
	err = syscall.Exec(path, flag.Args(), os.Environ())
	fail(fmt.Errorf("exec %s: %w", flag.Arg(0), err))
}

// loadFilter installs: x86_64 only (any other ABI killed), each number in
// nrs answered EPERM, everything else allowed.
func loadFilter(nrs []uint32) error {
	// TODO 3: build the program with golang.org/x/net/bpf (LoadAbsolute
	// of seccomp_data.arch at offset 4 and .nr at offset 0, JumpIf,
	// RetConstant), bpf.Assemble it, and install it with
	// seccomp(SECCOMP_SET_MODE_FILTER) (unix.Syscall(unix.SYS_SECCOMP, ...)
	// with a unix.SockFprog).
	return fmt.Errorf("loadFilter: not written yet (TODO 3)")
}

// capNames are the capabilities this lab knows by name.
var capNames = map[string]int{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_KILL": unix.CAP_KILL,
	"CAP_SETGID": unix.CAP_SETGID, "CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "CAP_NET_RAW": unix.CAP_NET_RAW,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_MKNOD": unix.CAP_MKNOD,
}

func parseCaps(list string) (uint64, error) {
	var set uint64
	for _, name := range strings.Split(list, ",") {
		if name == "" {
			continue
		}
		n, ok := capNames[name]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", name)
		}
		set |= 1 << n
	}
	return set, nil
}

var syscallNames = map[string]uint32{"mkdir": unix.SYS_MKDIR, "mkdirat": unix.SYS_MKDIRAT, "uname": unix.SYS_UNAME,
	"chdir": unix.SYS_CHDIR, "sethostname": unix.SYS_SETHOSTNAME}

func syscallNumbers(list string) ([]uint32, error) {
	var out []uint32
	for _, name := range strings.Split(list, ",") {
		if name == "" {
			continue
		}
		nr, ok := syscallNames[name]
		if !ok {
			return nil, fmt.Errorf("unknown system call %q", name)
		}
		out = append(out, nr)
	}
	return out, nil
}

// lastCap is the highest capability number the kernel knows.
func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		fail(err)
	}
	var n int
	fmt.Sscan(string(data), &n)
	return n
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	os.Exit(1)
}
