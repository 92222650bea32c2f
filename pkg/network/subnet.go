package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// ParseSubnet reads a --subnet value such as 172.30.0.0/16 and checks that
// it can serve as a bridge network: IPv4, no host bits set, room for a
// gateway and at least one container, and not a special-purpose range.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %q: not an address/length like %s", s, DefaultSubnet)
	}
	a := p.Addr()
	switch {
	case !a.Is4():
		return netip.Prefix{}, fmt.Errorf("subnet %q: only IPv4 is supported", s)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Errorf("subnet %q: host bits set (did you mean %s?)", s, p.Masked())
	case p.Bits() < 8 || p.Bits() > 30:
		return netip.Prefix{}, fmt.Errorf("subnet %q: prefix length must be between /8 and /30", s)
	case slices.ContainsFunc(specialPurpose, p.Overlaps):
		return netip.Prefix{}, fmt.Errorf("subnet %q: a special-purpose range, use a private one such as %s", s, DefaultSubnet)
	}
	return p, nil
}

// specialPurpose are the IPv4 ranges no bridge may overlap (RFC 6890):
// "this network" (its addresses are not valid destinations), loopback,
// link-local, multicast and the reserved class E. Overlapping, not only
// starting in one: 169.0.0.0/8 holds all of 169.254.0.0/16.
var specialPurpose = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// Gateway is the bridge's own address: the first one of the subnet.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Addr().Next() }

// broadcast is the last address of the subnet.
func broadcast(subnet netip.Prefix) netip.Addr {
	b := subnet.Addr().As4()
	for i := subnet.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(b)
}

// checkNoOverlap fails when subnet overlaps a route of the host (other than
// the default route and the routes of our own bridge): containers could not
// reach what lies behind that route, and the host would route their traffic
// the wrong way. Connected networks appear here too, because the kernel adds
// a route for each address with a prefix.
func checkNoOverlap(subnet netip.Prefix, bridge string) error {
	routes, err := listRoutes()
	if err != nil {
		return err
	}
	own := -1
	if l, err := netlink.LinkByName(bridge); err == nil {
		own = l.Attrs().Index
	}
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex == own {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if ones == 0 {
			continue // a default route overlaps everything by definition
		}
		addr, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok {
			continue
		}
		dst := netip.PrefixFrom(addr, ones)
		if dst.Overlaps(subnet) {
			dev := "?"
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			return fmt.Errorf("subnet %s overlaps the host route %s dev %s; choose another with --subnet", subnet, dst, dev)
		}
	}
	return nil
}

// listRoutes dumps the IPv4 routes of the main table. A dump can be
// interrupted when routes change meanwhile (netlink returns
// ErrDumpInterrupted); then it is simply asked again.
func listRoutes() ([]netlink.Route, error) {
	for range 5 {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing routes: %w", err)
		}
		return routes, nil
	}
	return nil, fmt.Errorf("listing routes: %w", netlink.ErrDumpInterrupted)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
