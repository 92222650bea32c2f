package container

import (
	"errors"
	"fmt"
	"os"
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
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// exec without a second program: nsenter(1)'s way. nsenter joins with
// setns(2) and then forks the command; a Go program can do the same from
// one thread, because everything a child inherits at clone(2) is the
// calling thread's:
//
//   - namespaces: setns(2) moves the calling thread only, and clone(2)
//     copies the calling thread's (the PID namespace as "the namespace
//     for children", setns(2));
//   - fs (root, cwd, umask): Go's threads share one (CLONE_FS), which is
//     why setns(2) refuses CLONE_NEWNS "if the caller shares its fs with
//     other threads" (EINVAL); unshare(2) CLONE_FS gives this thread its
//     own first, and the child a copy of it;
//   - credentials, capability sets, securebits, no_new_privs and the
//     seccomp filter are per thread (credentials(7), capabilities(7),
//     prctl(2), seccomp(2)): set with raw system calls (never syscall's
//     Setuid, which changes every thread, AllThreadsSyscall) and loaded
//     without SECCOMP_FILTER_FLAG_TSYNC, they bind this thread only;
//   - cgroups v1: a thread ID written to a hierarchy's tasks file moves
//     that thread alone (cgroups(7)), and "0" names the writer itself
//     (the kernel's cgroup-v1 documentation); a fork then starts there.
//
// Go's syscall.ForkExec clones from the calling thread (syscall/
// exec_linux.go: clone(CLONE_VM|CLONE_VFORK|SIGCHLD), the child runs only
// raw system calls up to execve(2)), so the thread is locked
// (runtime.LockOSThread) and never unlocked: when its goroutine returns,
// the Go runtime ends the thread, and what it joined and gave up with it.
//
// When this path is not taken, exec re-executes minicontainer as the exec
// init (execIn), and fastRefused says why.

// ptraceMark is a file in the state dir: an exec gave a process
// CAP_SYS_PTRACE beyond the container's bounding set (ptraceReachable).
const ptraceMark = "ptrace-exec"

// envReadOnlyView marks a minicontainer that execReadOnly started.
const envReadOnlyView = "_MINICONTAINER_READ_ONLY_VIEW"

// ptraceReachable says why a process in the container could reach our
// binary during exec, "" when none can.
//
// CVE-2019-5736: from clone(2) to execve(2) the child is a copy of this
// process, our binary, in the container's PID namespace, so a process
// there could open its /proc/PID/exe, keep the descriptor, and reopen it
// for writing once no minicontainer runs. The kernel refuses the open
// (ptrace access mode, proc(5)) because this process is not dumpable,
// unless the opener holds CAP_SYS_PTRACE (ptrace(2)). No process in the
// container holds a capability outside its bounding set, which it cannot
// widen (PR_CAPBSET_DROP only drops): the container's, or a wider one an
// earlier exec gave, which ptraceMark records.
func ptraceReachable(t *ExecTarget, p *specs.Process) string {
	mark := filepath.Join(t.s.Dir(), ptraceMark)
	_, marked := os.Lstat(mark)
	if p.Capabilities == nil || slices.Contains(p.Capabilities.Bounding, "CAP_SYS_PTRACE") {
		// Recorded before the process exists, for the execs after it.
		if err := os.WriteFile(mark, nil, 0o600); err != nil {
			return "this process may hold CAP_SYS_PTRACE (and " + ptraceMark + " could not be written)"
		}
	}
	cfg := t.cfg
	if cfg.Process == nil || cfg.Process.Capabilities == nil {
		return "the container's processes hold every capability, CAP_SYS_PTRACE too"
	}
	if slices.Contains(cfg.Process.Capabilities.Bounding, "CAP_SYS_PTRACE") {
		return "the container's bounding set has CAP_SYS_PTRACE"
	}
	if marked == nil {
		return "an earlier exec gave a process CAP_SYS_PTRACE (" + ptraceMark + ")"
	}
	return ""
}

// execReadOnly runs this very command again (execve(2), same arguments)
// from a read-only view of our binary in a mount namespace of its own:
// every copy of minicontainer the container can then see is on a
// read-only mount, and a descriptor of it cannot be reopened for writing
// (EROFS). runc seals a copy of itself in a memfd instead (memfd_create(2)):
// a copy of 12 MB per exec is dearer than a mount. It returns only on
// failure; the thread it ran on is then tainted, so the caller exits.
func execReadOnly(x *explain.Narrator) error {
	runtime.LockOSThread() // execve from the thread that has the view
	bin, err := readOnlyBinary(x)
	if err != nil {
		return err
	}
	env := append(os.Environ(), envReadOnlyView+"=1")
	x.Call("execve(2)", fmt.Sprintf("execve(%q, %s, [%d vars])", bin, explain.Quote(strings.Join(os.Args, " ")), len(env)), nil, nil)
	return fmt.Errorf("execve %s: %w", bin, syscall.Exec(bin, os.Args, env))
}

// fastRefused returns why exec must take the re-exec path, "" when the
// CLI may fork the command itself (execFast).
func fastRefused(t *ExecTarget, p *specs.Process, filter *seccomp.Filter, cg cgroup.Cgroup) string {
	cfg := t.cfg
	if cg != nil {
		f, ok, _ := cg.CloneFD()
		if f != nil {
			f.Close()
		}
		if ok {
			// v2 moves a process, not a thread: the child must be born in
			// the cgroup by clone3(2)'s CLONE_INTO_CGROUP, which Docker's
			// profile refuses (ENOSYS) once it is loaded on this thread,
			// and a delegation boundary (nsdelegate) refuses from inside
			// the container's cgroup namespace (cgroups(7)).
			return "cgroups v2: the child cannot be placed from a confined thread"
		}
	}
	for _, r := range p.Rlimits {
		if r.Type != "RLIMIT_NOFILE" {
			return "process.rlimits " + r.Type + ": limits are per process (setrlimit(2)), and would bind minicontainer itself"
		}
	}
	if cfg.Linux != nil && cfg.Linux.Seccomp != nil && len(cfg.Linux.Seccomp.Flags) > 0 {
		return "the seccomp profile has flags (SECCOMP_FILTER_FLAG_TSYNC would bind every thread of minicontainer)"
	}
	// What this thread still calls with the filter loaded: the
	// privileges (processPrivileges), ForkExec's parent and child sides,
	// and the Go runtime's own, up to the thread's exit.
	if name := filter.Refused(fastCalls); name != "" {
		return "the seccomp profile refuses " + name + ", which minicontainer calls after loading it"
	}
	return ""
}

var fastCalls = []seccomp.Call{
	{Name: "clone", Nr: unix.SYS_CLONE, Args: []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}},
	{Name: "execve", Nr: unix.SYS_EXECVE}, {Name: "pipe2", Nr: unix.SYS_PIPE2}, {Name: "read", Nr: unix.SYS_READ},
	{Name: "write", Nr: unix.SYS_WRITE}, {Name: "close", Nr: unix.SYS_CLOSE}, {Name: "dup3", Nr: unix.SYS_DUP3},
	{Name: "fcntl", Nr: unix.SYS_FCNTL}, {Name: "setsid", Nr: unix.SYS_SETSID}, {Name: "ioctl", Nr: unix.SYS_IOCTL, Args: []uint64{0, unix.TIOCSCTTY}},
	{Name: "prlimit64", Nr: unix.SYS_PRLIMIT64}, {Name: "wait4", Nr: unix.SYS_WAIT4}, {Name: "exit", Nr: unix.SYS_EXIT},
	{Name: "setgroups", Nr: unix.SYS_SETGROUPS}, {Name: "setgid", Nr: unix.SYS_SETGID}, {Name: "setuid", Nr: unix.SYS_SETUID},
	{Name: "prctl", Nr: unix.SYS_PRCTL, Args: []uint64{unix.PR_CAPBSET_DROP}}, {Name: "capget", Nr: unix.SYS_CAPGET}, {Name: "capset", Nr: unix.SYS_CAPSET},
	{Name: "futex", Nr: unix.SYS_FUTEX}, {Name: "rt_sigprocmask", Nr: unix.SYS_RT_SIGPROCMASK}, {Name: "rt_sigreturn", Nr: unix.SYS_RT_SIGRETURN},
	{Name: "sigaltstack", Nr: unix.SYS_SIGALTSTACK}, {Name: "mmap", Nr: unix.SYS_MMAP}, {Name: "munmap", Nr: unix.SYS_MUNMAP},
	{Name: "madvise", Nr: unix.SYS_MADVISE}, {Name: "nanosleep", Nr: unix.SYS_NANOSLEEP}, {Name: "sched_yield", Nr: unix.SYS_SCHED_YIELD},
	{Name: "getpid", Nr: unix.SYS_GETPID}, {Name: "gettid", Nr: unix.SYS_GETTID}, {Name: "tgkill", Nr: unix.SYS_TGKILL},
}

