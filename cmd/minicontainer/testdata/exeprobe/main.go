// Command exeprobe plays the attacker of CVE-2019-5736 inside a container:
// it watches /proc for a process whose argv[0] is minicontainer's exec
// init, or minicontainer itself (the host's minicontainer binary, running
// in the container's PID namespace until its execve) and tries to open that
// process's /proc/PID/exe: for writing (the attack), and read-only or as
// O_PATH (a descriptor to reopen for writing once the process is gone,
// the CVE's actual road). It prints one line per process seen, and ends
// after the given number of seconds, or when /tmp/probe-stop exists.
//
// With "drop-ptrace" it first drops CAP_SYS_PTRACE from its effective set,
// as a container with Docker's capabilities lacks it: with it, the
// kernel lets a process open any other's /proc/PID/exe, dumpable or not
// (ptrace access mode checks, ptrace(2)).
//
// Built static by TestExecCannotReachTheHostBinary.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	secs, _ := strconv.Atoi(os.Args[1])
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	seen := map[int]bool{}
	var held []int // O_PATH descriptors of our binary, to reopen at the end
	if len(os.Args) > 2 && os.Args[2] == "drop-ptrace" {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			fmt.Println("capget:", err)
			os.Exit(1)
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_PTRACE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			fmt.Println("capset:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	for time.Now().Before(deadline) {
		if _, err := os.Stat("/tmp/probe-stop"); err == nil {
			break
		}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || seen[pid] {
				continue
			}
			// The exec init (the re-exec path), or minicontainer's own
			// argv: the child the CLI forks itself (the fast path) is the
			// CLI's copy until its execve.
			argv, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			arg0, _, _ := strings.Cut(string(argv), "\x00")
			if arg0 != "minicontainer-exec-init" && !strings.HasSuffix("/"+arg0, "/minicontainer") {
				continue
			}
			var results []string
			for _, m := range []struct {
				name  string
				flags int
			}{{"O_WRONLY", unix.O_WRONLY}, {"O_RDONLY", unix.O_RDONLY}, {"O_PATH", unix.O_PATH}} {
				fd, err := unix.Open("/proc/"+e.Name()+"/exe", m.flags|unix.O_CLOEXEC, 0)
				if err == nil {
					// What was opened: the command's binary (the init has
					// exec'd meanwhile: too late, harmless), or ours.
					target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
					if m.flags == unix.O_PATH && target != "/bin/busybox" {
						held = append(held, fd)
					} else {
						unix.Close(fd)
					}
					if target == "/bin/busybox" {
						results = append(results, m.name+":late")
					} else {
						results = append(results, m.name+":opened:"+target)
					}
				} else {
					results = append(results, m.name+":"+unix.ErrnoName(err.(unix.Errno)))
				}
			}
			seen[pid] = true
			fmt.Printf("seen %d %s\n", pid, strings.Join(results, " "))
		}
	}
	// The CVE's second step: once the exec init is gone, reopen the
	// binary for writing through the descriptor.
	for _, fd := range held {
		// The mount it is on (fstatfs(2) takes an O_PATH descriptor).
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err == nil && st.Flags&unix.ST_RDONLY != 0 {
			fmt.Println("held: on a read-only mount")
		} else {
			fmt.Println("held: on a writable mount")
		}
		f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY, 0)
		if err == nil {
			f.Close()
			fmt.Println("reopen for writing: opened")
		} else {
			fmt.Println("reopen for writing:", unix.ErrnoName(err.(*os.PathError).Err.(unix.Errno)))
		}
	}
	fmt.Println("done")
}
