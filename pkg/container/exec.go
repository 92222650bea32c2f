package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/proc"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// exec: a new process in a running container (runc exec, runtime-spec's
// Process). It enters the container as setns(2) and nsenter(1) teach.
// Where it can, the CLI forks the command itself from one locked thread
// (execfast.go); this is the other path, the exec init, for what one
// thread of a Go program cannot do there (fastRefused says what):
//
//   - minicontainer opens /proc/PID/ns/* of the container's init, and on
//     a thread of its own (runtime.LockOSThread) joins ipc, uts, net and
//     pid with setns(2). clone(2) copies the calling thread's
//     namespaces, and a pid namespace joined so is the one the next child
//     is born in (setns(2): "only children ... created after the call");
//     CLONE_INTO_CGROUP (cgroups v2) makes it born in the container's
//     cgroup too.
//   - That child is minicontainer re-executed (minicontainer-exec-init).
//     The mount namespace is joined there, not in the parent, so that
//     /proc/self/exe still names the host's binary when the child starts.
//     Its locked main thread leaves the fs_struct Go's threads share
//     (unshare(CLONE_FS)), joins mnt, then takes the Process's rlimits,
//     cwd, terminal, user, no_new_privs and capabilities, and execve(2)s.
//   - user and time namespaces cannot be joined by a multithreaded process
//     (setns(2): EINVAL, EUSERS), and a Go program always is one; runc
//     joins them from C before its Go runtime starts. This runtime is
//     static Go (CGO_ENABLED=0, so not pkg/nsenter's cgo constructor): a
//     container that has one (every rootless one) gets its exec init from
//     two raw clone(2) children that join them first (execuserns.go).
//   - The container's seccomp filter (linux.seccomp of the config it was
//     created with) binds the exec'd process too, as in runc: loaded at
//     the same places as in the init (see bundleinit.go).

// execInitEntry is the name the exec'd process runs under until execve.
const execInitEntry = "minicontainer-exec-init"

// The exec init's fds: the sync socket (syncFd, 3), the container's mount
// namespace, then the preserved ones, moved down to 3.. before execve.
const execMntFd = 4

func init() {
	reexec.Register(execInitEntry, execInitMain)
	if os.Args[0] == execInitEntry {
		// Until its execve(2) this is the host's minicontainer binary
		// running in the container's PID namespace: not dumpable, so a
		// process in there without CAP_SYS_PTRACE cannot open its
		// /proc/PID/exe (ptrace access mode, proc(5)), the road of
		// CVE-2019-5736. As early as Go lets us (a package's init; the
		// flag is the process's, not a thread's), and still late: the Go
		// runtime and every imported package start first, and a process
		// watching /proc in the container opened the exe in that window
		// in most of 28 execs (TestExecCannotReachTheHostBinary). What
		// holds is readOnlySelf: the exe it opens is on a read-only mount.
		// execve(2) sets the flag again for the new program.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			os.Exit(ExitSetup)
		}
		// setns(CLONE_NEWNS), no_new_privs and the capability sets are
		// the calling thread's: the thread that calls execve(2) must be
		// the one that took them (see bundleinit.go).
		runtime.LockOSThread()
	}
}

// ExecOptions are exec's flags (runc's spelling) with the Process built.
type ExecOptions struct {
	Root          string
	ID            string
	Process       *specs.Process
	Detach        bool   // --detach: return once the process runs
	PidFile       string // --pid-file: its host PID
	ConsoleSocket string // --console-socket: where the pty master goes
	PreserveFDs   int    // --preserve-fds: exec's fds 3..3+N-1 go to the process
	Stdio         Stdio
	Narration     io.Writer   // the exec init's narrated lines; nil: stderr
	Target        *ExecTarget // the container, read by OpenExec; nil: read Root and ID
}

// ExecError is a failure with an exit code of its own: 126 when the
// command cannot be executed, 127 when it is not found (docker exec's).
type ExecError struct {
	Code int
	Err  error
}

func (e *ExecError) Error() string { return e.Err.Error() }
func (e *ExecError) Unwrap() error { return e.Err }

// ExecTarget is a running container as exec reads it, once: its state
// and, of its config.json, only what exec needs (execConfig).
type ExecTarget struct {
	s   *State
	cfg execConfig
	ok  bool // OpenExec found it running: Exec need not read /proc again
}