// fastStart is what the locked thread hands back.
type fastStart struct {
	pid     int
	master  *os.File // the pty master with a terminal
	movedIn string   // all of minicontainer went into a v2 cgroup from this one
	err     error
}

// execFast joins the container and forks o.Process from one locked thread
// (see above), then waits as execIn does.
func execFast(s *State, o ExecOptions, files []nsFile, filter *seccomp.Filter, cg cgroup.Cgroup, x *explain.Narrator) (int, error) {
	var r fastStart
	onOwnThread(func() {
		r.pid, r.master, r.movedIn, r.err = enterAndFork(o, files, filter, cg, x)
	})
	if r.err != nil {
		return 0, r.err
	}
	master := r.master
	if r.movedIn != "" && master != nil && !o.Detach {
		// An interactive exec outlives a rm -f's SIGKILL to the cgroup's
		// processes only outside it: its terminal would stay raw. Back
		// to our own unified cgroup (from this thread, whose cgroup
		// namespace is the host's).
		leaveUnified(r.movedIn, x)
	}
	if master != nil && o.ConsoleSocket != "" {
		// From this thread: the socket's path is the host's.
		err := sendConsole(o.ConsoleSocket, int(master.Fd()), x)
		master.Close()
		master = nil
		if err != nil {
			unix.Kill(r.pid, unix.SIGKILL)
			unix.Wait4(r.pid, nil, 0, nil)
			return 0, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, r.pid, x); err != nil {
			if master != nil {
				master.Close()
			}
			return 0, err
		}
	}
	if o.Detach {
		x.Note("detached: process %d runs; its parent is now our caller's subreaper", r.pid)
		return 0, nil
	}
	proc := &pidProcess{pid: r.pid}
	return waitExec(proc, master, o.Stdio, x)
}

