package container

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/timing"
)

// The parent and the init talk over a socketpair(2) of type SOCK_SEQPACKET:
// one send is one message, and SCM_RIGHTS can carry a file descriptor (the
// pseudo-terminal master, as runc's --console-socket does).
//
//	parent → init   bundleInit, execInit  "go": the host side is ready
//	init → parent   {"log"}               a line of -x narration: on the socket,
//	                                      in order with the rest, not on stderr
//	init → parent   {"pty"} + master fd   with -t, before the command runs
//	init → parent   {"ready"}             (bundle init) set-up done: it waits for
//	                                      start on the exec fifo
//	init → parent   {"exec"}              (exec init) set-up done: execve(2) next
//	init → parent   {"timing", phases}    with --timing, run's init's own phases,
//	                                      just before its execve(2)
//	init → parent   {"error", code}       setup or exec failed; the init exits
//	init → parent   end of file           execve(2) succeeded: the init's end is
//	                                      close-on-exec, so the kernel closes it
//
// The end of file trick is how Go's own os/exec learns that exec failed.
// End of file without "exec" before it means the init died during set-up
// (killed, out of memory, a Go runtime failure): see Container.deadInit.
//
// A message larger than one packet (a command or environment near
// ARG_MAX, 2 MiB with the default 8 MiB stack, see execve(2)) is cut into
// packets of at most packetSize bytes; each packet starts with one byte,
// '+' when more of the message follows, '.' on its last packet.

// syncFd is the sync socket's number in an exec init (cmd.ExtraFiles[0]);
// a bundle init has it there too (bundleSyncFd).
const syncFd = 3

// initMessage is what the init reports back.
type initMessage struct {
	Type  string `json:"type"` // "log", "pty", "exec" or "error"
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	Text  string `json:"text,omitempty"` // "log": the narrated line
	// "timing" (run --timing): the init's phases, its last message
	// before the exec.
	Phases []timing.Phase `json:"phases,omitempty"`
}

// packetSize is the most one packet carries: well below the socket's
// send buffer (net.core.wmem_default, 208 KiB), which bounds a
// SOCK_SEQPACKET message (unix(7)).
const packetSize = 32 << 10

// maxMessage bounds a whole message: the config carries the command and
// the environment (together at most ARG_MAX for execve(2), 2 MiB by
// default; more fails there with E2BIG, said in one line) and JSON can
// escape a byte into six.
const maxMessage = 16 << 20

// maxFDs is the most descriptors one message carries: a pseudo-terminal's
// master, or run's idmapped lower dirs, one per image layer (remap.go);
// the kernel's own bound is SCM_MAX_FD, 253 (unix(7)).
const maxFDs = 253

// send writes v as one message, with fds as SCM_RIGHTS on its first
// packet, and returns the number of bytes sent.
func send(sock int, v any, fds ...int) (int, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if len(data) > maxMessage {
		return 0, fmt.Errorf("sync message of %d bytes: more than %d", len(data), maxMessage)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	sent := 0
	packet := make([]byte, 0, min(len(data), packetSize)+1)
	for {
		part, more := data, byte('.')
		if len(part) > packetSize {
			part, more = part[:packetSize], '+'
		}
		packet = append(append(packet[:0], more), part...)
		n, err := unix.SendmsgN(sock, packet, oob, nil, 0)
		if err != nil {
			return sent, fmt.Errorf("sendmsg on sync socket: %w", err)
		}
		sent += n
		data, oob = data[len(part):], nil
		if more == '.' {
			return sent, nil
		}
	}
}

// receive reads one message into v and returns the descriptors that came
// with it. eof is true when the other end was closed.
func receive(sock int, v any) (fds []int, eof bool, err error) {
	buf := make([]byte, packetSize+1)
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	var data []byte
	for {
		n, oobn, flags, err := recvPacket(sock, buf, oob)
		if err != nil {
			return fds, false, fmt.Errorf("recvmsg on sync socket: %w", err)
		}
		if oobn > 0 {
			got, err := parseRights(oob[:oobn])
			fds = append(fds, got...)
			if err != nil {
				return fds, false, err
			}
		}
		if n == 0 && oobn == 0 {
			if data != nil {
				return fds, false, fmt.Errorf("sync socket: end of file inside a message (%d bytes read)", len(data))
			}
			return fds, true, nil
		}
		// Never a silently cut message: a packet larger than ours, or
		// descriptors that did not fit, is an error (recvmsg(2)).
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n == 0 {
			return fds, false, fmt.Errorf("sync socket: a packet of the wrong size (%d bytes, flags %#x)", n, flags)
		}
		data = append(data, buf[1:n]...)
		if len(data) > maxMessage {
			return fds, false, fmt.Errorf("sync message larger than %d bytes", maxMessage)
		}
		if buf[0] == '.' {
			break
		}
		if buf[0] != '+' {
			return fds, false, fmt.Errorf("sync socket: bad packet header %q", buf[0])
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fds, false, fmt.Errorf("bad message on sync socket: %w", err)
	}
	return fds, false, nil
}

func recvPacket(sock int, buf, oob []byte) (n, oobn, flags int, err error) {
	for {
		n, oobn, flags, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			return n, oobn, flags, err
		}
	}
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// syncLog is the init's narrator output: each line goes to the parent as
// a "log" message, so it arrives in order with the messages around it (on
// stderr, a pipe the parent copies concurrently, it could be overtaken).
// Once the socket is closed (tinyinit, after the command started) lines
// go to stderr.
type syncLog struct{ closed bool }

// fail reports why the init gives up: to the parent while the socket is
// open, else (tinyinit, after it closed it) on stderr, which the parent
// passes on once the command runs.
func (l *syncLog) fail(code int, err error) {
	if !l.closed {
		if _, serr := send(syncFd, initMessage{Type: "error", Code: code, Error: err.Error()}); serr == nil {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
}

// close closes the init's end of the sync socket; later lines go to
// stderr. (Its number may be reused at once: never send on it again.)
func (l *syncLog) close() {
	l.closed = true
	unix.Close(syncFd)
}

func (l *syncLog) Write(p []byte) (int, error) {
	if !l.closed {
		if _, err := send(syncFd, initMessage{Type: "log", Text: string(p)}); err == nil {
			return len(p), nil
		}
		l.closed = true
	}
	return os.Stderr.Write(p)
}
