package network

// --net slirp: a network a user other than root may have. The bridge
// needs a veth pair and NAT rules on the host, which only root may make;
// slirp4netns(1) needs neither. It opens a tap device inside the
// container's network namespace (joining its user namespace first, which
// the user owns) and plays, in user space, the whole network behind it:
// a gateway, a DNS forwarder, and TCP/UDP/ICMP connections that it makes
// with the user's own sockets on the host.
//
//	 host network namespace                      container network namespace
//	┌─────────────────────────────────────────┐   ┌──────────────────────────────┐
//	│ slirp4netns (the user's process)        │   │ tap0 10.0.2.100/24           │
//	│   connect(2), sendto(2) as the user ◄───┼───┼─ default via 10.0.2.2        │
//	│   listen(2) on -p HOSTPORT ─────────────┼───┼─► CTRPORT                    │
//	└─────────────────────────────────────────┘   │ nameserver 10.0.2.3          │
//	                                              └──────────────────────────────┘
//
// Why slirp4netns and not pasta (Debian package passt): Debian 12 ships
// slirp4netns 1.2.0, the stack podman 4.3 (Debian 12's podman) uses for
// rootless containers, with a man page that documents every option used
// here and a small JSON API for ports; its passt is a March 2023 snapshot
// from before pasta's first numbered release. podman 5 moved to pasta,
// which copies the host's addresses into the namespace and forwards
// without a NAT of its own (faster, but more to explain); slirp4netns's
// fixed 10.0.2.0/24 behind a gateway is the picture a learner already
// has from the bridge lesson.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// ModeSlirp: its own namespace, a tap device served by slirp4netns, -p
// through its API; no root needed.
const ModeSlirp Mode = "slirp"

// slirp4netns's network with --configure (slirp4netns(1), "Default
// configuration" and -c): the container's address, the gateway that is
// the host, and the DNS forwarder that asks the host's name servers.
var (
	SlirpAddress = netip.MustParseAddr("10.0.2.100")
	SlirpGateway = netip.MustParseAddr("10.0.2.2")
	SlirpDNS     = netip.MustParseAddr("10.0.2.3")
)

const (
	// SlirpTap is the tap device's name inside the container.
	SlirpTap = "tap0"
	// SlirpMTU is podman's: libslirp's largest (slirp4netns(1): max
	// 65521) less headroom; a large MTU means fewer frames to copy
	// through user space, and the slirp4netns man page's own example
	// uses it.
	SlirpMTU = 65520
	// TunDevice is the clone device slirp4netns opens to make the tap:
	// the user must be able to read and write it (udev makes it 0666).
	TunDevice = "/dev/net/tun"
)

// slirpReady is how long the start may take: the child of slirp4netns
// joins the namespaces, makes and configures tap0 and only then writes
// the ready fd.
var slirpReady = 20 * time.Second

// SlirpPath finds slirp4netns: on PATH, or in /usr/bin where Debian puts
// it (a test user's PATH may lack it).
func SlirpPath() (string, error) {
	if p, err := exec.LookPath("slirp4netns"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/slirp4netns"); err == nil {
		return "/usr/bin/slirp4netns", nil
	}
	return "", errors.New("slirp4netns is not installed (Debian package slirp4netns)")
}

// SlirpUsable says whether this caller can have --net slirp: the program
// is there, and the caller may open /dev/net/tun. The tap is made by
// slirp4netns's child inside the container's user namespace, where the
// host's root-owned device grants only its "other" bits: capabilities in
// a user namespace do not override the permissions of a file whose owner
// is not mapped in it (capabilities(7), CAP_DAC_OVERRIDE;
// user_namespaces(7)). access(2) as the caller asks the same question.
func SlirpUsable() (string, error) {
	path, err := SlirpPath()
	if err != nil {
		return "", err
	}
	if err := unix.Access(TunDevice, unix.R_OK|unix.W_OK); err != nil {
		return "", fmt.Errorf("slirp4netns needs %s, which you may not open: %s (udev makes it 0666)", TunDevice, explain.Strerror(err))
	}
	return path, nil
}

