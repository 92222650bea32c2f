package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/proc"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// ErrNotExist is the answer for an ID with no state dir; the words are
// runc's, which engines match.
var ErrNotExist = errors.New("container does not exist")

// execFifo is the fifo in the state dir the init blocks on (see bundle.go).
const execFifo = "exec.fifo"

// specFile is the Spec a container was created from, kept in its state
// dir: start, state and delete need its hooks and annotations, and the
// bundle's config.json may change after create (runtime-spec runtime.md).
const specFile = "config.json"

// CreateOptions are create's flags (runc's spelling).
type CreateOptions struct {
	Root          string // --root: the state root
	ID            string
	Bundle        string // --bundle
	PidFile       string // --pid-file
	ConsoleSocket string // --console-socket: a unix socket to send the pty master to
	NoPivot       bool   // --no-pivot
	PreserveFDs   int    // --preserve-fds: fds 3..3+N-1 of create go to the process
	Stdio         Stdio  // the init's stdio without a terminal: create's own
	// Narration is where the init's narrated lines go (-x, --debug);
	// nil means stderr.
	Narration io.Writer
	// foreground: `run --bundle`, which waits for the container in the
	// same process; the init dies with it (PR_SET_PDEATHSIG).
	foreground bool
}

// CheckID is runc's rule for container IDs: ^[\w+\-.]+$ (ASCII letters,
// digits, '_', '+', '-' and '.'), and not "." or "..". A loop, not a
// regexp compiled at package initialisation: every minicontainer process,
// the container's init included, initialises this package, and few check
// an ID.
func CheckID(id string) error {
	if id == "" || id == "." || id == ".." || strings.IndexFunc(id, notIDRune) >= 0 {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

func notIDRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_+-.", r))
}

// Create makes the container from the bundle and leaves its init blocked
// before execve(2), to its caller (runtime-spec runtime.md, "create").
func Create(o CreateOptions, x *explain.Narrator) error {
	_, err := createBundle(o, x)
	return err
}

func createBundle(o CreateOptions, x *explain.Narrator) (c *Container, err error) {
	if err := CheckID(o.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	s, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	rootless := os.Geteuid() != 0
	if rootless && !userNS(s) {
		return nil, errors.New("must run as root, or give the container a user namespace (linux.namespaces \"user\" with linux.uidMappings and gidMappings): creating namespaces and mounts needs CAP_SYS_ADMIN")
	}
	plan, err := planBundle(s, bundle, o.NoPivot)
	if err != nil {
		return nil, err
	}
	if err := checkUserNS(s); err != nil {
		return nil, err
	}
	if rootless {
		if err := checkRootlessRoot(o.Root); err != nil {
			return nil, err
		}
		if err := planRootless(plan, o.ID, x); err != nil {
			return nil, err
		}
	} else {
		if plan.cgroup, plan.cgroupName, err = planCgroup(s, o.ID); err != nil {
			return nil, err
		}
		if plan.devices, err = planDevices(s, plan.cgroup != nil); err != nil {
			return nil, err
		}
	}
	if s.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is true: --console-socket is needed to pass the terminal on")
	}
	if !s.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}
	c, err = createState(o, plan, x)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := c.cleanup(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	return c, c.createInit(o, plan)
}

// createState claims the ID under the state root's lock and writes the
// first state.json, which already names the cgroup.
func createState(o CreateOptions, plan *bundlePlan, x *explain.Narrator) (*Container, error) {
	unlock, err := lockStateRoot(o.Root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	self := os.Getpid()
	c := &Container{x: x, State: &State{
		Root: o.Root, ID: o.ID, Command: plan.spec.Process.Args, Created: time.Now().UTC(),
		Runtime: self, RuntimeStart: proc.StartTime(self),
		Bundle: plan.bundle, OCI: true, Annotations: plan.spec.Annotations, Foreground: o.foreground,
	}}
	if plan.cgroup != nil {
		c.State.Resources = append(c.State.Resources, plan.cgroup.resource(plan.cgroupName))
	}
	err = os.Mkdir(c.State.Dir(), 0o700)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%q, 0700)", c.State.Dir()), nil, err)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("container with id exists: %s", o.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	c.OnCleanup(func() error {
		x.Note("clean up: remove %s", c.State.Dir())
		return os.RemoveAll(c.State.Dir())
	})
	err = writeSpec(c.State.Dir(), plan.spec)
	if err == nil {
		err = c.State.save()
	}
	if err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

