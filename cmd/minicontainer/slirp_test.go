package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/network"
	"github.com/minicontainer/minicontainer/pkg/testuser"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// --net slirp (pkg/network/slirp.go), tested where every packet stays in
// namespaces the test made: the test-made host namespace (TestMain) where
// minicontainer and slirp4netns run, and the "outside" one behind it
// (startOutside, 198.51.100.2) where the test's servers listen.

// outsideServers are the test's servers in the outside namespace: HTTP on
// TCP port 8000 and a name server on UDP port 53 that answers every
// question NXDOMAIN. Each records who asked: slirp4netns's sockets are
// the host's, so the asker is the test host's address, 198.51.100.1.
type outsideServers struct {
	mu      sync.Mutex
	tcpFrom []string
	udpFrom []string
}

func (o *outsideServers) from() (tcp, udp []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.tcpFrom...), append([]string(nil), o.udpFrom...)
}

func startOutsideServers(t *testing.T, outside int) *outsideServers {
	t.Helper()
	o := &outsideServers{}
	var l net.Listener
	var pc net.PacketConn
	inNetnsOf(t, outside, func() (err error) {
		if l, err = net.Listen("tcp4", "198.51.100.2:8000"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", "198.51.100.2:53")
		return err
	})
	t.Cleanup(func() { l.Close(); pc.Close() })
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		o.mu.Lock()
		o.tcpFrom = append(o.tcpFrom, host)
		o.mu.Unlock()
		fmt.Fprintf(w, "hello over slirp\n")
	}))
	go func() {
		b := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			o.mu.Lock()
			o.udpFrom = append(o.udpFrom, from.(*net.UDPAddr).IP.String())
			o.mu.Unlock()
			// The question back as an answer (RFC 1035 4.1.1): QR set,
			// RA set, RCODE 3 (name error).
			b[2] |= 0x80
			b[3] = 0x80 | 3
			pc.WriteTo(b[:n], from)
		}
	}()
	return o
}

// inNetnsOf runs fn on a thread of its own moved into pid's network
// namespace: a socket belongs to the namespace of the thread that made it.
// The thread stays locked and dies with its goroutine (it is tainted).
func inNetnsOf(t *testing.T, pid int, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// allowPing lets gids 0 to gid make ICMP echo sockets in the test host's
// namespace (net.ipv4.ping_group_range, icmp(7)): slirp4netns relays a
// container's ping with one, as its user. The kernel's default, "1 0",
// allows no one; systemd sets "0 2147483647". Put back when the test ends.
func allowPing(t *testing.T, gid int) {
	t.Helper()
	const knob = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte(fmt.Sprintf("0 %d", gid)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(knob, old, 0o644) })
}

// slirpForUsers says why a user other than root cannot have --net slirp
// here (network.SlirpUsable as such a user sees it), or nil.
func slirpForUsers() error {
	if _, err := network.SlirpPath(); err != nil {
		return err
	}
	st, err := os.Stat(network.TunDevice)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o006 != 0o006 {
		return fmt.Errorf("%s is %v", network.TunDevice, st.Mode().Perm())
	}
	return nil
}

// freePort is a TCP port nobody listens on in the test host's namespace.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// slirpUser is a user made for the test, with its data dir, running
// bin/minicontainer (a copy it may execute).
type slirpUser struct {
	*testuser.User
	bin, data, stateRoot string
	// tun: "" when the host's /dev/net/tun is the user's to open (udev
	// makes it 0666); else "10 200", a node made for the user.
	tun string
}

