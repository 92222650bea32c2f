package engines

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pseudo-terminal the test types into, as a user at a
// terminal would (pty(7)): a command started on it sees a terminal on its
// stdin, stdout and stderr, its controlling terminal, and everything it
// writes is collected from the master side.
type terminal struct {
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{} // closed when reading the master ends (EIO: no slave left open)
}

// startOnTerminal starts cmd in a new session whose controlling terminal is
// the slave of a new pseudo-terminal, 80x24.
func startOnTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	// ptmx(4): open the master, unlock the slave, ask its number, open it.
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	master := os.NewFile(uintptr(m), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	unix.IoctlSetWinsize(m, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty slave: %v", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// setsid, then TIOCSCTTY on fd 0 in the child (credentials(7)).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	slave.Close() // the child has it: when it and its own children exit, the master reads EIO
	term := &terminal{master: master, closed: make(chan struct{})}
	go func() {
		defer close(term.closed)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

// output is everything read from the terminal so far.
func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the output holds s, and gives up when the terminal
// is closed (the command exited) without it.
func (term *terminal) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(term.output(), s); time.Sleep(20 * time.Millisecond) {
		select {
		case <-term.closed:
			if !strings.Contains(term.output(), s) {
				t.Fatalf("no %q on the terminal before it closed; it shows %q", s, term.output())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal after %v; it shows %q", s, timeout, term.output())
		}
	}
}

// typeLine types s and Enter (a carriage return, as a terminal in raw mode
// sends it; the container's terminal maps it to a newline, ICRNL).
func (term *terminal) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := term.master.Write([]byte(s + "\r")); err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("typing %q: %v", s, err)
	}
}

func (term *terminal) close() {
	term.master.Close()
}

// shellOnTerminal runs cmd, an engine running busybox sh in a container
// with a terminal, on a terminal of the test's; types a command line there
// and checks what it printed and the exit code: the container has a
// terminal of its own (made by the runtime and passed to the engine over
// --console-socket), the size of ours.
func shellOnTerminal(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	term := startOnTerminal(t, cmd)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited { // a step failed: do not leave the engine waiting for input
			cmd.Process.Kill()
			<-done
		}
		term.close()
	}()
	term.waitFor(t, "# ", 30*time.Second) // busybox sh's prompt for root
	term.typeLine(t, `tty; echo "$((6*7)) $(stty size)"; exit 5`)
	select {
	case <-done:
		exited = true
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30 s after exit was typed; the terminal shows %q", cmd.Args[0], term.output())
	}
	<-term.closed
	out := term.output()
	t.Logf("the terminal showed %q", out)
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Errorf("%s: want exit 5, got %d", cmd.Args[0], code)
	}
	// Line ends as the engine leaves them: podman puts our terminal in raw
	// mode (the container's \r\n comes through), ctr keeps output
	// processing on (ONLCR adds a \r: \r\r\n).
	lines := strings.ReplaceAll(out, "\r", "")
	for _, want := range []string{"\n/dev/pts/0\n", "\n42 24 80\n"} {
		if !strings.Contains(lines, want) {
			t.Errorf("the terminal lacks %q", want)
		}
	}
}