// bundleInit is what the init needs, sent once the host side is ready.
type bundleInit struct {
	Spec            *specs.Spec          `json:"-"`    // sent as LinuxSpec
	LinuxSpec       *spec.LinuxJSON      `json:"spec"` // Spec's Linux-only form: see spec.LinuxJSON
	Root            string               `json:"root"` // root.path, absolute
	NoPivot         bool                 `json:"no_pivot,omitempty"`
	NetNS           bool                 `json:"netns,omitempty"`
	UnshareCgroupNS bool                 `json:"unshare_cgroupns,omitempty"`
	CgroupMounts    []rootfs.Mount       `json:"cgroup_mounts,omitempty"`
	PreserveFDs     int                  `json:"preserve_fds,omitempty"`
	Mounts          []rootfs.BundleMount `json:"mounts,omitempty"` // the Spec's, options read
	Propagation     uintptr              `json:"propagation,omitempty"`
	HostMountNS     bool                 `json:"host_mountns,omitempty"` // no mount namespace: see bindHostRoot
	// For the startContainer hooks' state.
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Bundle string `json:"bundle"`
	// What `run` adds (pkg/spec's org.minicontainer.* annotations, which
	// a bundle's create ignores): its overlay, --chroot, --init.
	Overlay  *rootfs.Overlay `json:"overlay,omitempty"`
	Chroot   bool            `json:"chroot,omitempty"`
	TinyInit bool            `json:"tiny_init,omitempty"`
	// Attached: run reads the sync socket until the process execs, so
	// the narration after "ready" comes in order on it, not on stderr.
	Attached bool `json:"attached,omitempty"`
}

// The fds of the bundle init: the sync socket, the exec fifo (O_PATH),
// then the preserved ones, which it moves down to 3.. just before execve.
const (
	bundleSyncFd = 3
	bundleFifoFd = 4
)

// createInit makes the cgroup and the fifo, starts the init, runs the
// host steps and hooks, and waits for the init's "ready".
func (c *Container) createInit(o CreateOptions, plan *bundlePlan) error {
	x := c.x
	s := plan.spec
	if err := c.setupCgroup(plan.cgroup, plan.cgroupName, plan.devices); err != nil {
		return err
	}
	if plan.hostMounts {
		if err := c.bindHostRoot(plan.root); err != nil {
			return err
		}
	}
	fifoFile, err := c.makeExecFifo()
	if err != nil {
		return err
	}
	defer fifoFile.Close()
	sock, initEnd, err := syncSocket(x)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	files := []*os.File{initEnd, fifoFile}
	for i := 0; i < o.PreserveFDs; i++ {
		files = append(files, os.NewFile(uintptr(3+i), "preserved"))
	}
	// No relay: the init gets create's own stdio (podman's conmon and
	// containerd's shim hand fifos or pipes over and read them
	// themselves), and with a terminal the pty replaces it inside.
	cmd, unshareCgroupNS, closeCgroupFD, err := c.initCommand(plan, files, [3]*os.File{o.Stdio.In, o.Stdio.Out, o.Stdio.Err}, o.foreground)
	if err != nil {
		initEnd.Close()
		return err
	}
	pid, err := c.cloneJoined(cmd, plan.joins, o.foreground)
	initEnd.Close()
	closeCgroupFD()
	if err != nil {
		return fmt.Errorf("starting the container init: %w", err)
	}
	if err := c.recordInit(pid); err != nil {
		return err
	}
	if userNS(s) {
		if err := writeIDMaps(pid, s, x); err != nil {
			return err
		}
	}
	if err := c.runHostSteps(); err != nil {
		return err
	}
	if adj := s.Process.OOMScoreAdj; adj != nil {
		// Written from here, for the init: it lasts through execve(2),
		// and lowering it needs CAP_SYS_RESOURCE, which a process.user
		// other than root would not have (proc(5), oom_score_adj).
		path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
		err := os.WriteFile(path, []byte(strconv.Itoa(*adj)), 0)
		x.Call("write(2)", fmt.Sprintf("write(%s, %q)", path, strconv.Itoa(*adj)), nil, err)
		if err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	if err := runHooks(c, s, "createRuntime", x); err != nil {
		return err
	}
	bi := c.bundleInit(o, plan, unshareCgroupNS)
	if err := c.sendInit(sock, bi); err != nil {
		return c.initDied(err)
	}
	narration := o.Narration
	if narration == nil {
		narration = os.Stderr
	}
	err = c.awaitInit(sock, false, initEvents{log: narration, died: c.initDied,
		pty: func(master int) error {
			defer unix.Close(master)
			return sendConsole(o.ConsoleSocket, master, x)
		}})
	if err != nil {
		return err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid, x); err != nil {
			return err
		}
	}
	c.State.Ready = true
	if err := c.State.save(); err != nil {
		return err
	}
	if o.foreground {
		return nil // RunBundle waits for it, then deletes
	}
	// From here the init is the caller's: create's undo stack is dropped.
	c.undos = nil
	cmd.Process.Release()
	x.Note("created: init %d waits in open(%s, O_WRONLY) for `start`", pid, filepath.Join(c.State.Dir(), execFifo))
	return nil
}

