package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// step runs one kernel request, narrates it with its real result, and
// wraps a failure with what was being done.
func step(n *explain.Narrator, page, call, what string, fn func() error) error {
	err := fn()
	n.Call(page, call, nil, err)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// bridgeAddress returns the IPv4 address (with prefix) of an existing link.
func bridgeAddress(l netlink.Link) (netip.Prefix, bool) {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	ones, _ := addrs[0].Mask.Size()
	return netip.PrefixFrom(a, ones), ok
}

// createBridge makes the bridge, gives it the gateway address and brings
// it up — like `ip link add mc0 type bridge; ip addr add 172.30.0.1/16 dev
// mc0; ip link set mc0 up`. The address makes the host a member of the
// subnet: containers use it as their gateway, and the kernel adds the
// route to the subnet through mc0 by itself.
func createBridge(name string, subnet netip.Prefix, n *explain.Narrator) error {
	n.Note("a bridge is a virtual switch; the host joins it with the gateway address %s", Gateway(subnet))
	mac := bridgeMAC(subnet)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWLINK(name=%q, kind=\"bridge\", address=%s)", name, mac),
		"creating bridge "+name, func() error { return netlink.LinkAdd(br) }); err != nil {
		return err
	}
	if err := ignoreRouterAdverts(name, n); err != nil {
		return err
	}
	gw := netip.PrefixFrom(Gateway(subnet), subnet.Bits())
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWADDR(dev=%q, addr=%s)", name, gw),
		"adding "+gw.String()+" to "+name, func() error { return netlink.AddrAdd(br, &netlink.Addr{IPNet: ipNet(gw)}) }); err != nil {
		return err
	}
	if err := fault.Point(n, "bridge-address"); err != nil {
		return err
	}
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWLINK(name=%q, flags=IFF_UP)", name),
		"bringing "+name+" up", func() error { return netlink.LinkSetUp(br) }); err != nil {
		return err
	}
	// route_localnet lets the host's own 127.0.0.1:PORT be forwarded to a
	// container: without it the kernel drops packets with a loopback source
	// that leave through a real interface. It is a setting of mc0 alone and
	// goes with it.
	return writeSysctl(n, "/proc/sys/net/ipv4/conf/"+name+"/route_localnet", "1")
}

// bridgeMAC is the bridge's own MAC address, given when it is made (as
// IFLA_ADDRESS, which the kernel records as set by the user). Without one
// a bridge takes the lowest address of its ports (br_stp_recalculate_bridge_id
// in the kernel's net/bridge/br_stp_if.c), which changes whenever a
// container with a lower one joins or that container leaves. A container
// that resolved the gateway before then sends to the old address, which
// the host no longer takes as its own, and loses every packet to the
// gateway, and so to the outside, for tens of seconds: until its ARP entry
// goes stale and the probes of the old address fail (arp(7):
// base_reachable_time_ms, delay_first_probe_time, ucast_solicit). docker
// gives its bridge an
// address for the same reason. This one is derived from the gateway
// address (locally administered, unicast: 02:00 and the four bytes of
// 172.30.0.1), so the bridge of a subnet always has the same one.
func bridgeMAC(subnet netip.Prefix) net.HardwareAddr {
	gw := Gateway(subnet).As4()
	return net.HardwareAddr{0x02, 0x00, gw[0], gw[1], gw[2], gw[3]}
}

// deleteBridge removes the bridge; ports still attached are detached.
func deleteBridge(name string, n *explain.Narrator) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	return step(n, "rtnetlink(7)", fmt.Sprintf("RTM_DELLINK(name=%q)", name), "deleting bridge "+name,
		func() error { return netlink.LinkDel(l) })
}

// hostVethName derives the name of the host end of a container's veth
// pair from its id: "mc-" and up to 12 of its letters and digits (a link
// name has at most 15 characters, IFNAMSIZ). The other end is eth0 in the
// container's namespace from the start (createVeth).
func hostVethName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() == 12 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return "mc-" + b.String()
}

