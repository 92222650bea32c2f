package container

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// openPTY opens a new pseudo-terminal in the container's own devpts
// instance (the Spec's /dev/pts is a devpts mounted with newinstance), so the
// container's `tty` says /dev/pts/0 and it cannot see the host's
// terminals. See pty(7) and ptmx(4): open the master, unlock the slave,
// ask its number, open the slave.
func openPTY(ws *unix.Winsize, x *explain.Narrator) (master, slave *os.File, err error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	x.Call("ptmx(4)", `open("/dev/ptmx", O_RDWR|O_NOCTTY|O_CLOEXEC)`, m, err)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(m), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil { // unlockpt(3)
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN) // ptsname(3)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	if ws != nil {
		unix.IoctlSetWinsize(m, unix.TIOCSWINSZ, ws)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	s, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	x.Call("pty(7)", fmt.Sprintf("open(%q, O_RDWR|O_NOCTTY|O_CLOEXEC)", name), s, err)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	return master, os.NewFile(uintptr(s), name), nil
}

// takeTerminal makes tty the controlling terminal of the session the
// calling process leads (the init got its own at clone, SysProcAttr.Setsid)
// and its stdin, stdout and stderr: what a login does, and what job
// control in a shell needs (credentials(7), tty_ioctl(4)).
func takeTerminal(tty *os.File, x *explain.Narrator) error {
	fd := int(tty.Fd())
	err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0)
	x.Call("tty_ioctl(4)", fmt.Sprintf("ioctl(%d, TIOCSCTTY, 0)", fd), nil, err)
	if err != nil {
		return fmt.Errorf("ioctl TIOCSCTTY: %w", err)
	}
	for i := 0; i <= 2; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup3 tty to %d: %w", i, err)
		}
	}
	return tty.Close()
}

// windowSize is the user's terminal size, nil when stdin is no terminal.
func windowSize(f *os.File) *unix.Winsize {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return nil
	}
	return ws
}

// console is the host side of -t: the user's terminal in raw mode (so ^C,
// ^Z and every key reach the container's line discipline instead of ours),
// proxied both ways to the pseudo-terminal master.
type console struct {
	master   *os.File
	in       *os.File
	restore  *term.State
	output   chan struct{} // closed when the container's output has all been copied
	winch    chan os.Signal
	finished chan struct{}
}

// newConsole starts the proxy. When the user's terminal hangs up (read(2)
// on it gives EIO or end of file: the window was closed, the ssh
// connection dropped, tmux was killed), it says so on hangUp, so that
// the container is not left running where nobody can reach it.
func newConsole(master *os.File, stdio Stdio, interactive bool, hangUp chan<- struct{}) (*console, error) {
	c := &console{master: master, in: stdio.In, output: make(chan struct{}), finished: make(chan struct{})}
	if term.IsTerminal(int(stdio.In.Fd())) {
		state, err := term.MakeRaw(int(stdio.In.Fd()))
		if err != nil {
			return nil, fmt.Errorf("raw mode: %w", err)
		}
		c.restore = state
		// Pass on size changes (SIGWINCH, see ioctl_tty(2)); the kernel
		// signals the container's foreground process group in turn.
		c.winch = make(chan os.Signal, 1)
		signal.Notify(c.winch, unix.SIGWINCH)
		go func() {
			for {
				select {
				case <-c.winch:
					if ws := windowSize(stdio.In); ws != nil {
						unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
					}
				case <-c.finished:
					return
				}
			}
		}()
	}
	go func() {
		// Ends with EIO when the last slave descriptor closes: every
		// process of the container is gone.
		io.Copy(stdio.Out, master)
		close(c.output)
	}()
	if interactive {
		// Blocked in read(2) at exit: harmless, we exit.
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := stdio.In.Read(buf)
				if n > 0 {
					if _, werr := master.Write(buf[:n]); werr != nil {
						return // the container is gone
					}
				}
				if err != nil {
					// A terminal gives EOF or EIO only when it hung up (in
					// raw mode ^D is a byte like any other): tell Run.
					// Input that is no terminal just ended.
					if c.restore != nil {
						select {
						case hangUp <- struct{}{}:
						default:
						}
					}
					return
				}
			}
		}()
	}
	return c, nil
}

// drain waits (briefly) until the container's last output is written.
func (c *console) drain() {
	select {
	case <-c.output:
	case <-time.After(2 * time.Second):
	}
}

func (c *console) close() {
	close(c.finished)
	if c.winch != nil {
		signal.Stop(c.winch)
	}
	if c.restore != nil {
		term.Restore(int(c.in.Fd()), c.restore)
	}
	c.master.Close()
}