// bundleInit is the message that tells the init its Spec and how the
// host laid things out for it.
func (c *Container) bundleInit(o CreateOptions, plan *bundlePlan, unshareCgroupNS bool) bundleInit {
	var cgroupMounts []rootfs.Mount
	if plan.cgroup != nil {
		for _, m := range plan.cgroup.host.ContainerMounts() {
			cgroupMounts = append(cgroupMounts, rootfs.Mount{Source: m.Source, Target: m.Target, FSType: m.FSType, Flags: m.Flags, Data: m.Data})
		}
	}
	return bundleInit{Spec: plan.spec, Root: plan.root, NoPivot: plan.noPivot, NetNS: plan.netNS,
		UnshareCgroupNS: unshareCgroupNS, CgroupMounts: cgroupMounts, PreserveFDs: o.PreserveFDs,
		ID: c.State.ID, Pid: c.State.Pid, Bundle: plan.bundle, Mounts: plan.mounts, Propagation: plan.propagation,
		HostMountNS: plan.hostMounts}
}

// cloneJoined starts the init from a thread of its own that first joins
// the namespaces the Spec gives by path (setns(2) changes the calling
// thread only, and clone(2) copies the thread's namespaces; a pid
// namespace joined so is the one the child is born in). The thread is
// never unlocked: Go ends it with its goroutine, and the joins with it.
// With wait (run --bundle, whose init has PR_SET_PDEATHSIG, which fires
// when the cloning THREAD exits, prctl(2)) the goroutine stays on its
// thread until the init has exited, and reports it on c.exited.
func (c *Container) cloneJoined(ec *execCmd, joins []nsJoin, wait bool) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	if wait {
		c.exited = make(chan struct{})
	}
	go func() {
		runtime.LockOSThread()
		for _, j := range joins {
			err := ns.JoinPath(j.path, j.kind)
			c.x.Call("setns(2)", fmt.Sprintf("setns(open(%q), %s)", j.path, j.kind.Const), nil, err)
			if err != nil {
				done <- result{0, fmt.Errorf("linux.namespaces: join %s: %w", j.path, err)}
				return
			}
		}
		err := ec.Start()
		pid := 0
		if err == nil {
			pid = ec.Process.Pid
		}
		attr := ec.SysProcAttr
		if attr.UseCgroupFD {
			c.x.Call("clone3(2)", fmt.Sprintf("clone3({flags=%s|CLONE_INTO_CGROUP, cgroup=%d<%s>, exit_signal=SIGCHLD})",
				ns.FlagString(uintptr(attr.Cloneflags)), attr.CgroupFD, c.cgroup.Paths()[0]), pid, err)
		} else {
			c.x.Call("clone(2)", fmt.Sprintf("clone(%s|SIGCHLD)", ns.FlagString(uintptr(attr.Cloneflags))), pid, err)
		}
		if err != nil && wait {
			close(c.exited)
		}
		done <- result{pid, err}
		if wait && err == nil {
			ec.Wait()
			close(c.exited)
		}
	}()
	r := <-done
	return r.pid, r.err
}

// initDied says why the init ended before it was ready.
func (c *Container) initDied(cause error) error {
	if cause != nil && !errors.Is(cause, unix.EPIPE) && !errors.Is(cause, unix.ECONNRESET) {
		return cause
	}
	cmd := c.initCmd
	c.waitInit()
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return fmt.Errorf("the container's init was killed by %s during set-up", unix.SignalName(st.Signal()))
	}
	return fmt.Errorf("the container's init exited during set-up (status %d)", cmd.ProcessState.ExitCode())
}