// execConfig is what exec decodes of the config the container was
// created with: its Process, its namespaces and its seccomp profile. The
// rest (mounts, hooks, resources) was the init's business.
type execConfig struct {
	Process *specs.Process `json:"process,omitempty"`
	Linux   *struct {
		Namespaces []specs.LinuxNamespace `json:"namespaces,omitempty"`
		Seccomp    *specs.LinuxSeccomp    `json:"seccomp,omitempty"`
	} `json:"linux,omitempty"`
}

// OpenExec reads container id for exec; it fails, in runc's words, when
// nothing can be exec'd in it, and still returns the target then when its
// state could be read (MadeByCreate tells whose words to use).
func OpenExec(root, id string) (*ExecTarget, error) {
	s, err := load(root, id)
	if err != nil {
		return nil, err
	}
	t := &ExecTarget{s: s}
	if err := execStatus(s); err != nil {
		return t, err
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(), specFile))
	if err == nil {
		err = json.Unmarshal(data, &t.cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: its saved config: %w", id, err)
	}
	t.ok = true
	return t, nil
}

// MadeByCreate reports whether an engine's create made the container.
func (t *ExecTarget) MadeByCreate() bool { return t.s.OCI && !t.s.Foreground }

// Process is the Process the container was created with, which
// `exec ID CMD` starts from (runc does the same): its env, cwd, user,
// rlimits, capabilities and no_new_privs; the caller replaces the args.
func (t *ExecTarget) Process() *specs.Process {
	if t.cfg.Process == nil {
		return &specs.Process{Cwd: "/"}
	}
	p := *t.cfg.Process
	p.Terminal, p.ConsoleSize = false, nil
	return &p
}

// ContainerProcess is OpenExec's Process.
func ContainerProcess(root, id string) (*specs.Process, error) {
	t, err := OpenExec(root, id)
	if err != nil {
		return nil, err
	}
	return t.Process(), nil
}

// execStatus refuses a container nothing can be exec'd in, in runc's words.
func execStatus(s *State) error {
	if s.OCI && s.Ready && !s.Foreground {
		switch s.ociStatus() {
		case specs.StateStopped:
			return errors.New("cannot exec in a stopped container")
		case specs.StateCreated, specs.StateRunning:
			return nil // runc execs in a created container too
		}
		return fmt.Errorf("cannot exec in a container in the %s state", s.ociStatus())
	}
	switch s.Status() {
	case "running":
		return nil
	case "starting":
		return errors.New("cannot exec in a container that is starting")
	}
	return errors.New("cannot exec in a stopped container")
}

// nsFile is one namespace of the container's init, open.
type nsFile struct {
	fd   int
	kind ns.Kind
	path string
}

// openNamespaces opens the init's namespace files that differ from ours,
// in ns.Kinds' order (nsenter(1)'s). All are opened first, as nsenter(1)
// does: a joined namespace would change what later paths mean.
func openNamespaces(pid int, x *explain.Narrator) (files []nsFile, err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				unix.Close(f.fd)
			}
			files = nil
		}
	}()
	for _, k := range ns.Kinds {
		// Opened first, then compared by the descriptor's identity: one
		// walk of /proc/PID/ns/NAME (a ptrace access check and the nsfs
		// link each time) where a stat or open beside it would take two,
		// and the identity is the very file setns(2) will get.
		path := ns.Path(pid, k)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT && k.Flag == unix.CLONE_NEWTIME {
			continue // a kernel before 5.6 has no time namespaces
		}
		if err == unix.ENOENT {
			// The init has left its namespaces: it is exiting (PID 1 of
			// a pid namespace waits in exit for the others to be reaped,
			// pid_namespaces(7), and is no zombie yet meanwhile).
			return files, errors.New("cannot exec in a stopped container")
		}
		if err != nil {
			return files, fmt.Errorf("namespace %s of the init: %w", k.Name, &os.PathError{Op: "open", Path: path, Err: err})
		}
		var theirs unix.Stat_t
		if err := unix.Fstat(fd, &theirs); err != nil {
			unix.Close(fd)
			return files, fmt.Errorf("namespace %s of the init: %w", k.Name, &os.PathError{Op: "fstat", Path: path, Err: err})
		}
		if ours, err := nsIdentity(ns.Path(0, k)); err == nil && ours == [2]uint64{theirs.Dev, theirs.Ino} {
			unix.Close(fd)
			continue // ours already (setns(2) into our own user ns would fail)
		}
		if x.Enabled() {
			x.Call("open(2)", fmt.Sprintf("open(%q, O_RDONLY|O_CLOEXEC)", path), fd, nil)
		}
		files = append(files, nsFile{fd, k, path})
	}
	return files, nil
}

