package container

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/network"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// bundleInitEntry is the name the init of a bundle runs under: the
// re-executed minicontainer that is PID 1 in the Spec's namespaces until
// `start` lets it become the Spec's process.
const bundleInitEntry = "minicontainer-bundle-init"

func init() {
	reexec.Register(bundleInitEntry, bundleInitMain)
	if os.Args[0] == bundleInitEntry {
		// Everything the init sets per thread (setns, no_new_privs, the
		// credentials it execs with) must be on the thread that calls
		// execve(2): the main one, locked from package init on (see init.go).
		runtime.LockOSThread()
	}
}

// bundleInitMain is the container side of create, from clone(2) to the
// exec fifo, and after start, to execve(2). It returns (and exits) only
// on failure, after saying why.
func bundleInitMain() {
	t := timing.FromEnv("init") // first: its "before main" is the Go start-up
	runtime.LockOSThread()
	log := &syncLog{}
	x := explain.FromEnvTo(log, "[container] ")
	var bi bundleInit
	fds, eof, err := receive(bundleSyncFd, &bi)
	if eof {
		os.Exit(ExitSetup) // create died or gave up
	}
	if err != nil {
		log.fail(ExitSetup, fmt.Errorf("the container's init could not read its config: %w", err))
		os.Exit(ExitSetup)
	}
	bi.Spec = bi.LinuxSpec.Spec()
	if bi.Overlay != nil && bi.Overlay.IDMapped {
		bi.Overlay.LowerFDs = fds // the idmapped lower dirs (remap.go)
	}
	x.Note("the Spec arrived on fd %d: the host side is ready", bundleSyncFd)
	t.Mark("receive")
	code, err := bundleInitRun(bi, log, x, t)
	log.fail(code, err)
	os.Exit(code)
}

