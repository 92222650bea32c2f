package container

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
)

// exec into a container that has a user namespace (every rootless one,
// and a bundle whose Spec asks for one), without cgo.
//
// setns(2) refuses a user namespace to a multithreaded caller (EINVAL)
// and a time namespace too (EUSERS), and a Go program has threads before
// main runs. runc joins them from C before its Go runtime starts; this
// runtime is static Go. What it can do is what Go's own syscall.ForkExec
// does (syscall/exec_linux.go, forkAndExecInChild1): clone(2) from one
// thread, and in the child, which has that one thread only, run nothing
// but raw system calls up to execve(2). Go's child cannot call setns(2)
// (SysProcAttr has no field for it), so this file is that child, small:
//
//	minicontainer (CLI)                       host namespaces
//	└─ clone(SIGCHLD)                         child 1: one thread
//	     setns user, ipc, uts, net, pid, time   (user first: it grants
//	     setresgid/setresuid(0, 0, 0)            the capabilities the rest
//	     [rootless: the read-only view]          need, setns(2))
//	     clone(CLONE_PARENT|SIGCHLD) ─────────► child 2: in the pid namespace
//	     write child 2's PID, _exit(0)            setsid, fds to 0.., execve
//	                                              the exec init, which goes
//	                                              on as in execIn: cgroup and
//	                                              mnt namespaces, Process
//
// Two children, because after setns(CLONE_NEWPID) only the caller's
// children are in the PID namespace (setns(2)), and a rootless caller
// cannot join it before the user namespace (pidns_install checks
// CAP_SYS_ADMIN in the caller's own user namespace too). CLONE_PARENT
// (clone(2)) makes child 2 minicontainer's child, not child 1's: exec
// waits for it, and gets its exit status, as for any child.
//
// The rules for the children (those of forkAndExecInChild1): no Go code
// that could allocate, grow the stack or take a lock, because the child
// is a copy of a multithreaded program with one thread left, whose other
// threads (the GC's, the scheduler's) are gone. So: functions marked
// go:nosplit (no stack check; the linker proves their chain fits the
// stack that is there) and go:norace, calling only syscall.RawSyscall;
// everything they use is prepared by the parent in a userNSFork; they
// write integers only (a pointer write could call the GC's write
// barrier). Signals are blocked on the forking thread across clone(2), so
// that no Go signal handler runs in a child (Go does the same, issue
// 18600); child 2 resets the handlers to SIG_DFL and restores the mask
// right before execve(2), as runtime_AfterForkInChild does.

// nsStep is one setns(2) of child 1.
type nsStep struct{ fd, flag uintptr }

// userNSFork is everything the two children need, made before clone(2).
type userNSFork struct {
	joins []nsStep
	// The exec init: execve(bin, argv, envv), with fds[i] as its fd i
	// (-1: closed), moved as forkAndExecInChild1 moves them.
	bin        *byte
	execFd     int   // bin, open (O_PATH): execveat(2) needs no search permission on its path
	empty      *byte // ""
	argv, envv []*byte
	fds        []int
	nextfd     int
	report     int // the pipe's write end: records of {step, value}
	// Rootless: child 1 makes the read-only view of bin (see
	// readOnlyBinary) in a mount namespace owned by the container's user
	// namespace; root made it on the forking thread already.
	roView  bool
	slash   *byte
	roFlags uintptr // MS_REMOUNT|MS_BIND|MS_RDONLY and the mount's own flags
	clone3  cloneArgs
	useCg   bool
	sigAll  uint64
	sigOld  uint64
	sa      [4]uint64 // a struct sigaction, room for every architecture's
	rec     [2]int64
}

// cloneArgs is clone3(2)'s struct clone_args, the fields up to cgroup.
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// The steps of the children, as reported.
const (
	stepPID = iota // value: child 2's PID
	stepSetresgid
	stepSetresuid
	stepUnshare
	stepSlave
	stepBind
	stepRemount
	stepClone
	stepSetsid
	stepDup
	stepExecve
	stepOpen
	stepJoin // stepJoin+i: the i-th setns
)

func (u *userNSFork) stepName(step int64) string {
	switch step {
	case stepSetresgid:
		return "setresgid(0, 0, 0)"
	case stepSetresuid:
		return "setresuid(0, 0, 0)"
	case stepUnshare:
		return "unshare(CLONE_NEWNS)"
	case stepSlave:
		return "mount(MS_REC|MS_SLAVE)"
	case stepBind:
		return "mount(MS_BIND) of our binary"
	case stepRemount:
		return "mount(MS_REMOUNT|MS_BIND|MS_RDONLY) of our binary"
	case stepClone:
		return "clone(CLONE_PARENT)"
	case stepSetsid:
		return "setsid()"
	case stepDup:
		return "dup3()"
	case stepExecve:
		return "execveat() of the exec init"
	case stepOpen:
		return "open() of our binary"
	}
	return "setns()"
}