// CheckSlirpPorts checks, creating nothing that outlives it, that
// slirp4netns, running as this caller, will be able to listen on each
// published port of the host: it listens and closes, as Check does for
// the bridge. Below net.ipv4.ip_unprivileged_port_start only a process
// with CAP_NET_BIND_SERVICE in the initial user namespace may listen
// (ip(7)): that is the one thing -p cannot do without root.
func CheckSlirpPorts(ports []Port) error {
	if err := checkDuplicatePorts(ports); err != nil {
		return err
	}
	for _, p := range ports {
		c, err := listenHost(p)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.EACCES) {
			start, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
			return fmt.Errorf("port %d/%s: below net.ipv4.ip_unprivileged_port_start (%s) only root may listen on the host: publish a higher port", p.Host, p.Proto, strings.TrimSpace(string(start)))
		}
		return fmt.Errorf("port %d/%s is already in use on the host", p.Host, p.Proto)
	}
	return nil
}

// SlirpResolvConf is the container's /etc/resolv.conf: slirp4netns's
// forwarder, which asks the host's own name servers with the user's
// sockets (so even a loopback one such as systemd-resolved's 127.0.0.53,
// which the bridge cannot reach).
func SlirpResolvConf() []byte {
	return []byte("# written by minicontainer: slirp4netns's DNS forwarder (slirp4netns(1))\nnameserver " + SlirpDNS.String() + "\n")
}

// SlirpArgs is slirp4netns's command line for the init pid (slirp4netns(1)):
//   - --configure: tap0 gets 10.0.2.100/24, a default route through
//     10.0.2.2, and lo comes up;
//   - --mtu: SlirpMTU;
//   - --disable-host-loopback: 10.0.2.2 does not lead to the host's
//     127.0.0.1, where services listen that trust local users only
//     (podman's default too);
//   - --enable-sandbox and --enable-seccomp: slirp4netns parses the
//     container's packets in a host process; a bug there is the host's
//     (CVE-2019-6778, CVE-2020-7039: heap overflows in libslirp's TCP
//     emulation). The sandbox confines it to a mount namespace with only
//     /etc and /run of the host, the seccomp filter to the calls it needs;
//   - --exit-fd=3: it exits when poll(2) reports an event on fd 3, the
//     read end of a pipe whose only write end minicontainer holds: when
//     the container ends, or when minicontainer dies however it dies (the
//     kernel closes its descriptors), slirp4netns goes too;
//   - --ready-fd=4: it writes "1" there once tap0 is configured and the
//     API socket listens;
//   - --api-socket=PATH, with published ports only: add_hostfwd requests.
//
// PID: slirp4netns's child joins /proc/PID/ns/user, then /proc/PID/ns/net
// (--netns-type=pid, the default), makes the tap there and passes its
// descriptor back over a socket (SCM_RIGHTS, unix(7)); slirp4netns itself
// stays in the caller's namespaces, where its sockets are.
func SlirpArgs(pid int, apiSocket string) []string {
	args := []string{"--configure", "--mtu=" + strconv.Itoa(SlirpMTU), "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--exit-fd=3", "--ready-fd=4"}
	if apiSocket != "" {
		args = append(args, "--api-socket="+apiSocket)
	}
	return append(args, strconv.Itoa(pid), SlirpTap)
}

// Slirp is a running slirp4netns serving one container.
type Slirp struct {
	cmd    *exec.Cmd
	exit   *os.File // the exit fd's write end: closing it ends slirp4netns
	exitFd int
	out    *tail
	socket string // the API socket, "" when none

	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // what it returned
}