// nsIdentity is the identity of the namespace that path, a
// /proc/PID/ns/NAME link, names: the device and inode number of its nsfs
// file, which stat(2) reaches through the link (namespaces(7): "if two
// processes are in the same namespace, then the device IDs and inode
// numbers of their /proc/PID/ns/xxx symbolic links will be the same").
// One stat(2) where ns.Of opens, asks NS_GET_NSTYPE and closes: the path
// already names the kind. fstat(2) of an open one gives the same pair.
func nsIdentity(path string) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return [2]uint64{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// Exec starts o.Process in the container and, unless o.Detach, waits for
// it and returns its exit status (128+N when signal N killed it).
func Exec(o ExecOptions, x *explain.Narrator) (int, error) {
	t := o.Target
	if t == nil {
		var err error
		if t, err = OpenExec(o.Root, o.ID); err != nil {
			return 0, err
		}
	}
	s := t.s
	// Once is enough: the init's PID is checked again once its namespace
	// files are open (proc.Alive below).
	if !t.ok {
		if err := execStatus(s); err != nil {
			return 0, err
		}
	}
	userNS := otherUserNS(s.Pid)
	if os.Geteuid() != 0 && !userNS {
		return 0, errors.New("must run as root: setns(2) needs CAP_SYS_ADMIN")
	}
	p := o.Process
	if p.Terminal && o.Detach && o.ConsoleSocket == "" {
		return 0, errors.New("--detach with a terminal needs --console-socket to pass the terminal on")
	}
	if !p.Terminal && o.ConsoleSocket != "" {
		return 0, errors.New("--console-socket given but the process has no terminal (--tty or process.terminal)")
	}
	// The container's own filter, which every process in it obeys.
	var filter *specs.LinuxSeccomp
	if l := t.cfg.Linux; l != nil {
		filter = l.Seccomp
		// Without a mount namespace the init chroot(2)ed into its root in
		// the host's (rootfs/hostroot.go); joining namespaces with setns(2)
		// gives no root, and the process would run on the host's.
		if !slices.ContainsFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.MountNamespace }) {
			return 0, errors.New("the container has no mount namespace (it shares the host's, chrooted into its root): exec would run the process on the host's root")
		}
	}
	if p.Terminal && o.ConsoleSocket == "" && p.ConsoleSize == nil {
		// exec's own terminal is proxied: the pty starts at its size
		// (later changes follow by SIGWINCH, see console).
		if ws := windowSize(o.Stdio.In); ws != nil {
			cp := *p
			cp.ConsoleSize = &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
			o.Process = &cp
		}
	}
	if why := ptraceReachable(t, p); why != "" {
		switch {
		case userNS && os.Geteuid() != 0:
			// No mount namespace of our own without root: the child
			// that joins the user namespace makes the view (execUserNS).
			x.Note("%s: the exec init will run from a read-only view of our binary", why)
		case os.Getenv(envReadOnlyView) == "":
			x.Note("%s: run this exec again from a read-only view of our binary", why)
			return 0, execReadOnly(x)
		default:
			os.Unsetenv(envReadOnlyView)
			x.Note("%s: running from a read-only view of our binary", why)
		}
	}
	// Not dumpable: the child is forked from us into the container's PID
	// namespace, and until its execve(2) it is a copy of this process,
	// whose /proc/PID/exe is our binary (the flag is inherited by fork,
	// and shared with a CLONE_VM child; the exec init sets it again after
	// its own execve, see init).
	err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	x.Call("prctl(2)", "prctl(PR_SET_DUMPABLE, 0)", nil, err)
	if err != nil {
		return 0, err
	}
	files, err := openNamespaces(s.Pid, x)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, f := range files {
			unix.Close(f.fd)
		}
	}()
	// The files are the init's only if it is still the process the state
	// names (its PID may have been reused since): checked once they are open.
	if !proc.Alive(s.Pid, s.PidStart) {
		return 0, errors.New("cannot exec in a stopped container")
	}
	cg := openCgroup(s)
	if hasUserNS(files) {
		return execUserNS(s, o, files, filter, cg, x)
	}
	compiled, err := seccomp.Prepare(filter)
	if err != nil {
		return 0, fmt.Errorf("linux.seccomp: %w", err)
	}
	if why := fastRefused(t, o.Process, compiled, cg); why != "" {
		x.Note("re-exec as the exec init: %s", why)
		return execIn(s, o, files, filter, cg, x)
	}
	return execFast(s, o, files, compiled, cg, x)
}