// otherUserNS reports whether process pid is in a user namespace other
// than ours: exec then joins it (execUserNS), and needs no root, only the
// capabilities the kernel gives the namespace's owner (user_namespaces(7)).
func otherUserNS(pid int) bool {
	k, _ := ns.ByFlag(unix.CLONE_NEWUSER)
	theirs, err := ns.Of(pid, k)
	ours, err2 := ns.Of(0, k)
	return err == nil && err2 == nil && theirs != ours
}

// hasUserNS reports whether files hold a namespace that only a
// single-threaded process can join: user or time.
func hasUserNS(files []nsFile) bool {
	for _, f := range files {
		if f.kind.Flag == unix.CLONE_NEWUSER || f.kind.Flag == unix.CLONE_NEWTIME {
			return true
		}
	}
	return false
}

// execUserNS is execIn for a container with a user (or time) namespace:
// the exec init is started by forkJoin's two children instead of
// os/exec, and then driven as execIn drives it.
func execUserNS(s *State, o ExecOptions, files []nsFile, filter *specs.LinuxSeccomp, cg cgroup.Cgroup, x *explain.Narrator) (int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	x.Call("socketpair(2)", fmt.Sprintf("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [%d, %d])", pair[0], pair[1]), nil, err)
	if err != nil {
		return 0, fmt.Errorf("socketpair: %w", err)
	}
	sock := pair[0]
	defer unix.Close(sock)

	f := &userNSFork{}
	// The exec init's fds, as execIn lays them out: stdio, the sync
	// socket (syncFd), the mount namespace (execMntFd) or nothing, the
	// preserved ones, the cgroup namespace last.
	stdio := []*os.File{o.Stdio.In, o.Stdio.Out, o.Stdio.Err}
	for i, s := range stdio {
		if s == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				unix.Close(pair[1])
				return 0, err
			}
			defer null.Close()
			stdio[i] = null
		}
	}
	f.fds = []int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()), pair[1], -1}
	mnt, cgroupNS := false, -1
	var joins []string
	for _, n := range files {
		switch n.kind.Flag {
		case unix.CLONE_NEWNS:
			f.fds[execMntFd], mnt = n.fd, true
			continue
		case unix.CLONE_NEWCGROUP:
			cgroupNS = n.fd // placed after the preserved fds, as in execIn
			continue
		}
		step := nsStep{uintptr(n.fd), n.kind.Flag}
		if n.kind.Flag == unix.CLONE_NEWUSER {
			f.joins = append([]nsStep{step}, f.joins...)
			joins = append([]string{fmt.Sprintf("setns(%d<%s>, %s)", n.fd, n.path, n.kind.Const)}, joins...)
		} else {
			f.joins = append(f.joins, step)
			joins = append(joins, fmt.Sprintf("setns(%d<%s>, %s)", n.fd, n.path, n.kind.Const))
		}
	}
	for i := 0; i < o.PreserveFDs; i++ {
		f.fds = append(f.fds, 3+i)
	}
	cgroupNSFd := 0
	if cgroupNS >= 0 {
		cgroupNSFd = len(f.fds)
		f.fds = append(f.fds, cgroupNS)
	}
	env := []string{x.Env(), "GOMAXPROCS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	f.argv, err = syscall.SlicePtrFromStrings([]string{execInitEntry})
	if err == nil {
		f.envv, err = syscall.SlicePtrFromStrings(env)
	}
	if err != nil {
		unix.Close(pair[1])
		return 0, err
	}

	pid, err := f.start(cg, joins, x)
	unix.Close(pair[1])
	if err != nil {
		return 0, fmt.Errorf("starting the exec'd process: %w", err)
	}
	// An os/exec Cmd around the child (a pidfd, os.FindProcess): the
	// rest is execIn's, which waits and signals through it.
	proc, err := os.FindProcess(pid)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, nil, 0, nil)
		return 0, err
	}
	cmd := &execCmd{Path: execInitEntry, Args: []string{execInitEntry}, Process: proc}
	started := false
	defer func() {
		if !started {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if cg != nil && (!f.useCg || !cg.Joined()) {
		// cgroups v1: the exec init waits for its Process, so it is in
		// the cgroup before it runs anything (see execIn).
		if err := cg.Add(pid); err != nil {
			return 0, fmt.Errorf("cgroup: %w", err)
		}
	}
	code, err := handOver(sock, cmd, pid, execInit{Process: o.Process, Seccomp: filter, MntNS: mnt, CgroupNSFd: cgroupNSFd, PreserveFDs: o.PreserveFDs}, o, &started, x)
	return code, err
}

// start forks the two children from a locked thread of its own and
// returns child 2's PID once it has exec'd the init (or why not).
func (f *userNSFork) start(cg cgroup.Cgroup, joins []string, x *explain.Narrator) (int, error) {
	var pid int
	var err error
	onOwnThread(func() { pid, err = f.startOnThread(cg, joins, x) })
	return pid, err
}

func (f *userNSFork) startOnThread(cg cgroup.Cgroup, joins []string, x *explain.Narrator) (int, error) {
	var bin string
	var err error
	if os.Geteuid() == 0 {
		// Root: the read-only view on this thread, as execIn makes it;
		// the children inherit its mount namespace.
		if bin, err = readOnlyBinary(x); err != nil {
			return 0, err
		}
	} else {
		// Rootless: unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN in our user
		// namespace, which child 1 has only once it joined the
		// container's; a mount there keeps the flags the kernel locked
		// for a less privileged namespace (mount_namespaces(7)), so the
		// remount repeats them.
		if bin, err = os.Executable(); err != nil {
			return 0, fmt.Errorf("our own binary: %w", err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(bin, &st); err != nil {
			return 0, fmt.Errorf("statfs %s: %w", bin, err)
		}
		keep := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
		f.roView, f.roFlags = true, unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|uintptr(st.Flags)&keep
		if f.slash, err = syscall.BytePtrFromString("/"); err != nil {
			return 0, err
		}
	}
	if f.bin, err = syscall.BytePtrFromString(bin); err != nil {
		return 0, err
	}
	// The report pipe's write end above every fd the exec init gets, so
	// that moving them cannot overwrite it (see moveFds).
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, fmt.Errorf("pipe2: %w", err)
	}
	defer unix.Close(p[0])
	low := len(f.fds)
	for _, fd := range f.fds {
		low = max(low, fd+1)
	}
	f.report, err = unix.FcntlInt(uintptr(p[1]), unix.F_DUPFD_CLOEXEC, low)
	unix.Close(p[1])
	if err != nil {
		return 0, fmt.Errorf("fcntl F_DUPFD_CLOEXEC: %w", err)
	}
	f.nextfd = f.report + 1
	if f.empty, err = syscall.BytePtrFromString(""); err != nil {
		return 0, err
	}
	f.execFd = -1
	if !f.roView {
		// Opened here, by host root: once child 1 is the container's
		// root (an id like 100000 on the host) the path may not be
		// searchable for it (a home or a test's dir, 0700), but the
		// binary itself is executable by others; execveat(2) on the
		// descriptor checks the file only. runc execs a sealed memfd
		// copy for the same reason (and CVE-2019-5736's).
		fd, err := unix.Open(bin, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == nil {
			f.execFd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, f.nextfd)
			unix.Close(fd)
		}
		if err != nil {
			unix.Close(f.report)
			return 0, fmt.Errorf("open %s: %w", bin, err)
		}
		defer unix.Close(f.execFd)
		f.nextfd = f.execFd + 1
	}
	f.sigAll = ^uint64(0)
	f.clone3 = cloneArgs{exitSignal: uint64(unix.SIGCHLD)}
	clone := "clone(SIGCHLD)"
	if cg != nil {
		cf, ok, err := cg.CloneFD()
		if err != nil {
			unix.Close(f.report)
			return 0, err
		}
		if ok {
			defer cf.Close()
			f.useCg = true
			f.clone3.flags = unix.CLONE_INTO_CGROUP
			f.clone3.cgroup = uint64(cf.Fd())
			clone = fmt.Sprintf("clone3({flags=CLONE_INTO_CGROUP, cgroup=%d<%s>, exit_signal=SIGCHLD})", cf.Fd(), cg.Paths()[0])
		}
	}
	child1, pid, ws, failed := f.forkAndWait(p[0], joins)
	if child1 == 0 {
		x.Call("clone(2)", clone, nil, failed)
		return 0, failed
	}
	x.Call("clone(2)", clone+": child 1, one thread", child1, nil)
	var done []string
	if failed == nil {
		for _, j := range joins {
			x.Call("setns(2)", "[child 1] "+j, nil, nil)
		}
		done = append(done, "setresgid(2)", "setresgid(0, 0, 0)", "setresuid(2)", "setresuid(0, 0, 0)")
		if f.roView {
			done = append(done, "unshare(2)", "unshare(CLONE_NEWNS)", "mount(2)", `mount("", "/", NULL, MS_REC|MS_SLAVE, NULL)`,
				"mount(2)", fmt.Sprintf("mount(%q, %q, NULL, MS_BIND, NULL)", bin, bin),
				"mount(2)", fmt.Sprintf("mount(NULL, %q, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)", bin),
				"open(2)", fmt.Sprintf("open(%q, O_PATH|O_CLOEXEC)", bin))
		}
		for i := 0; i < len(done); i += 2 {
			x.Call(done[i], "[child 1] "+done[i+1], nil, nil)
		}
	}
	if pid != 0 && failed != nil {
		// Child 2 failed at its own steps: it is our child (CLONE_PARENT).
		unix.Wait4(pid, nil, 0, nil)
	}
	if failed != nil {
		return 0, failed
	}
	if pid == 0 {
		return 0, fmt.Errorf("the child that joins the namespaces ended (%v) before it forked", exitStatus(ws))
	}
	x.Call("clone(2)", "[child 1] clone(CLONE_PARENT|SIGCHLD): child 2, in the pid namespace", pid, nil)
	x.Call("execveat(2)", fmt.Sprintf("[child 2] setsid(), dup3 to 0-%d, execveat(fd<%s>, \"\", [%q], [%d vars], AT_EMPTY_PATH)", len(f.fds)-1, bin, execInitEntry, len(f.envv)-1), nil, nil)
	return pid, nil
}

// forkAndWait forks the children (forkJoin), reads their records up to
// the end of file (child 1 exited, and child 2 exec'd: the pipe is
// close-on-exec; or exited) from readEnd, and reaps child 1. child1 is 0
// when clone(2) failed; pid is child 2's; failed says which step failed.
func (f *userNSFork) forkAndWait(readEnd int, joins []string) (child1, pid int, ws unix.WaitStatus, failed error) {
	c1, errno := forkJoin(f)
	unix.Close(f.report)
	if errno != 0 {
		return 0, 0, 0, fmt.Errorf("clone: %w", errno)
	}
	for {
		var rec [16]byte
		n, err := unix.Read(readEnd, rec[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n < len(rec) {
			break
		}
		step := *(*int64)(unsafe.Pointer(&rec[0]))
		value := *(*int64)(unsafe.Pointer(&rec[8]))
		switch {
		case step == stepPID:
			pid = int(value)
		case step >= stepJoin && int(step-stepJoin) < len(joins):
			failed = fmt.Errorf("%s: %w", joins[step-stepJoin], syscall.Errno(value))
		default:
			failed = fmt.Errorf("%s: %w", f.stepName(step), syscall.Errno(value))
		}
	}
	for {
		if _, err := unix.Wait4(int(c1), &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	return int(c1), pid, ws, failed
}

func exitStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// forkJoin clones child 1 from the calling thread, with every signal
// blocked across clone(2), and returns its PID in the parent; the child
// never returns.
//
//go:norace
//go:nosplit
//go:nocheckptr
func forkJoin(f *userNSFork) (uintptr, syscall.Errno) {
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&f.sigAll)), uintptr(unsafe.Pointer(&f.sigOld)), 8, 0, 0)
	var pid uintptr
	var errno syscall.Errno
	if f.useCg {
		// clone3(2) with no stack: fork(2)'s semantics, on a copy.
		pid, _, errno = syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&f.clone3)), unsafe.Sizeof(f.clone3), 0)
	} else {
		pid, _, errno = syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	}
	if errno != 0 || pid != 0 {
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&f.sigOld)), 0, 8, 0, 0)
		return pid, errno
	}
	child1(f)
	return 0, 0 // not reached
}