// sendConsole passes the pty master to the --console-socket as runc does:
// connect(2) to the unix socket, one sendmsg(2) whose data is the
// master's name and whose SCM_RIGHTS carry it (unix(7)); podman's conmon
// and containerd's shim receive it so.
func sendConsole(path string, master int, x *explain.Narrator) error {
	conn, err := net.Dial("unix", path)
	x.Call("connect(2)", fmt.Sprintf("connect(AF_UNIX, %q)", path), nil, err)
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	_, _, err = uc.WriteMsgUnix([]byte("/dev/ptmx"), unix.UnixRights(master), nil)
	x.Call("sendmsg(2)", fmt.Sprintf("sendmsg(%q, \"/dev/ptmx\", SCM_RIGHTS [%d])", path, master), nil, err)
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	return nil
}

// writePidFile writes the init's host PID, atomically (temp file and
// rename(2)), as runc does: a reader never sees an empty file.
func writePidFile(path string, pid int, x *explain.Narrator) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs))
	err = os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644)
	if err == nil {
		err = os.Rename(tmp, abs)
	}
	x.Call("rename(2)", fmt.Sprintf("write %d to %q, rename(2) to %q", pid, tmp, abs), nil, err)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

// load reads a container's state.json; ErrNotExist when there is none.
func load(root, id string) (*State, error) {
	if CheckID(id) != nil {
		return nil, ErrNotExist
	}
	s := &State{Root: root, ID: id}
	data, err := os.ReadFile(filepath.Join(s.Dir(), "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("state of %s: %w", id, err)
	}
	s.Root, s.ID = root, id
	return s, nil
}

// savedSpec is the Spec the container was created from. writeSpec wrote
// a Spec that Validate accepted, which sets no other platform's section:
// it is read in the Linux-only form (spec.LinuxJSON, a cheaper cold
// decode).
func (s *State) savedSpec() (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir(), specFile))
	if err != nil {
		return nil, err
	}
	var sp spec.LinuxJSON
	err = json.Unmarshal(data, &sp)
	return sp.Spec(), err
}

// ociStatus is the runtime-spec status of a container made by create:
// "creating" until its init is ready, "created" while the init waits on
// the exec fifo, "running" once it is gone, "stopped" when the init has
// exited (a zombie counts as exited: proc.Alive).
func (s *State) ociStatus() specs.ContainerState {
	switch {
	case s.Pid == 0 || !s.Ready && proc.Alive(s.Pid, s.PidStart):
		return specs.StateCreating
	case !proc.Alive(s.Pid, s.PidStart):
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(s.Dir(), execFifo)); err == nil {
		return specs.StateCreated
	}
	return specs.StateRunning
}

// OCIState returns the runtime-spec state of a container (runtime.md,
// "State"): ociVersion, id, status, pid (0 once stopped), bundle,
// annotations.
func OCIState(root, id string) (*specs.State, error) {
	s, err := load(root, id)
	if err != nil {
		return nil, err
	}
	return s.specState(), nil
}

func (s *State) specState() *specs.State {
	st := &specs.State{Version: specs.Version, ID: s.ID, Status: s.ociStatus(), Bundle: s.Bundle, Annotations: s.Annotations}
	if st.Status != specs.StateStopped {
		st.Pid = s.Pid
	}
	if !s.OCI {
		st.Status = specs.ContainerState(s.Status())
	}
	return st
}

// Start lets a created container's init exec the process.
func Start(root, id string, x *explain.Narrator) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	switch st := s.ociStatus(); {
	case !s.OCI:
		return fmt.Errorf("container %s was not made by create", id)
	case st == specs.StateStopped:
		return errors.New("cannot start a container that has stopped")
	case st == specs.StateRunning:
		return errors.New("cannot start an already running container")
	case st != specs.StateCreated:
		return fmt.Errorf("cannot start a container in the %s state", st)
	}
	if err := openExecFifo(s, x); err != nil {
		return err
	}
	x.Note("started: init %d execs the process", s.Pid)
	sp, err := s.savedSpec()
	if err != nil {
		return err
	}
	// poststart hooks: a failure is logged, the container keeps running
	// (runtime-spec config.md, "Poststart").
	if err := runHooks(&Container{State: s, x: x}, sp, "poststart", x); err != nil {
		fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process
// in its cgroup.
func Kill(root, id string, sig unix.Signal, all bool, x *explain.Narrator) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	st := s.ociStatus()
	if st == specs.StateStopped && !all {
		return errors.New("container not running")
	}
	if all {
		if cg := openCgroup(s); cg != nil {
			pids, err := cg.Procs()
			if err != nil {
				return err
			}
			for _, p := range pids {
				err := unix.Kill(p, sig)
				x.Call("kill(2)", fmt.Sprintf("kill(%d, %s)", p, unix.SignalName(sig)), nil, err)
			}
			return nil
		}
		if st == specs.StateStopped {
			return nil
		}
	}
	// The pidfd holds the init itself: a recycled PID is never signalled.
	pfd, err := unix.PidfdOpen(s.Pid, 0)
	if err != nil {
		return errors.New("container not running")
	}
	defer unix.Close(pfd)
	if !proc.Alive(s.Pid, s.PidStart) {
		return errors.New("container not running")
	}
	err = unix.PidfdSendSignal(pfd, sig, nil, 0)
	x.Call("pidfd_send_signal(2)", fmt.Sprintf("pidfd_send_signal(pidfd_open(%d), %s)", s.Pid, unix.SignalName(sig)), nil, err)
	return err
}

