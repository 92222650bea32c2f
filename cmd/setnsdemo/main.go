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
	"slices"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

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

	// Back from pkg/nsenter's re-exec: the constructor has joined already.
	if steps, ok := nsenter.Steps(); ok {
		x.Note("re-executed: a C constructor joined before the Go runtime started (pkg/nsenter)")
		for _, s := range steps {
			if s.Tried {
				x.Call("setns(2)", fmt.Sprintf("[constructor] setns(%d<%s>, %s)", s.FD, s.Path, s.Kind.Const), nil, s.Err)
			}
			if s.Err != nil {
				fail("setns", s.Err)
			}
		}
		for _, s := range steps {
			if s.Left { // the PID namespace: see nsenter.Step.Left
				err := ns.Join(s.FD, s.Kind)
				x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", s.FD, s.Path, s.Kind.Const), nil, err)
				if err != nil {
					fail("setns", err)
				}
				unix.Close(s.FD)
			}
		}
		run(x, argv, joinsPID(steps))
	}

	// Get a file descriptor for each namespace; O_CLOEXEC so that the
	// command does not inherit it.
	var files []nsenter.File
	for _, path := range paths {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		x.Call("open(2)", fmt.Sprintf("open(%s, O_RDONLY|O_CLOEXEC)", explain.Quote(path)), fd, err)
		if err != nil {
			fail("open", err)
		}
		kind, err := ns.KindOf(fd)
		if err != nil {
			// Not a namespace file: the C's setns(fd, 0) fails with
			// EINVAL. Make that same call, so the error is the kernel's.
			err := unix.Setns(fd, 0)
			x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, 0)", fd, path), nil, err)
			fail("setns", err)
		}
		files = append(files, nsenter.File{FD: fd, Kind: kind, Path: path})
	}
	// Join order: the table's (user first: it grants the capabilities the
	// other joins need; see setns(2) and nsenter(1)).
	slices.SortStableFunc(files, func(a, b nsenter.File) int { return order(a.Kind) - order(b.Kind) })

	for _, f := range files {
		if f.Kind.Flag == unix.CLONE_NEWUSER || f.Kind.Flag == unix.CLONE_NEWTIME {
			x.Note("%s: a multithreaded process cannot join it; re-exec so that a C constructor joins (pkg/nsenter)", f.Kind.Name)
			err := nsenter.Exec(files)
			fail("execve", err)
		}
	}
	for _, f := range files {
		if f.Kind.Flag == unix.CLONE_NEWNS {
			// Go's threads share one fs_struct (CLONE_FS); the kernel will
			// not move a thread that shares it into another mount
			// namespace. ns.Join does this too; shown here for the lesson.
			err := unix.Unshare(unix.CLONE_FS)
			x.Call("unshare(2)", "unshare(CLONE_FS)", nil, err)
		}
		err := ns.Join(f.FD, f.Kind)
		x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", f.FD, f.Path, f.Kind.Const), nil, err)
		if err != nil {
			fail("setns", err)
		}
	}
	run(x, argv, joinsPID(stepsOf(files)))
}

// run executes the command in the namespaces joined. The C execs it; after
// joining a PID namespace only a child is inside, so it is forked instead
// and waited for.
func run(x *explain.Narrator, argv []string, forkFirst bool) {
	if !forkFirst {
		err := execvp.Exec(argv)
		x.Call("execve(2)", fmt.Sprintf("execvp(%s, ...)", explain.Quote(argv[0])), nil, err)
		fail("execvp", err)
	}
	x.Note("pid: setns(2) moved only our future children; fork the command")
	path, err := execvp.LookPath(argv[0])
	if err != nil {
		fail("execvp", err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Start()
	if err != nil {
		fail("fork", err)
	}
	x.Call("clone(2)", "clone(SIGCHLD)", cmd.Process.Pid, nil)
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fail("waitpid", err)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(cmd.ProcessState.ExitCode())
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
	for _, k := range kinds {
		// Like nsenter(1), skip a namespace we are in already: joining
		// our own user namespace would fail with EINVAL (setns(2)).
		theirs, err := ns.Of(cli.Target, k)
		if ours, _ := ns.Of(0, k); err == nil && theirs == ours {
			continue
		}
		paths = append(paths, ns.Path(cli.Target, k))
	}
	return paths, argv
}

func order(k ns.Kind) int {
	return slices.IndexFunc(ns.Kinds, func(t ns.Kind) bool { return t.Flag == k.Flag })
}

func stepsOf(files []nsenter.File) []nsenter.Step {
	var steps []nsenter.Step
	for _, f := range files {
		steps = append(steps, nsenter.Step{File: f, Tried: true})
	}
	return steps
}

func joinsPID(steps []nsenter.Step) bool {
	return slices.ContainsFunc(steps, func(s nsenter.Step) bool { return s.Kind.Flag == unix.CLONE_NEWPID })
}

func usage() {
	fmt.Fprintf(os.Stderr, "%s /proc/PID/ns/FILE cmd args...\n", os.Args[0])
	os.Exit(1)
}

// fail prints what err(3) prints and exits with EXIT_FAILURE.
func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %s\n", filepath.Base(os.Args[0]), what, explain.Strerror(err))
	os.Exit(1)
}