// child1 joins the namespaces, becomes the user namespace's root, makes
// the read-only view (rootless), and forks child 2.
//
//go:norace
//go:nosplit
//go:nocheckptr
func child1(f *userNSFork) {
	for i := range f.joins {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, f.joins[i].fd, f.joins[i].flag, 0); e != 0 {
			childFail(f, int64(stepJoin+i), e)
		}
	}
	// Ids 0 of the user namespace (gid first: setresuid gives up the
	// right to change it), raw: this thread is the process. Without
	// this, a caller whose own id is unmapped there (host root in a
	// rootless container) would lose every capability at execve(2),
	// which keeps them for the namespace's uid 0 only (capabilities(7)).
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); e != 0 {
		childFail(f, stepSetresgid, e)
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		childFail(f, stepSetresuid, e)
	}
	if f.roView {
		if _, _, e := syscall.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWNS, 0, 0); e != 0 {
			childFail(f, stepUnshare, e)
		}
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, 0, uintptr(unsafe.Pointer(f.slash)), 0, unix.MS_REC|unix.MS_SLAVE, 0, 0); e != 0 {
			childFail(f, stepSlave, e)
		}
		bin := uintptr(unsafe.Pointer(f.bin))
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, bin, bin, 0, unix.MS_BIND, 0, 0); e != 0 {
			childFail(f, stepBind, e)
		}
		if _, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, 0, bin, 0, f.roFlags, 0, 0); e != 0 {
			childFail(f, stepRemount, e)
		}
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, 0, bin, unix.O_PATH|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			childFail(f, stepOpen, e)
		}
		// (bin is absolute: openat(2) ignores the dirfd.) Then above
		// every fd that moveFds writes.
		up, _, e := syscall.RawSyscall(unix.SYS_FCNTL, fd, unix.F_DUPFD_CLOEXEC, uintptr(f.nextfd))
		if e != 0 {
			childFail(f, stepOpen, e)
		}
		f.execFd, f.nextfd = int(up), int(up)+1
	}
	pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_PARENT|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		childFail(f, stepClone, e)
	}
	if pid != 0 {
		f.rec[0], f.rec[1] = stepPID, int64(pid)
		syscall.RawSyscall(unix.SYS_WRITE, uintptr(f.report), uintptr(unsafe.Pointer(&f.rec)), unsafe.Sizeof(f.rec))
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	child2(f)
}