// execIn starts the exec init in the namespaces and the cgroup, sends it
// the Process, and waits for its execve(2).
func execIn(s *State, o ExecOptions, files []nsFile, filter *specs.LinuxSeccomp, cg cgroup.Cgroup, x *explain.Narrator) (int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	x.Call("socketpair(2)", fmt.Sprintf("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [%d, %d])", pair[0], pair[1]), nil, err)
	if err != nil {
		return 0, fmt.Errorf("socketpair: %w", err)
	}
	sock, initEnd := pair[0], os.NewFile(uintptr(pair[1]), "sync")
	defer unix.Close(sock)

	cmd := reexec.Command(execInitEntry)
	cmd.ExtraFiles = []*os.File{initEnd, nil} // nil: fd 4 closed unless mnt is joined
	var joins []nsFile
	var cgroupNS *os.File
	mnt := false
	for _, f := range files {
		switch f.kind.Flag {
		case unix.CLONE_NEWNS:
			cmd.ExtraFiles[1] = os.NewFile(uintptr(f.fd), f.path)
			mnt = true
			continue
		case unix.CLONE_NEWCGROUP:
			// Joined by the exec init, once it is in the container's
			// cgroup: the kernel places a task (cgroup.procs, and
			// clone3's CLONE_INTO_CGROUP) only into a cgroup that is
			// visible from the placing task's cgroup namespace, with its
			// own cgroup visible too (cgroups(7), ENOENT otherwise); from
			// inside the container's namespace, whose root is the
			// container's cgroup, ours is not.
			cgroupNS = os.NewFile(uintptr(f.fd), f.path)
			continue
		}
		joins = append(joins, f)
	}
	for i := 0; i < o.PreserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	cgroupNSFd := 0
	if cgroupNS != nil {
		cgroupNSFd = 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, cgroupNS)
	}
	cmd.Env = []string{x.Env(), "GOMAXPROCS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	// Without a terminal the process gets exec's own stdio, as runc
	// passes it (conmon and containerd's shim hand pipes or fifos over).
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdio.In, o.Stdio.Out, o.Stdio.Err
	// A session of its own, as runc's nsexec gives every process it
	// starts: a terminal can then become its controlling one (TIOCSCTTY).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}

	addAfter := cg != nil
	if cg != nil {
		f, ok, err := cg.CloneFD()
		if err != nil {
			initEnd.Close()
			return 0, err
		}
		if ok {
			defer f.Close()
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
			addAfter = !cg.Joined()
		}
	}
	pid, err := startJoined(cmd, joins, cg, x)
	initEnd.Close()
	if err != nil {
		return 0, fmt.Errorf("starting the exec'd process: %w", err)
	}
	started := false
	defer func() {
		if !started {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if addAfter {
		// cgroups v1 (or a hybrid host's v1 hierarchies): the child waits
		// for its Process, so it is in the cgroup before it runs anything.
		if err := cg.Add(pid); err != nil {
			return 0, fmt.Errorf("cgroup: %w", err)
		}
	}
	code, err := handOver(sock, cmd, pid, execInit{Process: o.Process, Seccomp: filter, MntNS: mnt, CgroupNSFd: cgroupNSFd, PreserveFDs: o.PreserveFDs}, o, &started, x)
	return code, err
}

// handOver sends the exec init its Process, waits for its execve(2), and
// then writes the pid file, detaches or waits, for both roads into a
// container (execIn, execUserNS). *started is set once the process runs:
// the caller kills the init on any earlier failure.
func handOver(sock int, cmd *execCmd, pid int, msg execInit, o ExecOptions, started *bool, x *explain.Narrator) (int, error) {
	n, err := send(sock, msg)
	x.Call("sendmsg(2)", fmt.Sprintf("sendmsg(%d, {the Process, %s}, 0)", sock, explain.Quote(strings.Join(o.Process.Args, " "))), n, err)
	if err != nil {
		return 0, execDied(cmd, err)
	}
	master, err := awaitExec(sock, cmd, o, x)
	if err != nil {
		return 0, err
	}
	*started = true
	if o.PidFile != "" {
		// Written once the process runs, before a --detach returns:
		// containerd's shim reads it as soon as exec exits.
		if err := writePidFile(o.PidFile, pid, x); err != nil {
			if master != nil {
				master.Close()
			}
			return 0, err
		}
	}
	if o.Detach {
		x.Note("detached: process %d runs; its parent is now our caller's subreaper", pid)
		cmd.Process.Release()
		return 0, nil
	}
	return waitExec(cmdProcess{cmd}, master, o.Stdio, x)
}

// startJoined starts cmd from a locked thread that first joins the
// namespaces (onOwnThread: Go ends the thread, and its namespaces with
// it, when the goroutine returns).
func startJoined(cmd *execCmd, joins []nsFile, cg interface{ Paths() []string }, x *explain.Narrator) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	onOwnThread(func() {
		if err := readOnlySelf(cmd, x); err != nil {
			done <- result{0, err}
			return
		}
		for _, j := range joins {
			err := ns.Join(j.fd, j.kind)
			x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", j.fd, j.path, j.kind.Const), nil, err)
			if err != nil {
				done <- result{0, err}
				return
			}
		}
		err := cmd.Start()
		pid := 0
		if err == nil {
			pid = cmd.Process.Pid
		}
		if attr := cmd.SysProcAttr; attr.UseCgroupFD {
			x.Call("clone3(2)", fmt.Sprintf("clone3({flags=CLONE_INTO_CGROUP, cgroup=%d<%s>, exit_signal=SIGCHLD})", attr.CgroupFD, cg.Paths()[0]), pid, err)
		} else {
			x.Call("clone(2)", "clone(SIGCHLD)", pid, err)
		}
		done <- result{pid, err}
	})
	r := <-done
	return r.pid, r.err
}

// readOnlySelf makes the exec init run from a read-only view of our
// binary: in a mount namespace of this thread's own (unshare(2); the
// thread dies with its goroutine, see startJoined), the binary is
// bind-mounted read-only onto itself, and cmd runs that path. The exec
// init's /proc/PID/exe then names a read-only mount: a process in the
// container that got hold of it (it holds CAP_SYS_PTRACE, which passes
// over the exec init's non-dumpable flag, or came in before that flag
// was set) cannot reopen it for writing (EROFS), where CVE-2019-5736
// overwrote runc's binary on the host. runc went further (a sealed memfd
// copy): a copy of 12 MB per exec is dearer than a mount.
func readOnlySelf(cmd *execCmd, x *explain.Narrator) error {
	bin, err := readOnlyBinary(x)
	if err != nil {
		return err
	}
	cmd.Path = bin
	return nil
}

// readOnlyBinary gives the calling thread, locked, a mount namespace of
// its own (unshare(2)) where our binary is bind-mounted read-only onto
// itself, and returns its path.
func readOnlyBinary(x *explain.Narrator) (string, error) {
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("our own binary: %w", err)
	}
	err = unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS)
	x.Call("unshare(2)", "unshare(CLONE_FS|CLONE_NEWNS)", nil, err)
	if err != nil {
		return "", fmt.Errorf("unshare: %w", err)
	}
	// Slave: nothing mounted here propagates back to the host (its / is
	// shared on systemd hosts, mount_namespaces(7)).
	err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, "")
	x.Call("mount(2)", `mount("", "/", NULL, MS_REC|MS_SLAVE, NULL)`, nil, err)
	if err == nil {
		err = unix.Mount(bin, bin, "", unix.MS_BIND, "")
		x.Call("mount(2)", fmt.Sprintf("mount(%q, %q, NULL, MS_BIND, NULL)", bin, bin), nil, err)
	}
	if err == nil {
		err = unix.Mount("", bin, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
		x.Call("mount(2)", fmt.Sprintf("mount(NULL, %q, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)", bin), nil, err)
	}
	if err != nil {
		return "", fmt.Errorf("a read-only view of %s: %w", bin, err)
	}
	return bin, nil
}

