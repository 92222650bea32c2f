package container

import (
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// The parent and the init talk over a socketpair(2) of type SOCK_SEQPACKET:
// one send is one message, and SCM_RIGHTS can carry a file descriptor (the
// pseudo-terminal master, as runc's --console-socket does).
//
//	parent → init   initConfig            "go": the host side is ready
//	init → parent   {"pty"} + master fd   with -t, before the command runs
//	init → parent   {"error", code}       setup or exec failed; the init exits
//	init → parent   end of file           execve(2) succeeded: the init's end is
//	                                      close-on-exec, so the kernel closes it
//
// The end of file trick is how Go's own os/exec learns that exec failed.

// initConfig is what the init needs, sent once the host side is ready.
type initConfig struct {
	NetNS       bool        `json:"netns"` // a network namespace of its own: bring lo up
	Rootfs      rootfs.Spec `json:"rootfs"`
	Hostname    string      `json:"hostname"`
	Env         []string    `json:"env"`
	Workdir     string      `json:"workdir"`
	Command     []string    `json:"command"`
	Init        bool        `json:"init"`
	TTY         bool        `json:"tty"`
	Interactive bool        `json:"interactive"`
	// WindowSize is the user's terminal size, set on the pseudo-terminal
	// before the command starts so it never sees 0x0.
	WindowSize *unix.Winsize `json:"window_size,omitempty"`
	// UnshareCgroupNS: the init was placed in its cgroup after clone (v1),
	// so it makes its cgroup namespace itself (see cgroup.go).
	UnshareCgroupNS bool `json:"unshare_cgroupns,omitempty"`
}

// initMessage is what the init reports back.
type initMessage struct {
	Type  string `json:"type"` // "pty" or "error"
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

const maxMessage = 64 << 10 // the config is a few hundred bytes; volumes and files may add some

// send writes v as one message, with fds as SCM_RIGHTS, and returns the
// number of bytes sent.
func send(sock int, v any, fds ...int) (int, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, err := unix.SendmsgN(sock, data, oob, nil, 0)
	if err != nil {
		return n, fmt.Errorf("sendmsg on sync socket: %w", err)
	}
	return n, nil
}

// receive reads one message into v and returns the descriptors that came
// with it. eof is true when the other end was closed.
func receive(sock int, v any) (fds []int, eof bool, err error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	for {
		n, oobn, _, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("recvmsg on sync socket: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, true, nil
	}
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, false, err
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, false, err
			}
			fds = append(fds, got...)
		}
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		return fds, false, fmt.Errorf("bad message on sync socket: %w", err)
	}
	return fds, false, nil
}
