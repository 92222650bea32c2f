// Lab 07: run a command in a cgroup of its own, with a limit on its number
// of tasks and on its memory, on cgroup v2 and on v1 (or hybrid) hosts.
//
//	demo -name NAME -pids N -memory BYTES COMMAND [ARG...]
//
// Example (as root):
//
//	demo -name lab07 -pids 10 -memory 67108864 sh -c 'cat /proc/self/cgroup'
//
// shows the command in the cgroup lab07; when it ends, the cgroup is gone.
// Read docs/07-cgroups.md and cgroups(7). Fill in the TODOs.
// Check your work as root: make lab LAB=07
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/reexec"
)

const childEntry = "lab07-child"

// cgroupDirs are the directories of the cgroup name: one on cgroup v2 (a
// single hierarchy at /sys/fs/cgroup holds every controller), one per
// controller on v1 and on hybrid hosts (/sys/fs/cgroup/pids/NAME, ...).
func cgroupDirs(name string) (dirs []string, v2 bool) {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{filepath.Join("/sys/fs/cgroup", name)}, true
	}
	return []string{filepath.Join("/sys/fs/cgroup/pids", name), filepath.Join("/sys/fs/cgroup/memory", name)}, false
}

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	name := flag.String("name", "", "the cgroup's name")
	pids := flag.Int("pids", 0, "most tasks (pids.max)")
	memory := flag.Int64("memory", 0, "most bytes of memory")
	flag.Parse()
	if *name == "" || *pids <= 0 || *memory <= 0 || flag.NArg() == 0 {
		fmt.Fprintf(os.Stderr, "Usage: %s -name NAME -pids N -memory BYTES COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	dirs, v2 := cgroupDirs(*name)

	// TODO 1: make the cgroup: os.Mkdir each of dirs. On v2, a
	// controller works in a cgroup only if the parent's
	// cgroup.subtree_control lists it: write "+pids +memory" to
	// /sys/fs/cgroup/cgroup.subtree_control first.

	// TODO 2: write the limits. v2: pids.max and memory.max in dirs[0].
	// v1: pids.max in the pids directory, memory.limit_in_bytes in the
	// memory directory. Write the number as text: strconv.Itoa.
	_, _, _ = v2, strconv.Itoa, pids

	// The child joins the cgroup itself, before it runs the command, so
	// the command and everything it starts are limited from the start.
	cmd := reexec.Command(childEntry, append(dirs, append([]string{"--"}, flag.Args()...)...)...)
	err := cmd.Run()

	// TODO 4: remove the cgroup: unix.Rmdir each of dirs (os.RemoveAll
	// does not work on cgroupfs). rmdir fails with EBUSY while a process
	// is in it: the command has exited, but what it started in the
	// background may not have. Kill every PID that cgroup.procs lists
	// (SIGKILL) and read it again until it is empty, then rmdir.

	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// child: os.Args is DIR... -- COMMAND [ARG...].
func child() {
	var dirs []string
	args := os.Args[1:]
	for len(args) > 0 && args[0] != "--" {
		dirs = append(dirs, args[0])
		args = args[1:]
	}
	argv := args[1:]
	// TODO 3: join the cgroup: write this process's PID (os.Getpid()) to
	// cgroup.procs in each of dirs.
	_ = dirs
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", path, err)
	os.Exit(126)
}
