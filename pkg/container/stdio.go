package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// relay is the container's stdin, stdout and stderr: three pipes whose
// far ends minicontainer holds, and a goroutine copying each, as Docker
// and podman do. The container never holds a file or terminal of the
// caller's:
//   - a descriptor of the caller's file can be reopened by path through
//     /proc/self/fd/N, and the reopened file has the access the opener
//     (root in the container) may have, not the one the caller granted: a
//     file given read-only as stdin was rewritten that way (proc(5));
//   - the caller's terminal takes ioctl(TIOCSTI), which pushes bytes into
//     its input queue: the user's shell would run them after the container
//     exits (ioctl_tty(2); CVE-2016-7545, CVE-2017-5226).
//
// With -t the command gets a new pseudo-terminal instead (tty.go); the
// pipes then carry only what the init itself writes.
type relay struct {
	child [3]*os.File // the init's ends (fd 0, 1, 2), closed here once it started
	stdin *os.File    // the write end of the container's stdin
	out   *os.File    // the read end of its stdout
	err   *os.File    // the read end of its stderr (out, when merged)
	// merged: the container's stdout and stderr are one pipe (see newRelay).
	merged bool
	// The gates hold output back until the command runs. On stderr, during
	// set-up only the Go runtime writes, when it fails (a stack trace the
	// user must not see; deadInit turns it into one line). On both, the
	// command's first output must not come out before minicontainer knows
	// it runs: a caller who reacts to it with a signal must reach the
	// command, not a set-up that is being abandoned.
	outGate, errGate *gate
	copies           sync.WaitGroup // stdout and stderr, until the last writer is gone
}

// newRelay makes the pipes (pipe(2), O_CLOEXEC: os/exec dup2s the init's
// ends onto 0, 1 and 2, which clears the flag there). When the caller's
// stdout and stderr are one file (a terminal, `2>&1`), the container gets
// one pipe for both, so that its output keeps its order: two pipes copied
// by two goroutines could swap a line of stderr and one of stdout.
func newRelay(stdio Stdio, x *explain.Narrator) (*relay, error) {
	r := &relay{}
	var err error
	if r.child[0], r.stdin, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdio pipe: %w", err)
	}
	if r.out, r.child[1], err = os.Pipe(); err != nil {
		r.child[0].Close()
		r.stdin.Close()
		return nil, fmt.Errorf("stdio pipe: %w", err)
	}
	r.merged = sameFile(stdio.Out, stdio.Err)
	r.err, r.child[2] = r.out, r.child[1]
	if !r.merged {
		if r.err, r.child[2], err = os.Pipe(); err != nil {
			for _, f := range []*os.File{r.child[0], r.stdin, r.out, r.child[1]} {
				f.Close()
			}
			return nil, fmt.Errorf("stdio pipe: %w", err)
		}
	}
	if r.merged {
		x.Note("stdio: two pipes (pipe2(2)): the init's fd 0, and fds 1 and 2 (our stdout and stderr are one file); minicontainer copies between them and its own")
	} else {
		x.Note("stdio: three pipes (pipe2(2)) for the init's fds 0, 1, 2; minicontainer copies between them and its own")
	}
	return r, nil
}

// sameFile reports whether a and b are the same file (fstat(2): device
// and inode).
func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	if a == nil || b == nil || unix.Fstat(int(a.Fd()), &sa) != nil || unix.Fstat(int(b.Fd()), &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// started closes the init's ends here: from now on only the container
// holds them, so their closing is our end of file.
func (r *relay) started() {
	for _, f := range r.child {
		f.Close() // twice for a merged pipe: the second fails, harmlessly
	}
}

// run starts the copies. attachStdin false gives the container end of
// file on stdin at once.
func (r *relay) run(stdio Stdio, attachStdin bool) {
	r.outGate, r.errGate = &gate{w: stdio.Out}, &gate{w: stdio.Err}
	if r.merged {
		r.errGate = r.outGate
		r.copies.Add(1)
		go func() { defer r.copies.Done(); copyOutput(r.outGate, r.out) }()
	} else {
		r.copies.Add(2)
		go func() { defer r.copies.Done(); copyOutput(r.outGate, r.out) }()
		go func() { defer r.copies.Done(); copyOutput(r.errGate, r.err) }()
	}
	if !attachStdin {
		r.stdin.Close()
		return
	}
	// Blocked in read(2) on the caller's stdin when the container ends:
	// harmless, minicontainer exits.
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := stdio.In.Read(buf)
			if n > 0 {
				if _, werr := r.stdin.Write(buf[:n]); werr != nil {
					break // the container closed its stdin (EPIPE)
				}
			}
			if err != nil {
				break // end of the caller's input: end of file in there too
			}
		}
		r.stdin.Close()
	}()
}

// wait waits until the container's output has all been copied: every
// process that held the pipes is gone once PID 1 is (the kernel kills
// the rest of its PID namespace, pid_namespaces(7)). The bound is for a
// process stuck in an uninterruptible sleep.
func (r *relay) wait() {
	done := make(chan struct{})
	go func() { r.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// copyOutput copies one output pipe to the caller, byte for byte. If the
// caller stops reading (`| head -1`), the pipe is closed here, so the
// container's writer gets EPIPE (or SIGPIPE), as it would writing to the
// caller directly, instead of blocking forever.
func copyOutput(dst io.Writer, src *os.File) {
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass opens both gates: the command runs (or its failure is reported).
// stderr first: what it held is the init's (a merged pipe has one gate).
func (r *relay) pass() {
	r.errGate.pass()
	r.outGate.pass()
}

// gate passes writes on once open; before, it keeps them.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	open   bool
	held   bytes.Buffer
	closed bool // discarded: nothing more is passed on
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return len(p), nil
	case g.open:
		return g.w.Write(p)
	}
	return g.held.Write(p)
}

// pass opens the gate: what was held goes out first.
func (g *gate) pass() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open && !g.closed {
		g.open = true
		g.w.Write(g.held.Bytes())
		g.held.Reset()
	}
}

// discard closes the gate for good and returns what it held.
func (g *gate) discard() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return g.held.String()
}

// runtimeFailure is the line of a Go runtime's crash report that says
// what failed ("fatal error: newosproc", "panic: ...", or with cgo
// "runtime/cgo: pthread_create failed: ..."), or "".
func runtimeFailure(report string) string {
	for _, line := range strings.Split(report, "\n") {
		for _, prefix := range []string{"fatal error: ", "panic: ", "runtime/cgo: "} {
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
	}
	return ""
}

// terminals are those of the caller's stdin, stdout and stderr that are
// terminals, checked at start: a terminal that hangs up no longer answers
// isatty(3) (its ioctls give EIO), so it must be known beforehand.
func terminals(stdio Stdio) []*os.File {
	var ttys []*os.File
	for _, f := range []*os.File{stdio.In, stdio.Out, stdio.Err} {
		if f != nil && term.IsTerminal(int(f.Fd())) {
			ttys = append(ttys, f)
		}
	}
	return ttys
}

// hungUp reports whether one of ttys has hung up: poll(2) gives POLLHUP
// on a terminal after hangup (tty_vhangup) and on a pseudo-terminal's
// slave whose master was closed.
func hungUp(ttys []*os.File) bool {
	for _, f := range ttys {
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		for errors.Is(err, unix.EINTR) {
			n, err = unix.Poll(fds, 0)
		}
		if err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0 {
			return true
		}
	}
	return false
}