// enterAndFork runs on the locked thread: it enters the container,
// takes the Process's confinement, and forks the command.
func enterAndFork(o ExecOptions, files []nsFile, filter *seccomp.Filter, cg cgroup.Cgroup, x *explain.Narrator) (pid int, master *os.File, movedIn string, err error) {
	p := o.Process
	err = unix.Unshare(unix.CLONE_FS)
	x.Call("unshare(2)", "unshare(CLONE_FS)", nil, err)
	if err != nil {
		return 0, nil, "", fmt.Errorf("unshare: %w", err)
	}
	// The cgroup before the cgroup namespace: from inside the container's
	// namespace our own cgroup is not visible, and the kernel places a
	// task only where the writer sees both ends (cgroups(7)).
	if cg != nil {
		for _, dir := range cg.Paths() {
			path := filepath.Join(dir, "tasks")
			fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			what := "this thread alone"
			if errors.Is(err, unix.ENOENT) {
				// A v2 hierarchy beside the v1 ones (a hybrid host's
				// unified, which holds no controller): v2 moves whole
				// processes only, so minicontainer itself goes in,
				// charged nothing there, for the fork to start in it.
				path, what = filepath.Join(dir, "cgroup.procs"), "all of minicontainer"
				if p.Terminal && !o.Detach {
					movedIn = unifiedCgroup() // to leave it again, see execFast
				}
				fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			}
			if err == nil {
				_, err = unix.Write(fd, []byte("0"))
				unix.Close(fd)
			}
			if x.Enabled() { // no Sprintf per hierarchy when nobody reads it
				x.Call("cgroups(7)", fmt.Sprintf("write(%q, \"0\"): %s", path, what), nil, err)
			}
			if err != nil {
				return 0, nil, "", fmt.Errorf("cgroup: %w", err)
			}
		}
	}
	for _, f := range files {
		err := ns.Join(f.fd, f.kind)
		if x.Enabled() {
			x.Call("setns(2)", fmt.Sprintf("setns(%d<%s>, %s)", f.fd, f.path, f.kind.Const), nil, err)
		}
		if err != nil {
			return 0, nil, "", err
		}
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// After setns(CLONE_NEWNS) the thread stands at the namespace's root;
	// the child starts in this thread's cwd. Not made when missing.
	err = unix.Chdir(cwd)
	x.Call("chdir(2)", fmt.Sprintf("chdir(%q)", cwd), nil, err)
	if err != nil {
		return 0, nil, "", fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return 0, nil, "", &ExecError{execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)}
	}
	later, err := fastLimits(p, x)
	if err != nil {
		return 0, nil, "", err
	}
	stdio := []uintptr{o.Stdio.In.Fd(), o.Stdio.Out.Fd(), o.Stdio.Err.Fd()}
	var slave *os.File
	if p.Terminal {
		var ws *unix.Winsize
		if p.ConsoleSize != nil {
			ws = &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		}
		// /dev/ptmx is the container's now: the pty is in its devpts.
		if master, slave, err = openPTY(ws, x); err != nil {
			return 0, nil, "", err
		}
		defer slave.Close()
		fd := slave.Fd()
		stdio = []uintptr{fd, fd, fd}
	}
	fail := func(err error) (int, *os.File, string, error) {
		if master != nil {
			master.Close()
		}
		return 0, nil, "", err
	}
	for i := 0; i < o.PreserveFDs; i++ {
		stdio = append(stdio, uintptr(3+i))
	}
	// Every other descriptor of ours stays out of the container.
	if err := execvp.CloseOnExecFrom(3+o.PreserveFDs, x); err != nil {
		return fail(err)
	}
	if err := processPrivileges(p, filter, x, nil); err != nil {
		return fail(err)
	}
	if err := lastLimits(later, x); err != nil {
		return fail(err)
	}
	if err := seccompLast(p, filter, x); err != nil {
		return fail(err)
	}
	// A session of its own, as runc's nsexec gives every process it
	// starts: a terminal can then become its controlling one (TIOCSCTTY).
	attr := &syscall.ProcAttr{Env: p.Env, Files: stdio, Sys: &syscall.SysProcAttr{Setsid: true, Setctty: p.Terminal, Ctty: 0}}
	if attr.Env == nil {
		attr.Env = []string{}
	}
	pid, err = syscall.ForkExec(path, p.Args, attr)
	child := "setsid()"
	if p.Terminal {
		child += ", ioctl(0, TIOCSCTTY)"
	}
	x.Call("clone(2)", fmt.Sprintf("clone(CLONE_VM|CLONE_VFORK|SIGCHLD); child: %s, dup3 to 0-%d, execve(%q, %s, [%d vars])", child, len(stdio)-1, path, explain.Quote(strings.Join(p.Args, " ")), len(p.Env)), pid, err)
	if err != nil {
		return fail(&ExecError{execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)})
	}
	return pid, master, movedIn, nil
}

