// Command unsharedemo is the example program of unshare(2) (EXAMPLES,
// unshare.c) in Go: run a program in new namespaces.
//
//	unsharedemo [-CimnptTuU] [-r] [--mount-proc] [--propagation=private]
//	            [--no-fork] [-x] program [arg...]
//
// Options stop at the program, like getopt(3) with "+", so
// "unsharedemo -u ls -l" passes -l to ls. Usage text and error lines are
// the C's. Beyond the C, like unshare(1): -r maps root to the caller,
// --mount-proc mounts a /proc for the new PID namespace, and --propagation
// sets the mount propagation of the new mount namespace (private, so
// nothing mounted inside ever shows outside).
//
// The C calls unshare(2) and then execs the program. In Go the program is
// created in its namespaces by clone(2) instead (see --no-fork for why), and
// waited for; its exit status is unsharedemo's.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

const childEntry = "unsharedemo-child"

var cli struct {
	Cgroup      bool     `short:"C" help:"unshare cgroup namespace"`
	IPC         bool     `short:"i" name:"ipc" help:"unshare IPC namespace"`
	Mount       bool     `short:"m" help:"unshare mount namespace"`
	Net         bool     `short:"n" help:"unshare network namespace"`
	PID         bool     `short:"p" name:"pid" help:"unshare PID namespace"`
	Time        bool     `short:"t" help:"unshare time namespace (the C's letter)"`
	TimeT       bool     `short:"T" name:"T" hidden:"" help:"unshare time namespace (unshare(1)'s letter)"`
	UTS         bool     `short:"u" name:"uts" help:"unshare UTS namespace"`
	User        bool     `short:"U" help:"unshare user namespace"`
	MapRootUser bool     `short:"r" help:"map root in the new user namespace to the caller (implies -U)"`
	MountProc   bool     `help:"mount a new /proc (implies -m)"`
	Propagation string   `enum:"private,shared,slave,unchanged" default:"private" help:"propagation of / in the new mount namespace: private, shared, slave or unchanged"`
	NoFork      bool     `help:"unshare(2) this process and start the program from it, as the article did: with -p this fails on purpose"`
	Explain     bool     `short:"x" help:"Narrate each system call on stderr."`
	Program     []string `arg:"" optional:"" passthrough:"partial" help:"program [arg...]"`
}

func main() {
	reexec.Register(childEntry, child)
	reexec.Init() // returns only in the original process
	parser := kong.Must(&cli, kong.Name("unsharedemo"), kong.Description("The unshare(2) example: run a program in new namespaces."))
	if _, err := parser.Parse(os.Args[1:]); err != nil {
		usage(err)
	}
	if len(cli.Program) > 0 && cli.Program[0] == "--" { // getopt drops "--"
		cli.Program = cli.Program[1:]
	}
	if len(cli.Program) == 0 {
		usage(nil)
	}
	x := explain.New(os.Stderr, cli.Explain)

	var flags uintptr
	for letter, on := range map[byte]bool{'C': cli.Cgroup, 'i': cli.IPC, 'm': cli.Mount || cli.MountProc, 'n': cli.Net,
		'p': cli.PID, 'T': cli.Time || cli.TimeT, 'u': cli.UTS, 'U': cli.User || cli.MapRootUser} {
		if on {
			k, _ := ns.ByLetter(letter)
			flags |= k.Flag
		}
	}
	if cli.NoFork {
		os.Exit(unshareThenFork(x, flags))
	}

	// Create the program's process with its namespaces, as clone(2) does
	// with CLONE_NEW* flags. It is this program again (reexec) so that it
	// can set propagation and mount /proc inside before it execs.
	cmd := reexec.Command(childEntry, append([]string{os.Args[0], fmt.Sprint(flags), cli.Propagation, fmt.Sprint(cli.MountProc), "--"}, cli.Program...)...)
	cmd.Env = append(os.Environ(), x.Env())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	if cli.MapRootUser {
		// The parent writes uid_map and gid_map while the child waits;
		// see user_namespaces(7), "User and group ID mappings".
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false // an unprivileged map needs setgroups "deny"
	} else if flags&unix.CLONE_NEWUSER != 0 {
		// Without a mapping the child is nobody in its user namespace and
		// would lose its capabilities at execve(2) of /proc/self/exe (see
		// capabilities(7), "Transformation of capabilities during
		// execve()"); keep CAP_SYS_ADMIN ambient for the mounts, the child
		// drops it before it execs the program.
		cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}
	}
	// Forward the usual terminating signals to the program.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	err := cmd.Start()
	x.Call("clone(2)", fmt.Sprintf("clone(%s|SIGCHLD)", ns.FlagString(flags)), pid(cmd), err)
	if err != nil {
		fail("unshare", err) // the C's unshare(2) fails for the same reasons
	}
	for _, m := range cmd.SysProcAttr.UidMappings {
		x.Note("os/exec wrote /proc/%d/uid_map \"%d %d %d\" (and gid_map, setgroups \"deny\") while the child waited", cmd.Process.Pid, m.ContainerID, m.HostID, m.Size)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	os.Exit(wait(x, cmd))
}

// child runs in the new namespaces: os.Args is [entry, parent's argv[0],
// flags, propagation, mount-proc, "--", program...].
func child() {
	x := explain.FromEnv("[child] ")
	os.Args = os.Args[1:] // the parent's name, for fail's messages
	propagation, mountProc, argv := os.Args[2], os.Args[3] == "true", os.Args[5:]
	if flags, _ := strconv.ParseUint(os.Args[1], 10, 64); flags&unix.CLONE_NEWNS != 0 {
		if err := prepareMounts(x, propagation, mountProc); err != nil {
			fail("mount", err)
		}
	}
	// Capabilities kept only to mount (see main) must not reach the
	// program: clear the ambient set and the inheritable one that allowed it.
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr, caps := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, [2]unix.CapUserData{}
	if unix.Capget(&hdr, &caps[0]) == nil {
		caps[0].Inheritable, caps[1].Inheritable = 0, 0
		unix.Capset(&hdr, &caps[0])
	}
	err := execvp.Exec(argv)
	x.Call("execve(2)", fmt.Sprintf("execvp(%s, ...)", explain.Quote(argv[0])), nil, err)
	fail("execvp", err)
}

// prepareMounts sets the propagation of the new mount namespace first
// (private by default: a mount made here must never appear on the host,
// mount_namespaces(7)), then mounts a /proc that shows the new PID
// namespace when asked (pid_namespaces(7)).
func prepareMounts(x *explain.Narrator, propagation string, mountProc bool) error {
	if err := rootfs.SetPropagation(x, "/", propagation); err != nil || !mountProc {
		return err
	}
	return rootfs.MountProc(x, "/proc")
}

// wait waits for the program and returns its exit status, or 128+signal
// when a signal killed it, as a shell reports it.
func wait(x *explain.Narrator, cmd *exec.Cmd) int {
	err := cmd.Wait()
	x.Call("wait4(2)", fmt.Sprintf("wait4(%d, ...)", cmd.Process.Pid), cmd.Process.Pid, nil)
	if cmd.ProcessState == nil {
		fail("waitpid", err)
	}
	return execvp.ExitStatus(cmd.ProcessState)
}

func pid(cmd *exec.Cmd) int {
	if cmd.Process == nil {
		return -1
	}
	return cmd.Process.Pid
}

// fail prints what err(3) prints and exits with EXIT_FAILURE.
func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %s\n", filepath.Base(os.Args[0]), what, explain.Strerror(err))
	os.Exit(1)
}
