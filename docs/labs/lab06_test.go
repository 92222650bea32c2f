package labs

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func init() {
	checks := append(rootfsChecks("06"), []check{
		{"the command is PID 1", "CLONE_NEWPID in the child's Cloneflags (TODO 1): the first process of a new PID namespace is its PID 1",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "sh", "-c", "echo $$")
				if r.out != "1\n" {
					t.Errorf("sh -c 'echo $$': printed %q (stderr %q), want 1", r.out, firstLine(r.err))
				}
			}},
		{"ps sees only the container's processes", "the proc mounted by PID 1 of the new namespace shows that namespace (TODO 1); mount it after the clone, from the child",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "ps", "-o", "pid,comm")
				l := lines(r.out)
				if r.code != 0 || len(l) != 2 || strings.Fields(l[1])[0] != "1" {
					t.Errorf("ps -o pid,comm: exit %d, printed %d lines, %q...; want the header and one process, ps as PID 1", r.code, len(l), strings.Join(l[:min(len(l), 4)], "\n"))
				}
			}},
		{"the host sees another PID for it", "one process has one PID per PID namespace it is in: NSpid in /proc/PID/status (TODO 1)",
			func(t *testing.T, p *prog) {
				l := live06(t, p)
				if len(l.nspid) < 2 || l.nspid[len(l.nspid)-1] != "1" {
					t.Errorf("NSpid of the command, seen from the host: %q; want its host PID and then 1", l.nspid)
				}
			}},
		{"signals reach the command", "catch SIGTERM, SIGINT and SIGHUP (signal.Notify) and send each to the child (TODO 2): PID 1 gets only signals it has a handler for, and the command decides",
			func(t *testing.T, p *prog) {
				l := live06(t, p)
				if !strings.Contains(l.out, "got TERM") || l.code != 7 {
					t.Errorf("after SIGTERM to the program: exit %d, printed %q (stderr %q); the command's trap prints \"got TERM\" and exits 7", l.code, l.out, firstLine(l.err))
				}
			}},
		{"killed by a signal: exit 128+N", "when the command was killed by signal N, exit 128+N (TODO 3): WaitStatus.Signaled() and Signal()",
			func(t *testing.T, p *prog) {
				l := live06(t, p)
				if l.killedCode != 137 {
					t.Errorf("the command killed by SIGKILL: the program exited %d, want 137 (128+9)", l.killedCode)
				}
			}},
		{"no process outlives the command", "when PID 1 of a namespace exits, the kernel kills every other process in it (pid_namespaces(7)): without a PID namespace (TODO 1), a background process stays behind",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "sh", "-c", "/bin/busybox sleep 61 & exit 0")
				time.Sleep(100 * time.Millisecond)
				if left := findProcs("/bin/busybox\x00sleep\x0061\x00"); len(left) > 0 {
					for _, pid := range left {
						syscall.Kill(pid, syscall.SIGKILL)
					}
					t.Errorf("the command's background sleep (PID %v) outlived it (exit %d)", left, r.code)
				}
			}},
	}...)
	register(&lab{
		id: "06", dir: "06-pid1", title: "the container's PID 1: a PID namespace, signals, exit status",
		solutions: []string{"docs/labs/06-pid1/solution"},
		skeletonFails: []string{"the command is PID 1", "ps sees only the container's processes", "the host sees another PID for it",
			"signals reach the command", "killed by a signal: exit 128+N", "no process outlives the command"},
		checks: checks,
	})
}

type live06Result struct {
	nspid      []string
	out, err   string
	code       int // after SIGTERM
	killedCode int // after SIGKILL to the command
}

// live06 starts the program twice with a command that traps SIGTERM: it
// reads the command's NSpid from outside and sends SIGTERM to the
// program; then again, and SIGKILL to the command itself.
func live06(t *testing.T, p *prog) live06Result {
	return once(p, "live06", func() live06Result {
		var r live06Result
		script := `trap "echo got TERM; exit 7" TERM; echo ready; while :; do /bin/busybox sleep 1 & wait; done`
		start := func() (*exec.Cmd, int, *strings.Builder, *strings.Builder) {
			root := labRoot(t, p, false)
			cmd := exec.Command("sh", "-c", `mount --make-rprivate / && exec ./demo "$@"`, "sh", root, "/bin/busybox", "sh", "-c", script)
			cmd.Dir = p.Dir
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
			var out, errb strings.Builder
			ready := &watch{want: "ready\n", seen: make(chan struct{})}
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, ready), &errb
			// The skeleton's command outlives the program and holds the
			// pipe: Wait stops waiting for it this long after the exit.
			cmd.WaitDelay = 500 * time.Millisecond
			if err := cmd.Start(); err != nil {
				return nil, 0, &out, &errb
			}
			select {
			case <-ready.seen:
			case <-time.After(5 * time.Second):
			}
			child := 0
			if kids := childrenOf(cmd.Process.Pid); len(kids) > 0 {
				child = kids[0]
			}
			return cmd, child, &out, &errb
		}
		finish := func(cmd *exec.Cmd, child int) int {
			timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill(); syscall.Kill(child, syscall.SIGKILL) })
			defer timer.Stop()
			cmd.Wait()
			if child != 0 {
				syscall.Kill(child, syscall.SIGKILL) // the skeleton's command outlives it
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return cmd.ProcessState.ExitCode()
		}
		cmd, child, out, errb := start()
		if cmd == nil {
			return r
		}
		if child != 0 {
			r.nspid = nspid(child)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		r.code = finish(cmd, child)
		r.out, r.err = out.String(), errb.String()

		cmd, child, _, _ = start()
		if cmd == nil {
			return r
		}
		if child != 0 {
			syscall.Kill(child, syscall.SIGKILL)
		}
		r.killedCode = finish(cmd, child)
		return r
	})
}

// watch is a writer that closes seen once want has been written to it.
type watch struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
	done bool
}

func (w *watch) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(b), nil
}

// nspid is the NSpid line of /proc/PID/status: the process's PID in each
// PID namespace it is in, from the host's down.
func nspid(pid int) []string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range lines(string(data)) {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "NSpid:" {
			return f[1:]
		}
	}
	return nil
}

// findProcs lists the processes whose /proc/PID/cmdline is cmdline.
func findProcs(cmdline string) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if c, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline"); string(c) == cmdline {
			out = append(out, pid)
		}
	}
	return out
}