// awaitExec reads the exec init's messages until its execve(2): "exec",
// then the end of file that the close-on-exec socket gives. The pty
// master goes to --console-socket, or is returned for waitExec to proxy.
func awaitExec(sock int, cmd *execCmd, o ExecOptions, x *explain.Narrator) (master *os.File, err error) {
	defer func() {
		if err != nil && master != nil {
			master.Close()
			master = nil
		}
	}()
	execing := false
	for {
		var m initMessage
		fds, eof, err := receive(sock, &m)
		switch {
		case err != nil:
			for _, fd := range fds {
				unix.Close(fd)
			}
			return master, execDied(cmd, err)
		case eof && execing:
			return master, nil
		case eof:
			return master, execDied(cmd, nil)
		case m.Type == "log":
			w := o.Narration
			if w == nil {
				w = os.Stderr
			}
			io.WriteString(w, m.Text)
		case m.Type == "pty" && len(fds) == 1:
			if o.ConsoleSocket != "" {
				err := sendConsole(o.ConsoleSocket, fds[0], x)
				unix.Close(fds[0])
				if err != nil {
					return master, err
				}
				continue
			}
			master = os.NewFile(uintptr(fds[0]), "/dev/ptmx")
		case m.Type == "exec":
			execing = true
		case m.Type == "error":
			cmd.Wait()
			err := errors.New(m.Error)
			if m.Code == ExitNotFound || m.Code == ExitCannotExec {
				return master, &ExecError{m.Code, err}
			}
			return master, err
		default:
			for _, fd := range fds {
				unix.Close(fd)
			}
			return master, fmt.Errorf("unexpected message %q from the exec init", m.Type)
		}
	}
}

