// Command setnsdemo is the example program of setns(2) (EXAMPLES, setns.c)
// in Go: join the namespace of a /proc/PID/ns file, then run a command in it.
//
//	setnsdemo [-x] /proc/PID/ns/FILE [/proc/PID/ns/FILE...] cmd args...
//	setnsdemo [-x] -t PID (--all | -U -C -i -u -n -p -m -T) cmd args...
//
// The first form is the C's (further arguments under an "ns" directory are
// joined too); the second is nsenter(1)'s. Namespaces are joined in the
// order of ns.Kinds, user first. All eight kinds can be joined:
//   - cgroup, ipc, uts, net: setns(2) on this goroutine's locked thread;
//   - mnt: the same, after unshare(CLONE_FS) (ns.Join does it);
//   - pid: only children enter it, so the command is forked, not exec'd,
//     and its exit status becomes setnsdemo's;
//   - user, time: a Go program is multithreaded, so setns refuses; the
//     program re-executes itself and a C constructor (pkg/nsenter) joins
//     every namespace before the Go runtime starts.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/alecthomas/kong"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/nsenter"
)

var cli struct {
	Target  int      `short:"t" placeholder:"PID" help:"Join the namespaces of process PID (nsenter(1)'s -t)."`
	All     bool     `short:"a" help:"With -t: every namespace of PID that is not already ours."`
	User    bool     `short:"U" help:"With -t: the user namespace."`
	Cgroup  bool     `short:"C" help:"With -t: the cgroup namespace."`
	IPC     bool     `short:"i" name:"ipc" help:"With -t: the IPC namespace."`
	UTS     bool     `short:"u" name:"uts" help:"With -t: the UTS namespace."`
	Net     bool     `short:"n" help:"With -t: the network namespace."`
	PID     bool     `short:"p" name:"pid" help:"With -t: the PID namespace (the command is forked into it)."`
	Mount   bool     `short:"m" help:"With -t: the mount namespace."`
	Time    bool     `short:"T" help:"With -t: the time namespace."`
	Explain bool     `short:"x" help:"Narrate each system call on stderr."`
	Args    []string `arg:"" optional:"" passthrough:"partial" help:"/proc/PID/ns/FILE... cmd args..."`
}

func main() {
	parser := kong.Must(&cli, kong.Name("setnsdemo"), kong.Description("The setns(2) example: join namespaces, run a command."))
	if _, err := parser.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		usage()
	}
	x := explain.New(os.Stderr, cli.Explain)
	paths, argv := namespaceFiles()

	// setns(2) changes the namespaces of the calling thread only. Pin this
	// goroutine to its thread, so that every later step (and the command's
	// fork or exec) happens on the thread that joined. It is never
	// unlocked: Go would otherwise hand a tainted thread to other goroutines.
	runtime.LockOSThread()

	// Back from nsenter.Join's re-exec: the C constructor has joined.
	if resumed, joinedPID, err := nsenter.Resume(x); resumed {
		if err != nil {
			fail(err)
		}
		run(x, argv, joinedPID)
	}
	// Get a file descriptor for each namespace, in join order (user first).
	files, err := nsenter.Open(paths, x)
	if err != nil {
		fail(err)
	}
	// setns(2) each one; mnt after unshare(CLONE_FS); user or time through
	// a re-exec (pkg/nsenter), since a Go process always has threads.
	joinedPID, err := nsenter.Join(files, x)
	if err != nil {
		fail(err)
	}
	run(x, argv, joinedPID)
}

// run executes the command in the namespaces joined. The C execs it; after
// joining a PID namespace only a child is inside, so it is forked instead
// and waited for.
func run(x *explain.Narrator, argv []string, forkFirst bool) {
	if !forkFirst {
		err := execvp.Exec(argv)
		x.Call("execve(2)", fmt.Sprintf("execvp(%s, ...)", explain.Quote(argv[0])), nil, err)
		fail(&nsenter.CallError{Call: "execvp", Err: err})
	}
	x.Note("pid: setns(2) moved only our future children; fork the command")
	path, err := execvp.LookPath(argv[0])
	if err != nil {
		fail(&nsenter.CallError{Call: "execvp", Err: err})
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err = cmd.Start(); err != nil {
		fail(&nsenter.CallError{Call: "fork", Err: err})
	}
	x.Call("clone(2)", "clone(SIGCHLD)", cmd.Process.Pid, nil)
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fail(&nsenter.CallError{Call: "waitpid", Err: err})
	}
	os.Exit(execvp.ExitStatus(cmd.ProcessState))
}

// namespaceFiles returns the namespace files to join and the command.
func namespaceFiles() (paths, argv []string) {
	kinds := []ns.Kind{}
	for _, k := range ns.Kinds {
		if cli.All || map[string]bool{"user": cli.User, "cgroup": cli.Cgroup, "ipc": cli.IPC, "uts": cli.UTS,
			"net": cli.Net, "pid": cli.PID, "mnt": cli.Mount, "time": cli.Time}[k.Name] {
			kinds = append(kinds, k)
		}
	}
	if cli.Target == 0 { // the C's form: FILE [FILE...] cmd args...
		if len(kinds) > 0 {
			fmt.Fprintf(os.Stderr, "%s: namespace options need -t PID\n", os.Args[0])
			usage()
		}
		args := cli.Args
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) < 2 {
			usage()
		}
		n := 1
		for n < len(args)-1 && filepath.Base(filepath.Dir(args[n])) == "ns" {
			n++
		}
		return args[:n], args[n:]
	}
	argv = cli.Args
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(kinds) == 0 || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "%s: -t PID needs --all or a namespace option, and a command\n", os.Args[0])
		usage()
	}
	paths = nsenter.Paths(cli.Target, kinds)
	return paths, argv
}

func usage() {
	fmt.Fprintf(os.Stderr, "%s /proc/PID/ns/FILE cmd args...\n", os.Args[0])
	os.Exit(1)
}

// fail prints what err(3) prints, "setnsdemo: setns: Invalid argument",
// and exits with EXIT_FAILURE.
func fail(err error) {
	var call *nsenter.CallError
	errors.As(err, &call)
	fmt.Fprintf(os.Stderr, "%s: %s: %s\n", filepath.Base(os.Args[0]), call.Call, explain.Strerror(call.Err))
	os.Exit(1)
}