// child2 starts a session, moves the fds into place, and execs the init.
//
//go:norace
//go:nosplit
//go:nocheckptr
func child2(f *userNSFork) {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
		childFail(f, stepSetsid, e)
	}
	moveFds(f)
	// runtime_AfterForkInChild's work: Go's handlers back to SIG_DFL
	// (execve(2) would do it too, but a signal could come before), then
	// the mask as it was.
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(unix.SIGKILL) || sig == uintptr(unix.SIGSTOP) {
			continue
		}
		f.sa = [4]uint64{}
		if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&f.sa)), 8, 0, 0); e != 0 {
			continue
		}
		if f.sa[0] > 1 { // neither SIG_DFL (0) nor SIG_IGN (1)
			f.sa = [4]uint64{}
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&f.sa)), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&f.sigOld)), 0, 8, 0, 0)
	_, _, e := syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(f.execFd), uintptr(unsafe.Pointer(f.empty)), uintptr(unsafe.Pointer(&f.argv[0])), uintptr(unsafe.Pointer(&f.envv[0])), unix.AT_EMPTY_PATH, 0)
	childFail(f, stepExecve, e)
}

// moveFds makes f.fds[i] fd i, as forkAndExecInChild1 does: first each
// fd that is below its place goes up, out of the way (f.nextfd is above
// every fd in the list and the report pipe), then each goes down to i.
//
//go:norace
//go:nosplit
func moveFds(f *userNSFork) {
	for i := range f.fds {
		if f.fds[i] >= 0 && f.fds[i] < i {
			if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(f.fds[i]), uintptr(f.nextfd), unix.O_CLOEXEC); e != 0 {
				childFail(f, stepDup, e)
			}
			f.fds[i] = f.nextfd
			f.nextfd++
		}
	}
	for i := range f.fds {
		switch {
		case f.fds[i] < 0:
			syscall.RawSyscall(unix.SYS_CLOSE, uintptr(i), 0, 0)
		case f.fds[i] == i:
			syscall.RawSyscall(unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0)
		default:
			if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(f.fds[i]), uintptr(i), 0); e != 0 {
				childFail(f, stepDup, e)
			}
		}
	}
}

// childFail reports a failed step on the pipe and ends the child.
//
//go:norace
//go:nosplit
func childFail(f *userNSFork, step int64, e syscall.Errno) {
	f.rec[0], f.rec[1] = step, int64(e)
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(f.report), uintptr(unsafe.Pointer(&f.rec)), unsafe.Sizeof(f.rec))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 126, 0, 0)
	}
}