// createVeth makes the pair with its host end here, plugged into the
// bridge and up, and its other end already in the network namespace of
// process pid, as eth0 — `ip link add mc-ID type veth peer name eth0
// netns PID`: IFLA_NET_NS_PID among the peer's attributes (veth(4),
// rtnetlink(7)). Made in the host and then moved (`ip link set ... netns
// PID`), the peer would cost the kernel a second round: a move takes the
// device down, unlists it, waits for an RCU grace period
// (dev_change_net_namespace in net/core/dev.c calls synchronize_net(),
// with the rtnl lock held) and lists it again in the other namespace;
// docs/performance.md has the figures. Made there, it is registered once,
// where it stays, and needs no rename: names are per namespace.
func createVeth(host, bridge string, pid int, n *explain.Narrator) error {
	n.Note("a veth pair is a cable: what goes in one end comes out of the other; its far end is made in the container")
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("finding bridge %s: %w", bridge, err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: "eth0", PeerNamespace: netlink.NsPid(pid)}
	if err := step(n, "veth(4)", fmt.Sprintf("RTM_NEWLINK(name=%q, kind=\"veth\", peer=\"eth0\", peer IFLA_NET_NS_PID=%d)", host, pid),
		"creating veth pair "+host, func() error { return netlink.LinkAdd(veth) }); err != nil {
		return err
	}
	if err := ignoreRouterAdverts(host, n); err != nil {
		return err
	}
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWLINK(name=%q, master=%q)", host, bridge),
		"plugging "+host+" into "+bridge, func() error { return netlink.LinkSetMaster(veth, br) }); err != nil {
		return err
	}
	return step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWLINK(name=%q, flags=IFF_UP)", host),
		"bringing "+host+" up", func() error { return netlink.LinkSetUp(veth) })
}

// configureInside gives eth0 the address, brings it up and adds the
// default route via the gateway (lo is the init's job, see
// LoopbackUp) — all inside the
// container's network namespace, through a netlink socket opened there
// (netlink.NewHandleAt opens it on a thread that joined the namespace with
// setns(2) and returns: a socket keeps the namespace it was created in).
func configureInside(pid int, addr netip.Prefix, gw netip.Addr, n *explain.Narrator) error {
	h, err := handleIn(pid)
	if err != nil {
		return err
	}
	defer h.Close()
	n.Note("now inside the container: a netlink socket opened in /proc/%d/ns/net", pid)
	l, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("finding eth0 in the container: %w", err)
	}
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWADDR(dev=\"eth0\", addr=%s)", addr),
		"adding "+addr.String()+" to eth0", func() error { return h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}) }); err != nil {
		return err
	}
	if err := step(n, "rtnetlink(7)", `RTM_NEWLINK(name="eth0", flags=IFF_UP)`,
		"bringing eth0 up", func() error { return h.LinkSetUp(l) }); err != nil {
		return err
	}
	route := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice()}
	if err := step(n, "rtnetlink(7)", fmt.Sprintf("RTM_NEWROUTE(dst=0.0.0.0/0, gateway=%s, dev=\"eth0\")", gw),
		"adding the default route via "+gw.String(), func() error { return h.RouteAdd(route) }); err != nil {
		return err
	}
	return waitOperUp(h, l.Attrs().Index, n)
}

// handleIn opens a netlink socket in the network namespace of pid. The
// namespace's descriptor is needed only while the socket is made.
func handleIn(pid int) (*netlink.Handle, error) {
	nsPath := fmt.Sprintf("/proc/%d/ns/net", pid)
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink socket in %s: %w", nsPath, err)
	}
	return h, nil
}

