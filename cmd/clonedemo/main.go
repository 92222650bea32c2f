// Command clonedemo is the example program of clone(2) (EXAMPLES, clone.c)
// in Go: a child in a new UTS namespace sets its hostname, and the parent's
// hostname stays as it was.
//
//	clonedemo [-x] [--sleep=SECONDS] <child-hostname>
//
// It prints the same four lines as the C program. The child keeps its
// namespace alive for --sleep (the man page sleeps 200 s, the article 3 s)
// so that another process can join it (see setnsdemo).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// childEntry names the child's entry point. Go has no clone(fn, stack, ...):
// a raw clone of a multithreaded Go runtime leaves a child with one thread
// and locks held by others (see pkg/reexec), so the child is this program
// run again by os/exec, which clones with the flags in SysProcAttr.
const childEntry = "clonedemo-child"

var cli struct {
	ChildHostname string `arg:"" optional:"" help:"Hostname the child sets in its new UTS namespace."`
	Sleep         uint   `default:"3" placeholder:"SECONDS" help:"How long the child keeps its namespace alive (the man page: 200)."`
	Explain       bool   `short:"x" help:"Narrate each system call on stderr."`
}

func main() {
	reexec.Register(childEntry, childFunc)
	reexec.Init() // returns only in the original process
	parser := kong.Must(&cli, kong.Name("clonedemo"),
		kong.Description("The clone(2) example: a child in a new UTS namespace."))
	if _, err := parser.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
	if cli.ChildHostname == "" { // the C tests argc < 2, and exits with success
		fmt.Fprintf(os.Stderr, "Usage: %s <child-hostname>\n", os.Args[0])
		os.Exit(0)
	}
	x := explain.New(os.Stderr, cli.Explain)

	// Create a child that has its own UTS namespace; it commences execution
	// in childFunc (via reexec) with the hostname and sleep as arguments.
	child := reexec.Command(childEntry, cli.ChildHostname, strconv.FormatUint(uint64(cli.Sleep), 10), os.Args[0])
	child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS}
	child.Env = append(os.Environ(), x.Env())
	err := child.Start()
	pid := 0
	if err == nil {
		pid = child.Process.Pid
	}
	// os/exec also adds CLONE_VM|CLONE_VFORK (and CLONE_PIDFD): the parent
	// sleeps until the child has exec'd, which is safe for a Go runtime.
	x.Call("clone(2)", fmt.Sprintf("clone(%s|SIGCHLD)", ns.FlagString(child.SysProcAttr.Cloneflags)), pid, err)
	if err != nil {
		fail("clone", err)
	}
	x.Note("os/exec made that clone (adding CLONE_VM|CLONE_VFORK|CLONE_PIDFD); the child runs %s as %q: Go has no clone(fn)", reexec.Self, childEntry)
	fmt.Printf("clone() returned %d\n", pid)

	time.Sleep(time.Second) // give the child time to change its hostname

	// Display the hostname in the parent's UTS namespace. This is different
	// from the hostname in the child's UTS namespace.
	fmt.Printf("uts.nodename in parent: %s\n", nodename(x))

	// Like waitpid(pid, NULL, 0) the child's exit status is not looked at:
	// only a failure to wait is an error.
	err = child.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = nil
	}
	x.Call("wait4(2)", fmt.Sprintf("wait4(%d, ...)", pid), pid, err)
	if err != nil {
		fail("waitpid", err)
	}
	fmt.Println("child has terminated")
}

// childFunc runs in the child, already inside the new UTS namespace.
func childFunc() {
	x := explain.FromEnv("[child] ")
	hostname, sleep := os.Args[1], os.Args[2]
	os.Args[0] = os.Args[3] // the parent's name, for fail's messages
	x.Note("the child is in %s; its parent in %s (see uts_namespaces(7))", id(0), id(os.Getppid()))

	// Change the hostname in the UTS namespace of the child: the parent's
	// namespace is not affected (see uts_namespaces(7)).
	err := unix.Sethostname([]byte(hostname))
	x.Call("sethostname(2)", fmt.Sprintf("sethostname(%s, %d)", explain.Quote(hostname), len(hostname)), nil, err)
	if err != nil {
		fail("sethostname", err)
	}
	fmt.Printf("uts.nodename in child:  %s\n", nodename(x))

	// Keep the namespace open for a while, by sleeping. This allows some
	// experimentation: another process might join the namespace.
	seconds, _ := strconv.Atoi(sleep)
	time.Sleep(time.Duration(seconds) * time.Second)
}

func nodename(x *explain.Narrator) string {
	var uts unix.Utsname
	err := unix.Uname(&uts)
	x.Call("uname(2)", "uname({nodename="+explain.Quote(unix.ByteSliceToString(uts.Nodename[:]))+", ...})", nil, err)
	if err != nil {
		fail("uname", err)
	}
	return unix.ByteSliceToString(uts.Nodename[:])
}

// id is the identity of process pid's UTS namespace (0: this process).
func id(pid int) string {
	uts, _ := ns.ByName("uts")
	i, err := ns.Of(pid, uts)
	if err != nil {
		return err.Error()
	}
	return i.String()
}

// fail prints what err(3) prints — "clonedemo: clone: Operation not
// permitted" — and exits with EXIT_FAILURE.
func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %s\n", filepath.Base(os.Args[0]), what, explain.Strerror(err))
	os.Exit(1)
}