// StartSlirp starts slirp4netns for the init pid, waits until tap0 is
// configured, and publishes ports through its API socket (a path that
// must not exist yet). On failure it stops slirp4netns and removes the
// socket: nothing is left.
func StartSlirp(pid int, apiSocket string, ports []Port, x *explain.Narrator) (*Slirp, error) {
	path, err := SlirpPath()
	if err != nil {
		return nil, err
	}
	if len(ports) > 0 && len(apiSocket) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("slirp4netns: API socket %s: longer than a unix socket path may be (%d bytes, unix(7)): use a shorter --root", apiSocket, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	if len(ports) == 0 {
		apiSocket = ""
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		exitR.Close()
		exitW.Close()
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	defer readyR.Close()
	args := SlirpArgs(pid, apiSocket)
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{exitR, readyW} // fds 3 and 4 in the child
	out := &tail{}
	cmd.Stdout, cmd.Stderr = io.Discard, out
	// Its own process group: a ^C at minicontainer's terminal is for the
	// container (forwarded), not for its network.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// As root, a mount namespace of its own first. slirp4netns's sandbox
	// unshares one itself, but then makes only / private, not the mounts
	// under it (MS_PRIVATE without MS_REC), and mounts a tmpfs on /tmp.
	// Where /tmp is a mount of its own and shared, as systemd makes every
	// mount (Debian 13, Fedora, Arch: /tmp is a tmpfs), that tmpfs
	// propagates to the host's /tmp (mount_namespaces(7), "Shared subtree
	// operations") and hides everything in it; its pivot_root then fails.
	// Go's Unshareflags makes / private recursively after the unshare, as
	// unshare(1) does by default, so nothing slirp4netns mounts leaves
	// its namespace. A user's slirp4netns needs none: it unshares in the
	// container's user namespace, and a mount namespace made by a less
	// privileged user namespace gets the shared mounts as slaves.
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
		x.Note("slirp4netns runs in a mount namespace of its own, all private: its sandbox's tmpfs on /tmp stays there (mount_namespaces(7))")
	}
	x.Note("slirp4netns(1): a user-mode network for init %d: tap0 %s/24, gateway %s, DNS %s; its connections are this user's sockets", pid, SlirpAddress, SlirpGateway, SlirpDNS)
	err = cmd.Start()
	var started any
	if err == nil {
		started = cmd.Process.Pid
	}
	x.Call("slirp4netns(1)", path+" "+strings.Join(args, " "), started, err)
	exitR.Close()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	s := &Slirp{cmd: cmd, exit: exitW, exitFd: fdOf(exitW), out: out, socket: apiSocket, exited: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(readyR, x); err != nil {
		s.Stop(x)
		return nil, err
	}
	for _, p := range ports {
		if err := s.addHostfwd(p, x); err != nil {
			s.Stop(x)
			return nil, err
		}
	}
	return s, nil
}

// waitReady reads the ready fd: "1" once slirp4netns is ready, end of
// file if it exited first.
func (s *Slirp) waitReady(r *os.File, x *explain.Narrator) error {
	r.SetReadDeadline(time.Now().Add(slirpReady))
	b := make([]byte, 1)
	n, err := r.Read(b)
	x.Call("read(2)", fmt.Sprintf("read(%d, slirp4netns's ready fd, 1)", fdOf(r)), n, err)
	if n == 1 && b[0] == '1' {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("slirp4netns was not ready after %v: %s", slirpReady, s.out.last())
	}
	// It closed the fd without "1": it is exiting; its status and last
	// words say why.
	werr := s.wait(2 * time.Second)
	return fmt.Errorf("slirp4netns failed (%v): %s", werr, s.out.last())
}

// hostfwdRequest is slirp4netns's add_hostfwd request (slirp4netns(1),
// API SOCKET): host_addr 0.0.0.0 listens on every address of the
// caller's network namespace, guest_addr is --configure's address.
type hostfwdRequest struct {
	Execute   string `json:"execute"`
	Arguments struct {
		Proto     string `json:"proto"`
		HostAddr  string `json:"host_addr"`
		HostPort  uint16 `json:"host_port"`
		GuestAddr string `json:"guest_addr"`
		GuestPort uint16 `json:"guest_port"`
	} `json:"arguments"`
}

// HostfwdRequest is the add_hostfwd request for p, as sent.
func HostfwdRequest(p Port) []byte {
	var r hostfwdRequest
	r.Execute = "add_hostfwd"
	r.Arguments.Proto, r.Arguments.HostAddr, r.Arguments.HostPort = p.Proto, "0.0.0.0", p.Host
	r.Arguments.GuestAddr, r.Arguments.GuestPort = SlirpAddress.String(), p.Container
	b, _ := json.Marshal(r)
	return b
}

// ParseHostfwdReply reads slirp4netns's answer: {"return": {"id": N}},
// or {"error": {"desc": "..."}} ("JSON responses may contain error
// instead of return").
func ParseHostfwdReply(b []byte) (int, error) {
	var r struct {
		Return *struct {
			ID int `json:"id"`
		} `json:"return"`
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		return 0, fmt.Errorf("slirp4netns's API answered %q: %w", b, err)
	}
	if r.Error != nil {
		return 0, errors.New(r.Error.Desc)
	}
	if r.Return == nil {
		return 0, fmt.Errorf("slirp4netns's API answered %q: neither return nor error", b)
	}
	return r.Return.ID, nil
}

// addHostfwd publishes p: one request per connection, the write side shut
// down after it (the man page: "Client needs to shutdown(2) the socket
// with SHUT_WR after sending every request"), the answer read to the end.
func (s *Slirp) addHostfwd(p Port, x *explain.Narrator) error {
	req := HostfwdRequest(p)
	reply, err := s.request(req)
	if err == nil {
		_, err = ParseHostfwdReply(reply)
	}
	x.Call("slirp4netns(1)", fmt.Sprintf("connect(%q); write(%s); shutdown(SHUT_WR); read", s.socket, req), string(bytes.TrimSpace(reply)), err)
	if err != nil {
		return fmt.Errorf("-p %s: slirp4netns add_hostfwd: %v", p, err)
	}
	return nil // the forward ends with slirp4netns (remove_hostfwd would take its id)
}

func (s *Slirp) request(req []byte) ([]byte, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.socket, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(slirpReady))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

// Stop ends slirp4netns: the exit fd's only writer is closed, poll(2)
// reports it on the read end, slirp4netns exits (slirp4netns(1),
// --exit-fd); it is waited for, so no process is left when Stop returns
// (SIGKILL after a grace). The API socket is removed.
func (s *Slirp) Stop(x *explain.Narrator) error {
	err := s.exit.Close()
	x.Call("close(2)", fmt.Sprintf("close(%d)", s.exitFd), nil, err)
	x.Note("slirp4netns's exit fd has no writer left: it exits")
	werr := s.wait(5 * time.Second)
	if s.socket != "" {
		if rerr := os.Remove(s.socket); rerr != nil && !os.IsNotExist(rerr) {
			return fmt.Errorf("slirp4netns: %w", rerr)
		}
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return fmt.Errorf("slirp4netns: %w", werr)
	}
	return nil
}

// wait waits for slirp4netns for up to d, then kills it and waits.
func (s *Slirp) wait(d time.Duration) error {
	select {
	case <-s.exited:
	case <-time.After(d):
		s.cmd.Process.Kill()
		<-s.exited
	}
	return s.waitErr
}

// fdOf is f's descriptor number, for the narration (f.Fd() would put f
// in blocking mode, and a read deadline needs Go's poller).
func fdOf(f *os.File) int {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(d uintptr) { fd = int(d) })
	}
	return fd
}

// tail keeps slirp4netns's standard error (its last 4 KiB), for the line
// that says why it failed (its progress goes to standard output, discarded).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

// last is the line that says why: slirp4netns's first line on standard
// error that is no warning (its child says what failed, e.g.
// "ioctl(TUNSETIFF): ...", and the parent then only "child failed(1)"),
// or a word saying there was none.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "WARNING") {
			return l
		}
	}
	return "(no output)"
}
