package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHostKeepsItsRoutes: a container sends an IPv6 router advertisement
// (a default router and the prefix 2001:db8:77::/64, from a raw ICMPv6
// socket) on its eth0; the host — this test-made namespace — takes no route
// and no address from it, because mc0 and the veth's host end ignore RAs.
func TestHostKeepsItsRoutes(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("no IPv6 in this kernel")
	}
	stateDir := checkedStateDir(t)
	c := connect(t, Request{ID: "ra000001", StateDir: stateDir}, nil)
	for _, link := range []string{"mc0", c.ep.HostVeth} {
		for _, f := range []string{"accept_ra", "autoconf"} {
			if got := strings.TrimSpace(sh(t, "cat /proc/sys/net/ipv6/conf/"+link+"/"+f)); got != "0" {
				t.Errorf("%s of %s = %s, want 0", f, link, got)
			}
		}
	}
	// A link-local source address (an RA must come from one), usable at
	// once (nodad).
	run(t, in(c.pid, "ip", "-6", "addr", "add", "fe80::99/64", "dev", "eth0", "nodad"))
	m := regexp.MustCompile(`^(\d+): eth0`).FindStringSubmatch(run(t, in(c.pid, "ip", "-o", "link", "show", "eth0")))
	if m == nil {
		t.Fatal("no eth0 in the container")
	}
	index, _ := strconv.Atoi(m[1])
	fd := rawIn(t, c.pid, unix.AF_INET6, unix.IPPROTO_ICMPV6)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: netip.MustParseAddr("fe80::99").As16(), ZoneId: uint32(index)}); err != nil {
		t.Fatal(err)
	}
	ra := []byte{
		134, 0, 0, 0, // type: router advertisement (RFC 4861 4.2), code, checksum (the kernel's)
		64, 0, 0x07, 0x08, // hop limit, flags, router lifetime 1800 s: "use me as your default router"
		0, 0, 0, 0, 0, 0, 0, 0, // reachable time, retrans timer
		3, 4, 64, 0xc0, // prefix information (RFC 4861 4.6.2), /64, on-link and autonomous
		0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0, // valid 86400 s, preferred 14400 s, reserved
	}
	prefix := netip.MustParseAddr("2001:db8:77::").As16()
	ra = append(ra, prefix[:]...)
	allNodes := &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(index)}
	for range 3 {
		if err := unix.Sendto(fd, ra, 0, allNodes); err != nil {
			t.Fatalf("sending the RA: %v", err)
		}
	}
	// The kernel handles an RA as it arrives; give it a second to show.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		routes := sh(t, "ip -6 route show proto ra")
		addrs := sh(t, "ip -6 -o addr show scope global")
		if routes != "" || addrs != "" {
			t.Fatalf("the container's RA reconfigured the host:\nroutes: %saddresses: %s", routes, addrs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostKeepsItsLocalhost: a service of the host on 127.0.0.1:9999 cannot
// be reached from a container that routes 127.0.0.1 via its gateway (the
// container's root may do that), while a published port still answers the
// host at 127.0.0.1:8080.
func TestHostKeepsItsLocalhost(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	run(t, in(os.Getpid(), "ip", "link", "set", "lo", "up"))
	l, err := net.Listen("tcp4", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-only secret\n"))
			c.Close()
		}
	}()
	c := connect(t, Request{ID: "lh000001", Ports: []Port{{8080, 80, "tcp"}}, StateDir: stateDir}, nil)
	run(t, in(c.pid, "sh", "-c", `echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet &&
		ip route add 127.0.0.1/32 via `+c.ep.Gateway.String()+` dev eth0`))
	out, _ := in(c.pid, busybox, "nc", "-w", "2", "127.0.0.1", "9999").CombinedOutput()
	if strings.Contains(string(out), "secret") {
		t.Errorf("a container reached the host's 127.0.0.1:9999: %q", out)
	}
	site := t.TempDir()
	os.WriteFile(filepath.Join(site, "index.html"), []byte("hello from the container\n"), 0o644)
	background(t, in(c.pid, busybox, "httpd", "-f", "-p", "80", "-h", site))
	eventually(t, "published port at the host's 127.0.0.1:8080", func() error {
		return httpGet(os.Getpid(), "127.0.0.1", 8080, "hello from the container")
	})
}

// rawIn opens a raw socket inside the network namespace of pid (see
// inNetnsOf).
func rawIn(t *testing.T, pid, family, proto int) int {
	t.Helper()
	var fd int
	inNetnsOf(t, pid, func() (err error) {
		if fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		return nil
	})
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}
