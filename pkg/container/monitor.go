package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/execvp"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// The monitor is what owns a detached container (run -d): conmon's role
// for podman, containerd-shim's for containerd. A container needs a
// parent that outlives the command line that made it: someone must hold
// the other ends of its stdout and stderr (else its first write gets
// EPIPE, or SIGPIPE), wait(2) for its init (else the exit status is lost
// and the init stays a zombie), and undo its cgroup, network and mounts
// when it ends. The CLI cannot: it returns at once, and its terminal may
// close. So the CLI re-executes minicontainer as the monitor, in a session
// of its own, and the monitor runs the container exactly as a foreground
// run does (Run), with pipes (or a pseudo-terminal, -dit) instead of the
// caller's terminal.
//
// When the monitor is SIGKILLed the container dies with it: the init has
// PR_SET_PDEATHSIG=SIGKILL from the monitor's thread (run.go, launch), and
// killing a PID namespace's init kills every process in it
// (pid_namespaces(7)); the state stays "dead" and gc reclaims it. podman
// chose the other way: conmon is the parent, but the container outlives a
// killed conmon, untracked (nobody waits for it, its output goes nowhere,
// its exit status is lost, nothing cleans up after it). Here a container
// always has an owner who will clean up, or it does not exist: the same
// rule as for a foreground run, and one gc can enforce without guessing.

// monitorEntry is the argv[0] the monitor runs under (reexec).
const monitorEntry = "minicontainer-monitor"

// The monitor's extra descriptors: where it reports to the CLI, and
// where it narrates (-x) until the command runs.
const (
	monitorReportFd    = 3
	monitorNarrationFd = 4
)

// LogsDir holds each detached container's log, ID-json.log, on disk as
// docker's /var/lib/docker/containers/ID/ID-json.log (/run is memory).
const LogsDir = ContainersDir

func init() {
	reexec.Register(monitorEntry, monitorMain)
}

// monitorRequest is what the CLI sends the monitor on its stdin.
type monitorRequest struct {
	Config  Config
	Flags   spec.RunFlags // for the saved config.json (see saveRunSpec)
	Remove  bool          // --rm
	Explain bool
}

// monitorReport is the monitor's one answer to the CLI: the ID once the
// command runs, or why it did not (Code is run's exit code then).
type monitorReport struct {
	ID    string `json:"id,omitempty"`
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// RunDetached starts cfg under a monitor and returns the container's ID
// once its command runs, as `docker run -d` does. The monitor outlives
// this process. code and err are Run's when the container did not start.
func RunDetached(cfg Config, flags spec.RunFlags, remove bool, x *explain.Narrator) (id string, code int, err error) {
	req, err := json.Marshal(monitorRequest{Config: cfg, Flags: flags, Remove: remove, Explain: x.Enabled()})
	if err != nil {
		return "", ExitSetup, err
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return "", ExitSetup, fmt.Errorf("pipe: %w", err)
	}
	defer reportR.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		reportW.Close()
		return "", ExitSetup, fmt.Errorf("pipe: %w", err)
	}
	// Every descriptor this process inherited without close-on-exec (a
	// shell's, a test harness's pipe) would stay open in the monitor for
	// the container's whole life: whoever waits for its end of file
	// would wait that long. Marked here, closed at the monitor's execve.
	if err := execvp.CloseOnExecFrom(3, x); err != nil {
		reportW.Close()
		reqR.Close()
		reqW.Close()
		return "", ExitSetup, err
	}
	cmd := reexec.Command(monitorEntry)
	// Nothing of the caller's stays open in the monitor: not its stdout
	// (a `$(minicontainer run -d ...)` would wait for its end of file as
	// long as the container runs), nor its terminal (the monitor must
	// outlive it). Only stderr, for the narration until the command
	// runs, is passed as fd 4, and closed then.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = reqR, nil, nil
	cmd.ExtraFiles = []*os.File{reportW}
	if x.Enabled() {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.Stderr)
	}
	// setsid(2): a session and process group of its own, without a
	// controlling terminal: the SIGHUP of a closing terminal and the ^C
	// of the caller's shell reach the caller's process group, not it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	x.Call("clone(2)", fmt.Sprintf("fork+execve(%q, [%q]) with setsid(): the monitor", reexec.Self, monitorEntry), pidOf(cmd.Process), err)
	reqR.Close()
	reportW.Close()
	if err != nil {
		reqW.Close()
		return "", ExitSetup, fmt.Errorf("starting the monitor: %w", err)
	}
	go func() { reqW.Write(req); reqW.Close() }()
	// Not waited for: once we exit, the monitor is reparented (to init,
	// or the nearest subreaper, prctl(2)), which reaps it.
	cmd.Process.Release()
	var rep monitorReport
	if err := json.NewDecoder(reportR).Decode(&rep); err != nil {
		return "", ExitSetup, fmt.Errorf("the monitor ended without a report (%v)", err)
	}
	if rep.Error != "" {
		if rep.Code == 0 {
			rep.Code = ExitSetup
		}
		return "", rep.Code, errors.New(rep.Error)
	}
	return rep.ID, 0, nil
}