// waitOperUp waits until eth0 can send: its operstate is up.
//
// eth0's carrier comes on with the host end's, but like the host end it
// is not usable until the kernel's linkwatch work has run for it
// (net/core/link_watch.c, linkwatch_do_dev): that sets the operstate
// (RFC 2863) and then attaches the device's queueing discipline
// (dev_activate). Until then it has the noop one, which drops every
// packet: the container's first ARP request for the gateway, resent only
// a second later (arp(7), retrans_time_ms). The two ends of a veth are
// separate linkwatch events, and one run of that work handles a bounded
// batch of devices and defers the rest, by up to a second: with many
// containers starting at once on a slow machine, the host end may be
// forwarding (waitForwarding) while eth0 still waits. The pure cgroup v2
// VM showed it: 2 of 60 concurrent containers' first pings took 1.02 s.
func waitOperUp(h *netlink.Handle, index int, n *explain.Narrator) error {
	var oper netlink.LinkOperState
	looks, took, err := poll(portReadyTimeout, func() (bool, error) {
		l, err := h.LinkByIndex(index)
		if err != nil {
			return false, fmt.Errorf("waiting for eth0 to come up: %w", err)
		}
		oper = l.Attrs().OperState
		return oper == netlink.OperUp, nil
	})
	if errors.Is(err, errNotReady) {
		return fmt.Errorf("eth0 in the container not up after %v (operstate %s)", portReadyTimeout, oper)
	}
	if err == nil {
		n.Note("eth0 up (operstate): %d look(s), %v", looks, took)
	}
	return err
}

// errNotReady: poll's timeout passed.
var errNotReady = errors.New("not ready in time")

// poll asks ready every millisecond until it answers true or an error, or
// timeout has passed (errNotReady). It returns how many looks it took and
// how long.
func poll(timeout time.Duration, ready func() (bool, error)) (int, time.Duration, error) {
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for looks := 1; ; looks++ {
		ok, err := ready()
		if !ok && err == nil && time.Now().After(deadline) {
			err = errNotReady
		}
		if ok || err != nil {
			return looks, time.Since(start).Round(time.Microsecond), err
		}
		time.Sleep(time.Millisecond)
	}
}

