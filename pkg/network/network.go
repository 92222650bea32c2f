// Package network gives a container the virtual network card the article
// could not create: a veth pair (see veth(4)) whose one end becomes the
// container's eth0 and whose other end is plugged into a bridge on the
// host, plus NAT so the container reaches beyond the host, and published
// ports so the host reaches into the container.
//
//	 host network namespace                       container network namespace
//	┌──────────────────────────────────────────┐   ┌───────────────────────────┐
//	│ eth0 (the machine's) ◄── NAT (nftables)  │   │ eth0 172.30.0.2/16        │
//	│                            ▲             │   │  default via 172.30.0.1   │
//	│ mc0 bridge 172.30.0.1/16 ──┘             │   │ lo 127.0.0.1              │
//	│   └── mc-<id> (host end) ════════════════╪═══╪══ (peer end, renamed eth0)│
//	└──────────────────────────────────────────┘   └───────────────────────────┘
//
// Every link, address and route is made through rtnetlink(7) with
// github.com/vishvananda/netlink (the library runc and the CNI plugins
// use) and every NAT rule through nftables' netlink API with
// github.com/google/nftables, so the steps are the kernel's own
// messages, which --explain narrates, not ip(8) or nft(8) run as a shell.
//
// All host-side calls act on the network namespace of the calling process:
// the "host" is wherever minicontainer runs, which lets tests (and the
// lesson's transcripts) run it inside a namespace they made.
package network

import (
	"fmt"
	"strings"
)

// Mode is how a container is networked (minicontainer run --net).
type Mode string

const (
	// ModeNone: a network namespace of its own with only the loopback up.
	ModeNone Mode = "none"
	// ModeHost: no network namespace; the container shares the host's.
	ModeHost Mode = "host"
	// ModeBridge: its own namespace, a veth to the bridge, NAT, ports.
	ModeBridge Mode = "bridge"
)

// ParseMode checks a --net value.
func ParseMode(s string) (Mode, error) {
	modes := []Mode{ModeNone, ModeHost, ModeBridge, ModeSlirp}
	for _, m := range modes {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown network mode %q (want one of %s)", s, strings.Join(names, ", "))
}

const (
	// DefaultBridge is the name of the bridge containers are plugged into.
	DefaultBridge = "mc0"
	// DefaultSubnet is a private range (RFC 1918) that stays clear of
	// docker's default 172.17.0.0/16 and podman's 10.88.0.0/16, and of
	// the 10.x and 192.168.x ranges home and office networks use most.
	// When it still collides with a route on the host, --subnet picks another.
	DefaultSubnet = "172.30.0.0/16"
	// DefaultStateDir holds the address books (one JSON file per bridge
	// and network namespace, network-net-INODE-BRIDGE.json) and their
	// locks, beside the default root's container directories — for every
	// --root: a network namespace has one bridge, so one book. /run is a
	// tmpfs: a reboot forgets them, as it forgets the bridges and veths
	// they describe.
	DefaultStateDir = "/run/minicontainer"
	// TableName is the nftables table (family ip) that holds all our NAT
	// rules; we never touch a table we did not create.
	TableName = "minicontainer"
)
