package network

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// Port is one published port: connections to Host on the host are
// forwarded (DNAT) to Container in the container.
type Port struct {
	Host      uint16 `json:"host"`
	Container uint16 `json:"container"`
	Proto     string `json:"proto"` // "tcp" or "udp"
}

func (p Port) String() string { return fmt.Sprintf("%d:%d/%s", p.Host, p.Container, p.Proto) }

// ParsePort reads a -p value: HOSTPORT:CTRPORT or HOSTPORT:CTRPORT/tcp (or /udp).
func ParsePort(s string) (Port, error) {
	spec, proto, found := strings.Cut(s, "/")
	if !found {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("port %q: protocol must be tcp or udp", s)
	}
	host, ctr, ok := strings.Cut(spec, ":")
	if !ok {
		return Port{}, fmt.Errorf("port %q: want HOSTPORT:CTRPORT[/tcp]", s)
	}
	h, err1 := strconv.ParseUint(host, 10, 16)
	c, err2 := strconv.ParseUint(ctr, 10, 16)
	if err1 != nil || err2 != nil || h == 0 || c == 0 {
		return Port{}, fmt.Errorf("port %q: ports are numbers from 1 to 65535", s)
	}
	return Port{Host: uint16(h), Container: uint16(c), Proto: proto}, nil
}

// holdPort binds the host port in the host's network namespace and keeps it
// bound while the container runs, as docker-proxy does: the bind is the
// check that nobody else serves that port (a clear error now rather than a
// silently shadowed server later), and holding it stops a later program
// from binding a port whose traffic our DNAT rule would steal.
func holdPort(p Port) (io.Closer, error) {
	c, err := listenHost(p)
	if err != nil {
		return nil, fmt.Errorf("port %d/%s is already in use on the host", p.Host, p.Proto)
	}
	return c, nil
}

// listenHost binds p's host port on every IPv4 address of this network
// namespace: a UDP socket or a listening TCP one.
func listenHost(p Port) (io.Closer, error) {
	addr := fmt.Sprintf(":%d", p.Host)
	if p.Proto == "udp" {
		return net.ListenPacket("udp4", addr)
	}
	return net.Listen("tcp4", addr)
}