// execDied says why the exec init ended before its execve.
func execDied(cmd *execCmd, cause error) error {
	if cause != nil && !errors.Is(cause, unix.EPIPE) && !errors.Is(cause, unix.ECONNRESET) {
		return cause
	}
	cmd.Wait()
	return fmt.Errorf("the exec'd process ended before its execve (%s)", cmd.ProcessState)
}

// waitExec waits in the foreground: signals sent to exec are passed on
// (runc exec does so too), a terminal is proxied, and the exit status is
// the process's, or 128+N when signal N killed it.
func waitExec(proc execProcess, master *os.File, stdio Stdio, x *explain.Narrator) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	var con *console
	if master != nil {
		hangUp := make(chan struct{}, 1)
		var err error
		if con, err = newConsole(master, stdio, true, hangUp); err != nil {
			proc.Signal(unix.SIGKILL)
			proc.Wait()
			master.Close()
			return 0, err
		}
		go func() {
			// The user's terminal is gone: hang the process up too, as the
			// kernel does to a session whose terminal hangs up (SIGHUP).
			<-hangUp
			proc.Signal(unix.SIGHUP)
		}()
	}
	type exit struct {
		code int
		err  error
	}
	waited := make(chan exit, 1)
	go func() {
		code, err := proc.Wait()
		waited <- exit{code, err}
	}()
	var e exit
	for {
		select {
		case sig := <-sigs:
			x.Note("pass %s on to process %d", unix.SignalName(sig.(syscall.Signal)), proc.Pid())
			proc.Signal(sig)
			continue
		case e = <-waited:
		}
		break
	}
	if con != nil {
		con.drain()
		con.close()
	}
	return e.code, e.err
}

// execProcess is the started process, whichever path started it.
type execProcess interface {
	Pid() int
	Signal(os.Signal) error
	Wait() (int, error) // the exit status, 128+N when signal N killed it
}