func newSlirpUser(t *testing.T) *slirpUser {
	t.Helper()
	u := &slirpUser{User: testuser.Make(t, 65536), bin: testuser.Executable(t, "minicontainer")}
	u.stateRoot = fmt.Sprintf("/tmp/minicontainer-%d", u.UID)
	t.Cleanup(func() { os.RemoveAll(u.stateRoot) })
	home, err := os.MkdirTemp("", "mctest-slirp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chown(home, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	u.data = filepath.Join(home, "data")
	st, err := os.Stat(network.TunDevice)
	if err != nil {
		t.Skipf("%s: %v (modprobe tun)", network.TunDevice, err)
	}
	if st.Mode().Perm()&0o006 != 0o006 {
		// This host has no udev (a minimal VM, a container): the kernel's
		// node is 0600. The user's runs get one of their own, in a mount
		// namespace of theirs (command).
		t.Logf("%s is %v here (no udev): the user's commands get a 0666 node in a mount namespace of their own", network.TunDevice, st.Mode().Perm())
		u.tun = "10 200"
	}
	return u
}

// command runs minicontainer as the user; with tun set ("MAJOR MINOR"),
// in a mount namespace of its own (unshare(1), propagation private: the
// host sees nothing) where /dev/net is a tmpfs holding a tun node anyone
// may open.
func (u *slirpUser) command(tun string, args ...string) *exec.Cmd {
	cmd := u.Command(u.bin, args...)
	cmd.Env = append(cmd.Env, "XDG_DATA_HOME="+u.data)
	if tun == "" {
		return cmd
	}
	script := `mount -t tmpfs -o mode=755 mctest-tun /dev/net && mknod -m 666 /dev/net/tun c ` + tun + ` && exec "$@"`
	w := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"}, cmd.Args...)...)
	w.Env = cmd.Env
	return w
}

func (u *slirpUser) run(t *testing.T, tun string, args ...string) result {
	t.Helper()
	cmd := u.command(tun, args...)
	return outcome(t, cmd)
}

// leftovers fails the test if the user has a process, a state or a
// container dir left.
func (u *slirpUser) leftovers(t *testing.T, when string) {
	t.Helper()
	for _, d := range []string{u.stateRoot, filepath.Join(u.data, "minicontainer", "containers")} {
		if entries, err := os.ReadDir(d); err != nil && !os.IsNotExist(err) || len(entries) != 0 {
			t.Errorf("%s after %s: %v, %v; want it empty", d, when, entries, err)
		}
	}
	if procs := processesOf(u.UID); len(procs) > 0 {
		t.Errorf("after %s the user still runs: %s", when, strings.Join(procs, "; "))
	}
}

// processesOf lists the live processes of uid (the owner of /proc/PID).
func processesOf(uid int) []string {
	var procs []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) != nil || int(st.Uid) != uid {
			continue
		}
		// A zombie has ended: the test, a subreaper (hostcheck), reaps
		// it last, as hostcheck does.
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		procs = append(procs, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return procs
}

// TestSlirp: a user other than root gets a network. As a user the test
// makes (with a range): the default network is slirp, no note; the
// container is root inside and its tap0 is 10.0.2.100; TCP (an HTTP GET
// with nc), UDP (a name lookup) and ping reach the servers outside, which
// see the test host's own address; -p publishes a container's server on
// the host's 127.0.0.1; after rm nothing of the user's is left, no
// slirp4netns either. A port below 1024 is refused in one line, and a
// slirp4netns that fails to start (its tun node the wrong device) fails
// the run in one line, exit 125, leaving nothing.
func TestSlirp(t *testing.T) {
	needTestHost(t)
	if _, err := network.SlirpPath(); err != nil {
		t.Skipf("%v: make test-deps installs it", err)
	}
	if _, err := userns.Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	// Mounts too: a user's slirp4netns unshares its sandbox's mount
	// namespace inside the container's user namespace, where the host's
	// shared mounts arrive as slaves, so its tmpfs on /tmp never reaches
	// the host (lesson 12; root's needs a namespace of its own, see
	// TestSlirpAsRoot). Where the user's commands run in a private mount
	// namespace for their tun node (no udev), nothing could reach the
	// host anyway: the check bites where udev makes the node 0666.
	snap := hostcheck.Take(t, "mctest", "minicontainer", "process ", "account ", "link ", "mount ")
	t.Cleanup(func() { snap.Verify(t) })
	u := newSlirpUser(t)
	outside := startOutside(t)
	servers := startOutsideServers(t, outside)
	allowPing(t, u.GID)

	t.Run("outbound", func(t *testing.T) {
		r := u.run(t, u.tun, "run", "--", "sh", "-c", `id -u; ip -4 -o addr show tap0 | grep -o "inet [0-9./]*"; grep nameserver /etc/resolv.conf
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 10 198.51.100.2 8000 | tail -n 1
nslookup probe.test 198.51.100.2 2>&1 | grep -o NXDOMAIN | head -n 1
ping -c 1 -W 10 198.51.100.2 | grep -o "1 packets received"`)
		want := "0\ninet 10.0.2.100/24\nnameserver 10.0.2.3\nhello over slirp\nNXDOMAIN\n1 packets received\n"
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("run as %s: exit %d\nstdout %q\nwant   %q\nstderr %q", u.Name, r.code, r.stdout, want, r.stderr)
		}
		tcp, udp := servers.from()
		if len(tcp) != 1 || tcp[0] != "198.51.100.1" || len(udp) == 0 || udp[0] != "198.51.100.1" {
			t.Errorf("the servers outside were asked by tcp %v, udp %v: want the test host, 198.51.100.1", tcp, udp)
		}
		u.leftovers(t, "run")
	})

	t.Run("publish", func(t *testing.T) {
		port := freePort(t)
		d := u.run(t, u.tun, "run", "-d", "--net", "slirp", "-p", fmt.Sprintf("%d:80", port), "--", "sh", "-c",
			"mkdir /www; echo hello from the container > /www/index.html; exec httpd -f -p 80 -h /www")
		id := strings.TrimSpace(d.stdout)
		if d.code != 0 || id == "" {
			t.Fatalf("run -d -p %d:80: exit %d, %q, %q", port, d.code, d.stdout, d.stderr)
		}
		var body string
		var err error
		for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var resp *http.Response
			if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if body = string(b); body != "" {
					break
				}
			}
		}
		if body != "hello from the container\n" {
			t.Errorf("127.0.0.1:%d: %q, %v; want the container's page", port, body, err)
		}
		if r := u.run(t, u.tun, "rm", "-f", id); r.code != 0 {
			t.Errorf("rm -f %s: exit %d, %q", id, r.code, r.stderr)
		}
		u.leftovers(t, "rm")
		// slirp4netns is gone, and with it its listening socket.
		if l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port)); err != nil {
			t.Errorf("port %d after rm: %v", port, err)
		} else {
			l.Close()
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			tun  string
			args []string
			want string
		}{
			{u.tun, []string{"-p", "80:80"}, "minicontainer: port 80/tcp: below net.ipv4.ip_unprivileged_port_start (1024) only root may listen on the host"},
			// /dev/null's numbers: access(2) lets the user open it, and
			// slirp4netns's TUNSETIFF fails on it once it joined the
			// container's namespaces: a real failure to start.
			{"1 3", nil, "minicontainer: network: slirp4netns failed (exit status 1): ioctl(TUNSETIFF): Inappropriate ioctl for device"},
		} {
			args := append(append([]string{"run", "--net", "slirp"}, c.args...), "--", "true")
			r := u.run(t, c.tun, args...)
			if r.code != 125 || !strings.HasPrefix(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%v: exit %d, %q; want 125 and one line starting %q", args, r.code, r.stderr, c.want)
			}
			u.leftovers(t, fmt.Sprint(args))
		}
	})
}

