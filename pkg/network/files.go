package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Name resolution: a container finds the others by name through /etc/hosts,
// written once when it starts, listing itself and every container already
// on the bridge (by its --name). It is a plain file the C library
// reads with no server to run — docker's legacy --link did the same; its
// user networks answer names from a small DNS server at 127.0.0.11
// instead. The price: a container does not learn the names of containers
// started after it (it still reaches them by address).

// HostsEntries are the bridge's lines of the container's /etc/hosts: its
// own address with its hostname and name, then the other named containers. (The
// localhost lines come with the rootfs, see rootfs.Spec.Files.)
func (ep *Endpoint) HostsEntries() []byte {
	var b bytes.Buffer
	line := func(a netip.Addr, names ...string) {
		var uniq []string
		for _, n := range names {
			if n != "" && !slices.Contains(uniq, n) {
				uniq = append(uniq, n)
			}
		}
		if len(uniq) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", a, strings.Join(uniq, " "))
		}
	}
	line(ep.Address.Addr(), ep.Hostname, ep.Name)
	// The others by their --name only: hostnames default to the same
	// "minicontainer" for all, which would then name any one of them.
	for _, o := range ep.Others {
		line(o.Address, o.Name)
	}
	return b.Bytes()
}

// ResolvConf makes the container's /etc/resolv.conf from the host's: the
// same search domains and name servers, less those on a loopback address
// (systemd-resolved's 127.0.0.53, a local dnsmasq) — inside the container
// 127.0.0.1 is the container itself. When no server is left, the file says
// so: names then resolve only through /etc/hosts.
func ResolvConf(host []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# written by minicontainer from the host's /etc/resolv.conf\n")
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			a, err := netip.ParseAddr(f[1])
			if err != nil || a.IsLoopback() {
				continue
			}
			servers++
		case "search", "domain", "options":
		default:
			continue
		}
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	if servers == 0 {
		b.WriteString("# the host has no name server reachable from a container; only /etc/hosts names resolve\n")
	}
	return b.Bytes()
}
