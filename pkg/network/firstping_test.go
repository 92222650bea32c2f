package network

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/vishvananda/netlink"
)

var (
	looksRe    = regexp.MustCompile(`forwarding and mc0 up: (\d+) look`)
	echoTimeRe = regexp.MustCompile(`time=([0-9.]+) ms`)
)

// TestFirstPing starts many containers at once, each pinging the gateway
// once as soon as Connect returns: the first packet of a container must
// get through, not wait for a second ARP request. (Each is checked first, as
// minicontainer does: Check must not take a bridge that another is making
// at that moment for someone else's.)
func TestFirstPing(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := filepath.Join(t.TempDir(), "network")
	const count = 60
	pids := make([]int, count)
	for i := range pids {
		pids[i] = startNetns(t)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	looks := map[string]int{} // how many reads of the port state Connect needed
	start := time.Now()
	for i := range count {
		wg.Go(func() {
			// As minicontainer does: Check before making anything, then Reserve.
			req := Request{ID: fmt.Sprintf("ping%04d", i), StateDir: stateDir}
			if err := Check(req); err != nil {
				t.Errorf("Check %d: %v", i, err)
				return
			}
			ep, err := Reserve(req, nil)
			if err != nil {
				t.Errorf("Reserve %d: %v", i, err)
				return
			}
			defer ep.Release(nil)
			var log strings.Builder
			err = ep.Connect(pids[i], explain.New(&log, true))
			if m := looksRe.FindStringSubmatch(log.String()); m != nil {
				mu.Lock()
				looks[m[1]]++
				mu.Unlock()
			}
			if err != nil {
				t.Errorf("Connect %d: %v", i, err)
				return
			}
			// eth0 must be able to send when Connect returns: until the
			// kernel's linkwatch work has run for it, its operstate is
			// not up and its queueing discipline drops every packet.
			if oper, err := eth0Oper(pids[i]); err != nil || oper != netlink.OperUp {
				t.Errorf("container %d: eth0's operstate when Connect returned: %v %v, want up", i, oper, err)
			}
			// A dropped first packet shows as a round trip of a second or
			// more: the echo request waits in the neighbour queue until
			// the kernel resends the ARP request, 1 s later (arp(7),
			// retrans_time_ms). The deadline is longer than that, so a
			// machine that is only slow (60 containers starting at once on
			// 2 cores) is not mistaken for a lost packet.
			out, err := in(pids[i], busybox, "ping", "-c1", "-W5", ep.Gateway.String()).CombinedOutput()
			rtt := echoTimeRe.FindStringSubmatch(string(out))
			var ms float64
			if rtt != nil {
				ms, _ = strconv.ParseFloat(rtt[1], 64)
			}
			if err != nil || rtt == nil || ms >= 1000 {
				mu.Lock()
				failed++
				mu.Unlock()
				t.Errorf("container %d (%s): first ping to %s lost (round trip %v ms, ARP resent?): %v\n%s", i, ep.Address, ep.Gateway, ms, err, out)
			}
		})
	}
	wg.Wait()
	t.Logf("%d containers, %d first pings lost, in %v; reads of the port state until forwarding: %v", count, failed, time.Since(start), looks)
	assertHostClean(t, stateDir)
}

// TestGatewayAddressStays: a container that has resolved the gateway's
// MAC address keeps reaching it when another port joins the bridge with a
// lower address. Without an address of its own, a bridge takes the lowest
// of its ports' (br_stp_recalculate_bridge_id), which changes as
// containers come and go; a container whose frames then go to the old
// address — another port's, or no one's — has them dropped, and loses
// every packet to the gateway until its ARP entry expires.
func TestGatewayAddressStays(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	macOf := func(link string) string {
		return strings.TrimSpace(sh(t, "ip -o link show "+link+" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2"))
	}
	a := connect(t, Request{ID: "macaaaa1", StateDir: stateDir}, nil)
	b := connect(t, Request{ID: "macbbbb1", StateDir: stateDir}, nil)
	// The container whose own port does not carry mc0's address (a frame
	// to a port's own address is taken as the host's on that port alone).
	before := macOf("mc0")
	c := a
	if macOf(a.ep.HostVeth) == before {
		c = b
	}
	gw := c.ep.Gateway.String()
	if out, err := in(c.pid, busybox, "ping", "-c1", "-W2", gw).CombinedOutput(); err != nil {
		t.Fatalf("first ping to the gateway: %v\n%s", err, out)
	}
	// A port with the lowest unicast address there is, plugged in by hand
	// (its peer stays here, down: it never forwards, but joining is enough).
	sh(t, "ip link add mctlow address 00:00:00:00:00:01 type veth peer name mctlowp && ip link set mctlow master mc0")
	defer sh(t, "ip link del mctlow")
	if after := macOf("mc0"); after != before {
		t.Errorf("mc0's address changed from %s to %s when a port joined", before, after)
	}
	if out, err := in(c.pid, busybox, "ping", "-c1", "-W2", gw).CombinedOutput(); err != nil {
		t.Errorf("after a port with a lower address joined mc0, the container no longer reaches the gateway: %v\n%s\nits neighbours: %s",
			err, out, run(t, in(c.pid, "ip", "neigh")))
	}
}

// eth0Oper reads eth0's operstate in pid's network namespace.
func eth0Oper(pid int) (netlink.LinkOperState, error) {
	h, err := handleIn(pid)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		return 0, err
	}
	return l.Attrs().OperState, nil
}