// bundleInitRun does the set-up, says "ready", waits for start, execs.
// t marks its steps (run --timing) and sends them before the exec.
func bundleInitRun(bi bundleInit, log *syncLog, x *explain.Narrator, t *timing.Timer) (int, error) {
	s := bi.Spec
	p := s.Process
	if o := bi.Overlay; o != nil && o.DiskScratch {
		// Root's --userns remap: the scratch dir, opened while this init
		// still has host root's ids (see rootfs.Overlay.OpenScratch).
		if err := o.OpenScratch(x); err != nil {
			return ExitSetup, err
		}
	}
	if userNS(s) {
		if err := enterUserNS(x); err != nil {
			return ExitSetup, err
		}
	}
	if bi.UnshareCgroupNS {
		if err := unshareCgroupNS(x); err != nil {
			return ExitSetup, err
		}
	}
	if s.Hostname != "" {
		err := unix.Sethostname([]byte(s.Hostname))
		x.Call("sethostname(2)", fmt.Sprintf("sethostname(%q, %d)", s.Hostname, len(s.Hostname)), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("hostname %q: %w", s.Hostname, err)
		}
	}
	if s.Domainname != "" {
		err := unix.Setdomainname([]byte(s.Domainname))
		x.Call("setdomainname(2)", fmt.Sprintf("setdomainname(%q, %d)", s.Domainname, len(s.Domainname)), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("domainname %q: %w", s.Domainname, err)
		}
	}
	// A new network namespace has only "lo", down; runc brings it up too.
	if bi.NetNS {
		if err := network.LoopbackUp(x); err != nil {
			return ExitSetup, err
		}
	}
	t.Mark("hostname, lo")
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	err := rootfs.SetupBundle(rootfs.Bundle{
		Root: bi.Root, ReadOnly: s.Root.Readonly, Mounts: bi.Mounts, Propagation: bi.Propagation,
		NoPivot: bi.NoPivot, Devices: s.Linux.Devices, CgroupMounts: bi.CgroupMounts, HostMountNS: bi.HostMountNS, BindDevices: userNS(s),
		BeforePivot: func() error { return initHooks(bi, "createContainer", x) },
		Cwd:         cwd, Overlay: bi.Overlay, Chroot: bi.Chroot, Timer: t,
	}, x)
	if err != nil {
		return ExitSetup, err
	}
	// The fifo is reopened below through /proc/self/fd, which needs a
	// proc file system on the container's /proc (runc needs it too), and so
	// do the sysctls and the masked and read-only paths (each is mounted
	// through its descriptor's /proc/self/fd link): check now, first, so
	// that a failure is create's and names /proc, not a start that finds
	// the container stopped or a mask that could not find its target.
	if err := unix.Access("/proc/self/fd/"+strconv.Itoa(bundleFifoFd), unix.F_OK); err != nil {
		return ExitSetup, fmt.Errorf("mounts: the container's /proc is not a proc file system (%v): a mount of type proc on /proc is needed to wait for start", err)
	}
	// sysctl(8) writes /proc/sys/KEY with dots as slashes (proc(5)): this
	// /proc is the container's, and the namespaced settings (net.*, the
	// ipc ones, kernel.hostname...) are the container's own.
	for k, v := range s.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		err := os.WriteFile(path, []byte(v), 0)
		x.Call("write(2)", fmt.Sprintf("write(%s, %q)", explain.Quote(path), v), nil, err)
		if err != nil {
			return ExitSetup, fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	// After the sysctls (/proc/sys is among Docker's read-only paths):
	// the read-only paths, then the masked ones, as runc orders them.
	if err := rootfs.ReadonlyPaths(s.Linux.ReadonlyPaths, x); err != nil {
		return ExitSetup, err
	}
	if err := rootfs.MaskPaths(s.Linux.MaskedPaths, x); err != nil {
		return ExitSetup, err
	}
	t.Mark("masked, read-only")
	filter, later, err := processLimits(p, s.Linux.Seccomp, x)
	if err != nil {
		return ExitSetup, err
	}
	t.Mark("seccomp compile")
	err = unix.Chdir(cwd)
	x.Call("chdir(2)", fmt.Sprintf("chdir(%q)", cwd), nil, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)
	}
	// create passes the master on to --console-socket, run to its console.
	// With --init the terminal is the command's, not PID 1's: the tiny
	// init gives it to the command as its controlling terminal.
	tty, err := processTerminal(p, bundleSyncFd, !bi.TinyInit, x)
	if err != nil {
		return ExitSetup, err
	}
	t.Mark("command lookup")
	// The process's identity and privileges, before "ready" so that a
	// failure is create's (runc's finalizeNamespace comes before its exec
	// fifo too); what is left after start needs none: the fifo is 0622.
	// Without no_new_privs the filter comes first (the init's last steps
	// then run under it), as runc does.
	if err := processPrivileges(p, filter, x, t); err != nil {
		return ExitSetup, err
	}
	t.Mark("user, capabilities")
	// Nothing but stdio and the preserved descriptors may reach the
	// process: everything from 3 up (the sync socket, the fifo, the
	// preserved ones where create passed them) is closed by the kernel at
	// execve(2); the preserved ones are dup3(2)'d back to 3.. without
	// close-on-exec after the fifo.
	if err := execvp.CloseOnExecFrom(bundleSyncFd, x); err != nil {
		return ExitSetup, err
	}
	fifo := "/proc/self/fd/" + strconv.Itoa(bundleFifoFd)
	x.Note("ready: wait for start in open(%s, O_WRONLY), which blocks until it opens the fifo to read", fifo)
	if _, err := send(bundleSyncFd, initMessage{Type: "ready"}); err != nil {
		return ExitSetup, err
	}
	t.Mark("ready")
	// create has gone: later lines go to stderr; run stays, reading.
	log.closed = !bi.Attached

	// Block until start opens the fifo for reading (fifo(7)); the O_PATH
	// descriptor create gave us is reopened through /proc/self/fd, since
	// the fifo's path is outside this root.
	w, err := unix.Open(fifo, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	x.Call("open(2)", fmt.Sprintf("open(%q, O_WRONLY|O_CLOEXEC)", fifo), w, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("exec fifo: %w", err)
	}
	n, err := unix.Write(w, []byte("0"))
	x.Call("write(2)", fmt.Sprintf("write(%d, \"0\", 1)", w), n, err)
	if err != nil {
		return ExitSetup, fmt.Errorf("exec fifo: %w", err)
	}
	unix.Close(w)
	t.Mark("wait for start")
	if err := initHooks(bi, "startContainer", x); err != nil {
		return ExitSetup, err
	}
	// The preserved descriptors, create's 3..3+N-1, back to their numbers
	// (without close-on-exec, as dup3(2) makes them).
	for i := 0; i < bi.PreserveFDs; i++ {
		if err := unix.Dup3(bundleFifoFd+1+i, 3+i, 0); err != nil {
			return ExitSetup, fmt.Errorf("--preserve-fds: %w", err)
		}
	}
	if err := lastLimits(later, x); err != nil {
		return ExitSetup, err
	}
	if err := seccompLast(p, filter, x); err != nil {
		return ExitSetup, err
	}
	if t != nil && bi.Attached {
		// The last message before the exec; run reads until then (a
		// create has gone: nobody would read it).
		t.Mark("last steps")
		send(bundleSyncFd, initMessage{Type: "timing", Phases: t.Phases()})
	}
	if bi.TinyInit {
		// PID 1 stays: nothing of the host's may stay open in it for the
		// container to find as /proc/1/fd/N (the fifo's is a path outside).
		unix.Close(bundleFifoFd)
		return tinyInit(path, p.Args, p.Env, tty, log, x)
	}
	x.Note("execve(%q, %q, [%d vars]): PID 1 becomes the process", path, p.Args, len(p.Env))
	err = unix.Exec(path, p.Args, p.Env)
	return execCode(err), fmt.Errorf("exec %q: %w", p.Args[0], err)
}

// setUser takes process.user's identity: supplementary groups first, then
// the gid, then the uid, which gives up root's privileges (credentials(7)).
// On this thread only, as the kernel keeps credentials (the C library's
// setuid(3) is what changes every thread): this locked thread is the one
// that execs, and execve(2) leaves only it, as it leaves its capabilities,
// no_new_privs and seccomp filter, set here too. Package syscall's
// Setuid, Setgid and Setgroups change every thread instead
// (AllThreadsSyscall: a stop of the world and a signal to each thread;
// under strace, a start made ~330 more system calls with them). With
// keepCaps (process.capabilities given), PR_SET_KEEPCAPS keeps the
// permitted set across the change to a non-zero uid, for caps.Apply to
// choose from (capabilities(7), "Effect of user ID changes").
func setUser(u specs.User, keepCaps bool, x *explain.Narrator) error {
	if keepCaps && u.UID != 0 {
		err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0)
		x.Call("prctl(2)", "prctl(PR_SET_KEEPCAPS, 1)", nil, err)
		if err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
	}
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if len(groups) == 0 && setgroupsDenied() {
		x.Note("setgroups(2) is denied in this user namespace (its gid map was written without newgidmap): the groups stay as they are")
	} else {
		err := unix.Setgroups(groups) // a raw setgroups(2): this thread only
		x.Call("setgroups(2)", fmt.Sprintf("setgroups(%d, %v)", len(groups), groups), nil, err)
		if err != nil {
			return fmt.Errorf("process.user.additionalGids: %w", err)
		}
	}
	// The raw system calls: 32-bit IDs on amd64 and arm64 (the 16-bit
	// setgid(2) is SYS_SETGID32's elder on 386 and arm only).
	err := rawErr(unix.RawSyscall(unix.SYS_SETGID, uintptr(u.GID), 0, 0))
	x.Call("setgid(2)", fmt.Sprintf("setgid(%d)", u.GID), nil, err)
	if err != nil {
		return fmt.Errorf("process.user.gid: %w", err)
	}
	err = rawErr(unix.RawSyscall(unix.SYS_SETUID, uintptr(u.UID), 0, 0))
	x.Call("setuid(2)", fmt.Sprintf("setuid(%d)", u.UID), nil, err)
	if err != nil {
		return fmt.Errorf("process.user.uid: %w", err)
	}
	return nil
}

// initHooks runs the hooks the init runs itself, in the container's
// namespaces, with the state on stdin (runtime-spec config.md, "POSIX-
// platform Hooks"): createContainer after the mounts and before
// pivot_root (their paths are the host's, as runc runs them),
// startContainer after start and before the process (paths inside).
func initHooks(bi bundleInit, kind string, x *explain.Narrator) error {
	if bi.Spec.Hooks == nil {
		return nil
	}
	hooks, status := bi.Spec.Hooks.CreateContainer, specs.StateCreating
	if kind == "startContainer" {
		hooks, status = bi.Spec.Hooks.StartContainer, specs.StateCreated
	}
	if len(hooks) == 0 {
		return nil
	}
	st := specs.State{Version: specs.Version, ID: bi.ID, Status: status, Pid: bi.Pid, Bundle: bi.Bundle, Annotations: bi.Spec.Annotations}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state, x); err != nil {
			return fmt.Errorf("%s hook %d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// rawErr is a raw system call's error, nil for 0.
func rawErr(_, _ uintptr, errno unix.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}