func pidOf(p *os.Process) int {
	if p == nil {
		return 0
	}
	return p.Pid
}

// monitorMain is the monitor: it reads its request, runs the container
// and records its end.
func monitorMain() {
	report := os.NewFile(monitorReportFd, "report")
	var req monitorRequest
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		json.NewEncoder(report).Encode(monitorReport{Code: ExitSetup, Error: "monitor: reading the request: " + err.Error()})
		os.Exit(ExitSetup)
	}
	narration := &switchWriter{}
	if req.Explain {
		narration.w = os.NewFile(monitorNarrationFd, "narration")
	}
	x := explain.New(narration, req.Explain)
	code := monitor(req, report, narration, x)
	os.Exit(code)
}

// monitor runs the container and returns the monitor's exit status (the
// container's).
func monitor(req monitorRequest, report *os.File, narration *switchWriter, x *explain.Narrator) int {
	// PR_SET_CHILD_SUBREAPER: a process below the monitor that loses its
	// parent is reparented to the monitor, not to the host's init
	// (prctl(2)): whatever the container's init leaves behind stays
	// within reach of the one who cleans up after it (conmon and
	// containerd-shim set it for the same reason).
	err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	x.Call("prctl(2)", "prctl(PR_SET_CHILD_SUBREAPER, 1)", nil, err)
	fail := func(code int, err error) int {
		json.NewEncoder(report).Encode(monitorReport{Code: code, Error: err.Error()})
		report.Close()
		return code
	}
	if err != nil {
		return fail(ExitSetup, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err))
	}
	cfg := req.Config
	out, err := newMonitorStdio(cfg)
	if err != nil {
		return fail(ExitSetup, err)
	}
	log := &jsonLog{}
	var copies sync.WaitGroup
	for _, s := range out.streams {
		copies.Add(1)
		go func() { defer copies.Done(); log.copy(s.name, s.r) }()
	}
	var started *State
	cfg.Detached = &Detached{Running: func(s *State) error {
		dir, err := containersDir() // LogsDir, or a rootless user's own
		if err != nil {
			return err
		}
		if err := log.open(filepath.Join(dir, s.ID+"-json.log")); err != nil {
			return err
		}
		s.LogPath, s.Started = log.path, time.Now().UTC()
		s.Resources = append(s.Resources, Resource{Kind: "file", Name: log.path})
		if err := saveRunSpec(s, req.Flags); err != nil {
			return err
		}
		if err := s.save(); err != nil {
			return err
		}
		x.Note("container %s runs: its output goes to %s; the CLI may go", s.ID, log.path)
		started = s
		json.NewEncoder(report).Encode(monitorReport{ID: s.ID})
		report.Close()
		narration.off() // the caller's stderr: closed, the CLI is gone
		return nil
	}}
	code, runErr := Run(cfg, out.stdio, x)
	out.close()
	if started == nil {
		// Run undid the rest; the log, if the hook made it, is ours.
		log.discard()
		copies.Wait()
		log.close()
		if log.path != "" {
			os.Remove(log.path)
		}
		if runErr == nil {
			runErr = errors.New("the container ended before its command ran")
		}
		return fail(code, runErr)
	}
	copies.Wait()
	if runErr != nil {
		log.write("stderr", []byte("minicontainer: "+runErr.Error()+"\n"))
	}
	log.close()
	if err := recordExit(started, code, req.Remove); err != nil {
		return ExitSetup
	}
	return code
}

// recordExit writes the end into the state: exited, kept until rm. With
// --rm it then removes what is left (the log and the state dir), once
// every `wait` that holds the state dir (a shared flock(2), see Wait)
// has read the exit code. Under the state root's lock: an `rm` or a `run
// --name` reading the state meanwhile sees it before or after, never half.
func recordExit(s *State, code int, remove bool) error {
	unlock, err := lockStateRoot(s.Root)
	if err != nil {
		return err
	}
	s.Finished, s.ExitCode = time.Now().UTC(), code
	// Run undid the rest; what a later rm removes is the log (and the
	// state dir itself).
	s.Resources = []Resource{{Kind: "file", Name: s.LogPath}}
	err = s.save()
	unlock()
	if err != nil || !remove {
		return err
	}
	if fd, err := unix.Open(s.Dir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Flock(fd, unix.LOCK_EX) // the waiters are done
		defer unix.Close(fd)
	}
	if unlock, err = lockStateRoot(s.Root); err != nil {
		return err
	}
	defer unlock()
	return reclaim(s)
}