// execInit is what the exec init needs, sent once it is in the cgroup.
type execInit struct {
	Process     *specs.Process      `json:"process"`
	Seccomp     *specs.LinuxSeccomp `json:"seccomp,omitempty"`  // the container's
	MntNS       bool                `json:"mntns,omitempty"`    // fd 4 is the mount namespace to join
	CgroupNSFd  int                 `json:"cgroupns,omitempty"` // the cgroup namespace to join, after the preserved fds
	PreserveFDs int                 `json:"preserve_fds,omitempty"`
}

// execInitMain is the container side of exec: from clone(2), already in
// every namespace but mnt, to execve(2). It returns (and exits) only on
// failure, after saying why.
func execInitMain() {
	runtime.LockOSThread()
	log := &syncLog{}
	x := explain.FromEnvTo(log, "[exec] ")
	var ei execInit
	_, eof, err := receive(syncFd, &ei)
	if eof {
		os.Exit(ExitSetup) // exec died or gave up
	}
	if err != nil {
		log.fail(ExitSetup, fmt.Errorf("the exec init could not read its Process: %w", err))
		os.Exit(ExitSetup)
	}
	code, err := execInitRun(ei, log, x)
	log.fail(code, err)
	os.Exit(code)
}

func execInitRun(ei execInit, log *syncLog, x *explain.Narrator) (int, error) {
	p := ei.Process
	x.Call("prctl(2)", "prctl(PR_SET_DUMPABLE, 0)   (at start-up, see init)", nil, nil)
	var err error
	// The cgroup namespace before the mount namespace, as nsenter(1)
	// orders them: we are in the container's cgroup by now (see execIn).
	if ei.CgroupNSFd != 0 {
		cg, _ := ns.ByFlag(unix.CLONE_NEWCGROUP)
		err := ns.Join(ei.CgroupNSFd, cg)
		x.Call("setns(2)", fmt.Sprintf("setns(%d<cgroup>, CLONE_NEWCGROUP)", ei.CgroupNSFd), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("joining the container's cgroup namespace: %w", err)
		}
		unix.Close(ei.CgroupNSFd)
	}
	if ei.MntNS {
		mnt, _ := ns.ByFlag(unix.CLONE_NEWNS)
		err := ns.Join(execMntFd, mnt) // unshare(CLONE_FS) first, see ns.Join
		x.Call("setns(2)", fmt.Sprintf("unshare(CLONE_FS), setns(%d<mnt>, CLONE_NEWNS)", execMntFd), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("joining the container's mount namespace: %w", err)
		}
		unix.Close(execMntFd)
	}
	filter, later, err := processLimits(p, ei.Seccomp, x)
	if err != nil {
		return ExitSetup, err
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// Not made when missing (create makes it): runc exec fails there too.
	err = unix.Chdir(cwd)
	x.Call("chdir(2)", fmt.Sprintf("chdir(%q)", cwd), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)
	}
	// /dev/ptmx is the container's now: the pty is in its devpts.
	if _, err := processTerminal(p, syncFd, true, x); err != nil {
		return ExitSetup, err
	}
	if err := processPrivileges(p, filter, x, nil); err != nil {
		return ExitSetup, err
	}
	// Every descriptor above stderr is closed at execve(2): the sync
	// socket too (ExtraFiles' dup2 cleared its close-on-exec flag), whose
	// end of file tells exec that the process runs; the preserved ones
	// are copied down to 3.. without the flag below.
	if err := execvp.CloseOnExecFrom(syncFd, x); err != nil {
		return ExitSetup, err
	}
	// From here an end of file on the sync socket is the execve.
	if _, err := send(syncFd, initMessage{Type: "exec"}); err != nil {
		return ExitSetup, err
	}
	if ei.PreserveFDs > 0 {
		log.closed = true // fd 3 is about to be a preserved one
		for i := 0; i < ei.PreserveFDs; i++ {
			if err := unix.Dup3(execMntFd+1+i, 3+i, 0); err != nil {
				return ExitSetup, fmt.Errorf("--preserve-fds: %w", err)
			}
		}
	}
	if err := lastLimits(later, x); err != nil {
		return ExitSetup, err
	}
	if err := seccompLast(p, filter, x); err != nil {
		return ExitSetup, err
	}
	x.Note("execve(%q, %q, [%d vars])", path, p.Args, len(p.Env))
	err = unix.Exec(path, p.Args, p.Env)
	return execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)
}
