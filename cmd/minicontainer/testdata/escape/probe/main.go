// Command probe tries one of the escapes of the confinement suite
// (cmd/minicontainer/escape_test.go) with the system call itself, for the
// ones busybox has no applet for. It is built static (CGO_ENABLED=0) into
// the test's copy of the root filesystem.
//
//	probe shocker HANDLE_TYPE HANDLE_HEX [MOUNT]
//	                                       open_by_handle_at(2) through MOUNT
//	                                       (default /), a path on the file
//	                                       system the handle is of, then read
//	                                       "marker" in the directory it opened
//	probe keys                             add_key(2) a user key to the
//	                                       process keyring, then read /proc/keys
//	probe bpfmap                           bpf(BPF_MAP_CREATE), a 1-entry array
//	probe perf                             perf_event_open(2), a software clock
//	probe ptrace PID                       ptrace(PTRACE_ATTACH, PID)
//
// It prints "ok" and what it saw and exits 0 when the call worked; else
// one line with the errno's name and exits 1.
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func fail(what string, err error) {
	name := ""
	if e, ok := err.(unix.Errno); ok {
		name = unix.ErrnoName(e) + " "
	}
	fmt.Fprintf(os.Stderr, "probe %s: %s(%v)\n", what, name, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe shocker|keys|bpfmap|perf|ptrace ARGS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "shocker":
		typ, _ := strconv.Atoi(os.Args[2])
		raw, err := hex.DecodeString(os.Args[3])
		if err != nil {
			fail("shocker", err)
		}
		// The mount fd only names the file system: the handle is looked
		// up on it, wherever the mount is (open_by_handle_at(2)).
		mount := "/"
		if len(os.Args) > 4 {
			mount = os.Args[4]
		}
		root, err := unix.Open(mount, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			fail("shocker: open "+mount, err)
		}
		h := unix.NewFileHandle(int32(typ), raw)
		fd, err := unix.OpenByHandleAt(root, h, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			fail("shocker: open_by_handle_at", err)
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d/marker", fd))
		if err != nil {
			// /proc may be masked or absent: read it through the fd.
			m, err2 := unix.Openat(fd, "marker", unix.O_RDONLY, 0)
			if err2 != nil {
				fail("shocker: openat marker", err2)
			}
			buf := make([]byte, 256)
			n, _ := unix.Read(m, buf)
			data = buf[:n]
		}
		fmt.Printf("ok: outside the root: %s\n", strings.TrimSpace(string(data)))
	case "keys":
		_, err := unix.AddKey("user", "mctest-escape", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		if err != nil {
			fmt.Fprintf(os.Stderr, "probe keys: add_key: %v\n", err)
		}
		data, err := os.ReadFile("/proc/keys")
		if err != nil {
			fail("keys: read /proc/keys", err)
		}
		if len(data) == 0 {
			fmt.Fprintln(os.Stderr, "probe keys: /proc/keys reads empty")
			os.Exit(1)
		}
		fmt.Printf("ok: /proc/keys: %d bytes\n", len(data))
	case "bpfmap":
		attr := struct{ typ, keySize, valueSize, maxEntries uint32 }{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != 0 {
			fail("bpfmap", errno)
		}
		unix.Close(int(fd))
		fmt.Println("ok: a bpf map")
	case "perf":
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			fail("perf", err)
		}
		unix.Close(fd)
		fmt.Println("ok: a perf event")
	case "ptrace":
		pid, _ := strconv.Atoi(os.Args[2])
		if err := unix.PtraceAttach(pid); err != nil {
			fail("ptrace", err)
		}
		unix.PtraceDetach(pid)
		fmt.Println("ok: attached")
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown %q\n", os.Args[1])
		os.Exit(2)
	}
}
