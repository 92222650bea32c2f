// Lab 07's solution: a command in a cgroup of its own, with the project's
// cgroup drivers (pkg/cgroup, v2 and v1), which the container runtime uses.
// Read pkg/cgroup/v2.go and v1.go for the files each step writes.
//
//	demo -name NAME -pids N -memory BYTES COMMAND [ARG...]
//
// The cgroup is NAME/cmd under each hierarchy's root: on v2 a cgroup with
// controllers enabled for its children may hold no process itself (the
// "no internal processes" rule, cgroups(7)), so the command goes in a
// leaf and pkg/cgroup enables pids and memory in NAME for it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

const childEntry = "lab07-child"

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	name := flag.String("name", "", "the cgroup's name")
	pids := flag.Int64("pids", 0, "most tasks (pids.max)")
	memory := flag.Int64("memory", 0, "most bytes of memory")
	flag.Parse()
	if *name == "" || *pids <= 0 || *memory <= 0 || flag.NArg() == 0 {
		fmt.Fprintf(os.Stderr, "Usage: %s -name NAME -pids N -memory BYTES COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	os.Exit(run(*name, cgroup.Limits{Pids: *pids, Memory: *memory}, flag.Args()))
}

func run(name string, limits cgroup.Limits, argv []string) int {
	h, err := cgroup.Detect() // v2, v1 or hybrid, from the mount table
	if err != nil {
		return fail(err)
	}
	cg, err := cgroup.New(h, name, "cmd", nil)
	if err != nil {
		return fail(err)
	}
	if err := cg.Create(); err != nil {
		return fail(err)
	}
	defer cg.Destroy()
	if err := cg.Apply(limits); err != nil {
		return fail(err)
	}
	// The child waits on a pipe until it is in the cgroup: what it runs is
	// limited from its first instruction.
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	cmd := reexec.Command(childEntry, argv...)
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	r.Close()
	if err := cg.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fail(err)
	}
	w.Close() // the child reads EOF: go
	err = cmd.Wait()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	return 1
}

// child waits for EOF on fd 3 (its parent has put it in the cgroup), then
// runs the command.
func child() {
	sync := os.NewFile(3, "sync")
	sync.Read(make([]byte, 1))
	sync.Close() // the command must not inherit it
	argv := os.Args[1:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", path, err)
	os.Exit(126)
}