// fastLimits is processLimits for the fast path (its rlimits are only
// RLIMIT_NOFILE, see fastRefused: per process, so minicontainer takes the
// container's limit too until it exits; package syscall's setrlimit also
// keeps Go from restoring its own at the fork).
func fastLimits(p *specs.Process, x *explain.Narrator) ([]specs.POSIXRlimit, error) {
	_, later, err := processLimits(p, nil, x)
	return later, err
}

// pidProcess is a child waited for by PID: no os.Process, whose pidfd
// probe would fork once more.
type pidProcess struct {
	pid   int
	state syscall.WaitStatus
}

func (c *pidProcess) Pid() int                   { return c.pid }
func (c *pidProcess) Signal(sig os.Signal) error { return unix.Kill(c.pid, sig.(syscall.Signal)) }
func (c *pidProcess) Wait() (int, error) {
	for {
		_, err := unix.Wait4(c.pid, (*unix.WaitStatus)(&c.state), 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if c.state.Signaled() {
			return 128 + int(c.state.Signal()), nil
		}
		return c.state.ExitStatus(), nil
	}
}

// cmdProcess is the exec init's exec.Cmd seen the same way.
type cmdProcess struct{ cmd *execCmd }

func (c cmdProcess) Pid() int                   { return c.cmd.Process.Pid }
func (c cmdProcess) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }
func (c cmdProcess) Wait() (int, error) {
	// A non-zero exit is an *exec.ExitError with ProcessState set, and
	// read from it; any other error (wait4(2) itself failed, or copying
	// the command's output) leaves no ProcessState to read.
	err := c.cmd.Wait()
	if c.cmd.ProcessState == nil {
		return 0, fmt.Errorf("waiting for the command: %w", err)
	}
	return execvp.ExitStatus(c.cmd.ProcessState), nil
}

// unifiedCgroup is this process's cgroup in the unified hierarchy
// (/proc/self/cgroup's "0::" line), "" if none.
func unifiedCgroup() string {
	data, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return rel
		}
	}
	return ""
}

// leaveUnified moves this process back to its cgroup rel of the unified
// hierarchy. A failure is narrated, not fatal: the exec runs.
func leaveUnified(rel string, x *explain.Narrator) {
	h, err := cgroup.Detect()
	if err != nil || h.Unified == "" {
		return
	}
	path := filepath.Join(h.Unified, rel, "cgroup.procs")
	err = os.WriteFile(path, []byte("0"), 0)
	x.Call("cgroups(7)", fmt.Sprintf("write(%q, \"0\"): minicontainer back out", path), nil, err)
}

// onOwnThread runs fn on a goroutine locked to a thread of its own
// (runtime.LockOSThread) and never unlocked, so that the Go runtime ends
// the thread, with whatever fn changed in it, when fn returns. Never on
// the main thread: Go cannot end that one (the thread group leader) and
// parks it instead, and /proc/self is the leader's view: a main thread left
// in a container's namespaces, cgroups and confinement would stay there
// for the rest of this process. Holding the main thread while another
// goroutine runs fn keeps fn off it.
func onOwnThread(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			onOwnThread(fn)
			runtime.UnlockOSThread() // untouched: back to the scheduler
		} else {
			fn()
		}
		close(done)
	}()
	<-done
}