// saveRunSpec writes the Spec of run's flags as the state's config.json,
// unless Run saved one already: exec starts from its process (env, cwd,
// user), inspect reports it.
func saveRunSpec(s *State, f spec.RunFlags) error {
	path := filepath.Join(s.Dir(), specFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if f.Rootfs == "" {
		f.Rootfs, _ = builtinLayer() // made by Run before the monitor starts
	}
	sp, err := spec.FromRun(f, os.LookupEnv)
	if err != nil {
		return err
	}
	data, err := spec.MarshalIndent(sp, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// monitorStdio is the container's stdio under the monitor, and the read
// ends the log copies from.
type monitorStdio struct {
	stdio   Stdio
	streams []struct {
		name string
		r    *os.File
	}
	hold []*os.File // closed once Run returns
}

// newMonitorStdio makes the container's stdio: two pipes for stdout and
// stderr (a pseudo-terminal with -t: one stream, as a terminal has), and
// for stdin /dev/null, or with -i a pipe the monitor holds open (so that
// a `cat` waits for input, as under docker run -di, instead of reading
// end of file).
func newMonitorStdio(cfg Config) (*monitorStdio, error) {
	m := &monitorStdio{}
	add := func(name string, r *os.File) {
		m.streams = append(m.streams, struct {
			name string
			r    *os.File
		}{name, r})
	}
	if cfg.TTY {
		master, blocking, err := openPTY(nil, explain.New(nil, false))
		if err != nil {
			return nil, err
		}
		// Run's console reads its stdin (this slave) in a goroutine that
		// stays in read(2) after the container ended. A blocking read
		// holds the file open past close(2), and the master would never
		// see the end (EIO once no slave is open): in non-blocking mode
		// the file is in Go's poller, and close interrupts the read.
		slave, err := nonBlocking(blocking)
		if err != nil {
			master.Close()
			return nil, err
		}
		m.stdio = Stdio{In: slave, Out: slave, Err: slave}
		m.hold = []*os.File{slave}
		add("stdout", master)
		return m, nil
	}
	var err error
	if cfg.Interactive {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		m.stdio.In, m.hold = r, append(m.hold, r, w)
	} else if m.stdio.In, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	for _, name := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		if name == "stdout" {
			m.stdio.Out = w
		} else {
			m.stdio.Err = w
		}
		m.hold = append(m.hold, w)
		add(name, r)
	}
	return m, nil
}

// nonBlocking returns f as a file in Go's poller (O_NONBLOCK), closing f.
func nonBlocking(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func (m *monitorStdio) close() {
	for _, f := range m.hold {
		f.Close()
	}
	if m.stdio.In != nil {
		m.stdio.In.Close()
	}
}

// jsonLog is Docker's json-file log: one JSON object per line of output,
// {"log":"the line\n","stream":"stdout","time":"RFC 3339, ns"}; a line
// longer than 16 KiB, or the end of output without a newline, is a record
// without "\n", as Docker splits it.
type jsonLog struct {
	mu    sync.Mutex
	f     *os.File
	path  string
	ready chan struct{} // closed once the file is open (or discarded)
	once  sync.Once
}

const logLineMax = 16 << 10

func (l *jsonLog) init() {
	l.once.Do(func() { l.ready = make(chan struct{}) })
}

func (l *jsonLog) open(path string) error {
	l.init()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	l.f, l.path = f, path
	close(l.ready)
	return nil
}

func (l *jsonLog) discard() {
	l.init()
	select {
	case <-l.ready:
	default:
		close(l.ready)
	}
}

func (l *jsonLog) close() {
	if l.f != nil {
		l.f.Close()
	}
}

// copy reads one stream until its end of file (or EIO: a pseudo-terminal
// whose every slave is closed) and logs it line by line. Until the file
// is open it does not read: the pipe holds the output meanwhile (and Run
// holds the command's output back until it runs anyway).
func (l *jsonLog) copy(stream string, r *os.File) {
	l.init()
	defer r.Close()
	<-l.ready
	buf := make([]byte, 32<<10)
	var line []byte
	for {
		n, err := r.Read(buf)
		line = append(line, buf[:n]...)
		for {
			i := indexByte(line, '\n')
			if i < 0 && len(line) < logLineMax {
				break
			}
			end := i + 1
			if i < 0 || end > logLineMax {
				end = logLineMax
			}
			l.write(stream, line[:end])
			line = line[end:]
		}
		if err != nil {
			if len(line) > 0 {
				l.write(stream, line)
			}
			return
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, v := range b {
		if v == c {
			return i
		}
	}
	return -1
}

// logEntry is one line of the json-file log, Docker's field names.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (l *jsonLog) write(stream string, p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	data, _ := json.Marshal(logEntry{Log: string(p), Stream: stream, Time: time.Now().UTC()})
	l.f.Write(append(data, '\n'))
}

// switchWriter writes to w until off, then nowhere: the monitor narrates
// to the caller's stderr only while the caller waits.
type switchWriter struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *switchWriter) off() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

// removeFile reclaims a "file" resource (a detached container's log).
func removeFile(r Resource) error {
	if err := os.Remove(r.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