// deleteLink removes a link if it exists. Deleting one end of a veth pair
// deletes the other, wherever it is. When the container has ended, the
// kernel deletes the pair too, with the container's network namespace, in
// the background: whichever comes first does it.
func deleteLink(name string, n *explain.Narrator) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		n.Note("%s went with the container's network namespace", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	err = netlink.LinkDel(l)
	n.Call("rtnetlink(7)", fmt.Sprintf("RTM_DELLINK(name=%q)", name), nil, err)
	switch {
	case errors.Is(err, unix.ENODEV):
		// The container's namespace died with its last process, and the
		// kernel, dismantling it in the background, deleted the pair
		// between our lookup and our request: gone is what we wanted.
		n.Note("%s went with the container's network namespace", name)
		return nil
	case err != nil:
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

// ignoreRouterAdverts makes the host deaf to IPv6 router advertisements
// arriving on a link it shares with containers: accept_ra=0 and autoconf=0
// (ip-sysctl in the kernel's networking docs). With the defaults (1, and
// IPv6 forwarding off) one RA sent by a container — root in its own network
// namespace may send anything on its eth0 — gave the host a default route
// via the container and a global address (CVE-2020-13401; docker sets the
// same on its bridge). It is written while the link is still down and in
// no bridge, before any container can be attached; on a host without IPv6
// there is nothing to listen to.
func ignoreRouterAdverts(link string, n *explain.Narrator) error {
	dir := "/proc/sys/net/ipv6/conf/" + link
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, f := range []string{"accept_ra", "autoconf"} {
		if err := writeSysctl(n, dir+"/"+f, "0"); err != nil {
			return err
		}
	}
	return nil
}

// writeSysctl writes a /proc/sys file. Files under /proc/sys/net belong to
// the network namespace of the process that opens them.
func writeSysctl(n *explain.Narrator, path, value string) error {
	return step(n, "proc(5)", fmt.Sprintf("write(%q, %q)", path, value), "setting "+path,
		func() error { return os.WriteFile(path, []byte(value), 0o644) })
}

// portReadyTimeout bounds waitForwarding: the kernel enables a port within
// milliseconds, even under load; seconds mean something else is wrong.
const portReadyTimeout = 5 * time.Second

// waitForwarding waits until the bridge forwards frames from the host end
// of the veth, and the bridge itself can send (its operstate is up).
//
// Bringing a link up does not make it usable at once. The veth's carrier
// comes on when its second end goes up (eth0, inside), but the kernel hands
// the change to the bridge later, from its linkwatch work queue
// (net/core/link_watch.c), which needs the rtnl lock every concurrent
// netlink request also takes. Until that work has run, the port is
// BR_STATE_DISABLED and the bridge drops every frame arriving on it — the
// container's first ARP request for the gateway, retried only a second
// later (retrans_time_ms, see arp(7)): a `ping -c1 -W1` started at once
// gets no answer. With STP off (a new bridge's default) an enabled port
// forwards at once: there is no forward delay to wait for.
//
// The state is read the way `ip -d link show` reads it: RTM_GETLINK, the
// IFLA_BRPORT_STATE inside IFLA_LINKINFO's IFLA_INFO_SLAVE_DATA
// (rtnetlink(7), linux/if_link.h).
func waitForwarding(host, bridge string, n *explain.Narrator) error {
	var port uint8
	var brOper netlink.LinkOperState
	looks, took, err := poll(portReadyTimeout, func() (bool, error) {
		var perr, berr error
		port, _, perr = linkState(host)
		_, brOper, berr = linkState(bridge)
		if err := errors.Join(perr, berr); err != nil {
			return false, fmt.Errorf("waiting for port %s of bridge %s to forward: %w", host, bridge, err)
		}
		return port == brStateForwarding && brOper == netlink.OperUp, nil
	})
	if errors.Is(err, errNotReady) {
		return fmt.Errorf("port %s of bridge %s not forwarding after %v (port state %d, %s %s)",
			host, bridge, portReadyTimeout, port, bridge, brOper)
	}
	if err == nil {
		n.Note("port %s of %s forwarding and %s up: %d look(s), %v", host, bridge, bridge, looks, took)
	}
	return err
}

// brStateForwarding is BR_STATE_FORWARDING (linux/if_bridge.h).
const brStateForwarding = 3

// linkState returns a link's bridge port state (0, BR_STATE_DISABLED, when
// it is no bridge port) and its operstate (RFC 2863, IFLA_OPERSTATE).
func linkState(name string) (port uint8, oper netlink.LinkOperState, err error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, 0, err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, 0, fmt.Errorf("RTM_GETLINK %s: %w", name, err)
	}
	for _, m := range msgs {
		info := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[info.Len():])
		if err != nil {
			return 0, 0, err
		}
		for _, a := range attrs {
			switch a.Attr.Type &^ unix.NLA_F_NESTED {
			case unix.IFLA_OPERSTATE:
				oper = netlink.LinkOperState(a.Value[0])
			case unix.IFLA_LINKINFO:
				port = brportState(a.Value)
			}
		}
	}
	return port, oper, nil
}

// brportState finds IFLA_BRPORT_STATE in the value of IFLA_LINKINFO.
func brportState(linkinfo []byte) uint8 {
	infos, err := nl.ParseRouteAttr(linkinfo)
	if err != nil {
		return 0
	}
	for _, i := range infos {
		if i.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_INFO_SLAVE_DATA {
			continue
		}
		data, err := nl.ParseRouteAttr(i.Value)
		if err != nil {
			return 0
		}
		for _, d := range data {
			if d.Attr.Type&^unix.NLA_F_NESTED == unix.IFLA_BRPORT_STATE && len(d.Value) > 0 {
				return d.Value[0]
			}
		}
	}
	return 0
}