// openCgroup opens the cgroup recorded in state.json, nil if none.
func openCgroup(s *State) cgroup.Cgroup {
	for _, r := range s.Resources {
		if r.Kind == "cgroup" {
			if cg, err := openRecorded(r.Name); err == nil {
				return cg
			}
		}
	}
	return nil
}

// Delete removes a stopped (or, with force, any) container: its
// processes, the poststop hooks, the cgroup, the state dir.
func Delete(root, id string, force bool, x *explain.Narrator) error {
	s, err := load(root, id)
	if err != nil {
		return err
	}
	st := s.ociStatus()
	if s.OCI && (st == specs.StateRunning || st == specs.StateCreating && s.Ready) && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st)
	}
	if st := s.Status(); !s.OCI && st != "dead" && st != "exited" && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, s.Status())
	}
	// A created container is deleted without --force, as runc does: its
	// process never ran.
	if proc.Alive(s.Pid, s.PidStart) {
		x.Note("kill the init %d and everything in its namespace", s.Pid)
		if err := unix.Kill(s.Pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return err
		}
		for i := 0; i < 500 && proc.Alive(s.Pid, s.PidStart); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	sp, _ := s.savedSpec()
	for i := len(s.Resources) - 1; i >= 0; i-- {
		x.Note("remove %s %s", s.Resources[i].Kind, s.Resources[i].Name)
	}
	x.Note("remove the state dir %s", s.Dir())
	if err := reclaim(s); err != nil {
		return err
	}
	if sp != nil {
		if err := runHooks(&Container{State: s, x: x}, sp, "poststop", x); err != nil {
			fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
		}
	}
	x.Note("deleted %s", id)
	return nil
}

// ParseSignal takes a signal as kill(1) does: a number, or a name with or
// without SIG.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// execCmd is os/exec's Cmd (an alias keeps the signatures short).
type execCmd = exec.Cmd

// RunBundle runs a bundle in the foreground, as `run` runs its flags:
// create, start, wait and delete in one process. The init dies with
// minicontainer (PR_SET_PDEATHSIG), signals are passed on to it, and the
// exit code is the process's (128+N when signal N killed it).
func RunBundle(root, bundle string, stdio Stdio, x *explain.Narrator) (int, error) {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, forwardedSignals...)
	defer signal.Stop(signals)
	id, err := newID()
	if err != nil {
		return ExitSetup, err
	}
	c, err := createBundle(CreateOptions{Root: root, ID: id, Bundle: bundle, Stdio: stdio, foreground: true}, x)
	if err != nil {
		return ExitSetup, err
	}
	defer func() {
		if err := Delete(root, id, true, x); err != nil {
			fmt.Fprintf(stdio.Err, "minicontainer: %v\n", err)
		}
	}()
	if err := Start(root, id, x); err != nil {
		return ExitSetup, err
	}
	pid := c.State.Pid
	for {
		select {
		case sig := <-signals:
			// Through os.Process (a pidfd): never a recycled PID.
			err := c.initCmd.Process.Signal(sig)
			x.Call("kill(2)", fmt.Sprintf("kill(%d, %s)", pid, unix.SignalName(sig.(syscall.Signal))), nil, err)
		case <-c.exited:
			status, _ := c.initCmd.ProcessState.Sys().(syscall.WaitStatus)
			x.Call("wait4(2)", fmt.Sprintf("wait4(%d, {%s})", pid, waitString(status)), pid, nil)
			return execvp.ExitStatus(c.initCmd.ProcessState), nil
		}
	}
}
