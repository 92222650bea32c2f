package network

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestBadInput: a subnet overlapping a host route, a port in use, a
// second subnet while the bridge is in use — each a clear error, with
// nothing made.
func TestBadInput(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)

	// A route of the host covering part of the default subnet (on a veth:
	// this kernel has no dummy driver).
	sh(t, "ip link add mctdummy type veth peer name mctdummy1 && ip addr add 172.30.5.1/24 dev mctdummy && ip link set mctdummy up && ip link set mctdummy1 up")
	_, err := Reserve(Request{ID: "bad1", StateDir: stateDir}, nil)
	if err == nil || err.Error() != "subnet 172.30.0.0/16 overlaps the host route 172.30.5.0/24 dev mctdummy; choose another with --subnet" {
		t.Errorf("overlapping subnet: %v", err)
	}
	if err := Check(Request{StateDir: stateDir}); err == nil || !strings.Contains(err.Error(), "overlaps the host route") {
		t.Errorf("Check of an overlapping subnet: %v", err)
	}
	sh(t, "ip link del mctdummy")
	assertHostClean(t, stateDir)

	// A port some program of the host already listens on.
	l, err := net.Listen("tcp4", ":8081")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Reserve(Request{ID: "bad2", Ports: []Port{{8081, 80, "tcp"}}, StateDir: stateDir}, nil)
	if err == nil || err.Error() != "port 8081/tcp is already in use on the host" {
		t.Errorf("port in use: %v", err)
	}
	if err := Check(Request{Ports: []Port{{8081, 80, "tcp"}}, StateDir: stateDir}); err == nil || err.Error() != "port 8081/tcp is already in use on the host" {
		t.Errorf("Check of a port in use: %v", err)
	}
	l.Close()
	_, err = Reserve(Request{ID: "bad3", Ports: []Port{{8082, 80, "tcp"}, {8082, 81, "tcp"}}, StateDir: stateDir}, nil)
	if err == nil || err.Error() != "port 8082/tcp published twice" {
		t.Errorf("port twice: %v", err)
	}
	assertHostClean(t, stateDir)

	// Another subnet while a container uses the bridge.
	ep, err := Reserve(Request{ID: "good", StateDir: stateDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Reserve(Request{ID: "bad4", Subnet: mustPrefix("10.5.0.0/24"), StateDir: stateDir}, nil)
	if err == nil || err.Error() != "bridge mc0 serves 172.30.0.0/16; it cannot take --subnet 10.5.0.0/24 while 1 container(s) use it" {
		t.Errorf("second subnet: %v", err)
	}
	if err := Check(Request{Subnet: mustPrefix("10.5.0.0/24"), StateDir: stateDir}); err == nil || !strings.Contains(err.Error(), "cannot take --subnet 10.5.0.0/24") {
		t.Errorf("Check of a second subnet: %v", err)
	}
	if err := Check(Request{StateDir: stateDir}); err != nil {
		t.Errorf("Check of joining the bridge: %v", err)
	}
	if err := Remove(stateDir, "mc0", nil); err == nil || err.Error() != "network mc0 is in use by 1 container(s)" {
		t.Errorf("network rm while in use: %v", err)
	}
	if err := ep.Release(nil); err != nil {
		t.Fatal(err)
	}
	if err := Remove(stateDir, "mc0", nil); err == nil || err.Error() != "no network mc0" {
		t.Errorf("network rm of no network: %v", err)
	}
	assertHostClean(t, stateDir)
}

// TestReclaim kills the minicontainer side with SIGKILL while its container
// runs: the lease, veth, port rule and bridge stay until Reclaim (what
// `minicontainer gc` runs) removes them by what the state file records.
func TestReclaim(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	ctr := startNetns(t)
	line, helper := connectHelper(t, "", false, strconv.Itoa(ctr), stateDir, "killed01", "8090")
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()
	if line != "connected 0\n" {
		t.Fatalf("helper: %q", line)
	}

	if links := sh(t, "ip -o link show"); !strings.Contains(links, "mc-killed01") || !strings.Contains(links, "mc0") {
		t.Fatalf("expected the killed run's veth and bridge to remain:\n%s", links)
	}
	if !strings.Contains(sh(t, "nft list table ip minicontainer"), `comment "container killed01"`) {
		t.Fatalf("expected the killed run's port rule to remain")
	}
	ids, err := Reclaim(stateDir, nil)
	if err != nil || len(ids) != 1 || ids[0] != "killed01" {
		t.Errorf("Reclaim = %v, %v", ids, err)
	}
	if out := run(t, in(ctr, "ip", "-o", "link", "show")); strings.Contains(out, "eth0") {
		t.Errorf("the container still has eth0 after Reclaim: %s", out)
	}
	assertHostClean(t, stateDir)
}

func mustPrefix(s string) netip.Prefix { p, _ := ParseSubnet(s); return p }