// TestSlirpAsRoot: root may choose --net slirp too (the host's network is
// left untouched: no bridge, no veth, no nftables table), and the
// container reaches outside as root's slirp4netns.
func TestSlirpAsRoot(t *testing.T) {
	needTestHost(t)
	if _, err := network.SlirpPath(); err != nil {
		t.Skipf("%v: make test-deps installs it", err)
	}
	snap := hostcheck.Take(t, "process ", "link ", "nft table ", "state ", "mount ")
	t.Cleanup(func() { snap.Verify(t) })
	outside := startOutside(t)
	servers := startOutsideServers(t, outside)
	// minicontainer runs in a mount namespace of the test's where /tmp is
	// a shared mount of its own, as on a host whose /tmp is a tmpfs under
	// systemd (this one's may be a plain directory). What slirp4netns
	// mounts must stay in its own namespace: afterwards this one has as
	// many mounts on /tmp as before (the host's own /tmp may be one).
	cmd := exec.Command("unshare", "--mount", "--", "sh", "-c",
		`mount --bind /tmp /tmp && mount --make-shared /tmp || exit 99
		on_tmp() { grep -c '^[^ ]* [^ ]* [^ ]* [^ ]* /tmp ' /proc/self/mountinfo; }
		before=$(on_tmp)
		minicontainer "$@"; rc=$?
		echo "mounts on /tmp: $before before, $(on_tmp) after" >&2
		exit $rc`, "sh", "run", "--rootfs", testRootfs, "--net", "slirp", "--", "sh", "-c",
		`ip -4 -o addr show tap0 | grep -o "inet [0-9./]*"; printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 10 198.51.100.2 8000 | tail -n 1`)
	r := outcome(t, cmd)
	if want := "inet 10.0.2.100/24\nhello over slirp\n"; r.code != 0 || r.stdout != want {
		t.Errorf("run --net slirp as root: exit %d, %q, %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	if m := regexp.MustCompile(`mounts on /tmp: (\d+) before, (\d+) after\n$`).FindStringSubmatch(r.stderr); m == nil || m[1] != m[2] {
		t.Errorf("run --net slirp as root, with /tmp a shared mount: %q; want as many mounts on /tmp after as before (slirp4netns's tmpfs must not propagate out of its namespace)", r.stderr)
	}
	if tcp, _ := servers.from(); len(tcp) != 1 || tcp[0] != "198.51.100.1" {
		t.Errorf("the server outside was asked by %v: want the test host, 198.51.100.1", tcp)
	}
	if out, _ := exec.Command("ip", "-o", "link").Output(); bytes.Contains(out, []byte(network.DefaultBridge)) {
		t.Errorf("--net slirp made a bridge:\n%s", out)
	}
}
