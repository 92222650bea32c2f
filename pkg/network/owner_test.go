package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKilledWhileMaking kills the minicontainer side (SIGKILL, through
// MINICONTAINER_FAULT=die:STEP as cmd/minicontainer's TestFaultSteps
// does) right after each thing Reserve makes on the host — the bridge's
// address, the bridge up, ip_forward, the NAT table — and once everything
// is made; then Reclaim (what `minicontainer gc` runs) must leave the host
// as it was, ip_forward back at 0 included. A last run releases normally,
// for the same check.
func TestKilledWhileMaking(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	forward := func() string { return strings.TrimSpace(sh(t, "cat /proc/sys/net/ipv4/ip_forward")) }
	sh(t, "echo 0 > /proc/sys/net/ipv4/ip_forward")
	// "port-rules" is Connect's last step: all is made.
	for _, step := range []string{"bridge-address", "bridge", "ip-forward", "nat", "port-rules"} {
		dieAt(t, step, startNetns(t), stateDir)
		if _, err := Reclaim(stateDir, nil); err != nil {
			t.Errorf("killed after %s: Reclaim: %v", step, err)
		}
		if got := forward(); got != "0" {
			t.Errorf("killed after %s, then Reclaim: ip_forward = %s, want 0 as before", step, got)
			sh(t, "echo 0 > /proc/sys/net/ipv4/ip_forward")
		}
		assertHostClean(t, stateDir)
		sh(t, "ip link del mc0 2>/dev/null; nft delete table ip minicontainer 2>/dev/null; true")
	}

	// Killed half-way through making the bridge (its address added, not
	// yet up), and no gc: the next container must get a working bridge.
	dieAt(t, "bridge-address", startNetns(t), stateDir)
	next := connect(t, Request{ID: "next0001", StateDir: stateDir}, nil)
	if out, err := in(next.pid, busybox, "ping", "-c1", "-W1", next.ep.Gateway.String()).CombinedOutput(); err != nil {
		t.Errorf("after a run killed half-way through making the bridge, the next one cannot ping the gateway: %v\n%s", err, out)
	}
	if err := next.ep.Release(nil); err != nil {
		t.Fatal(err)
	}
	if got := forward(); got != "0" {
		t.Errorf("ip_forward = %s after the next container, want 0", got)
	}
	assertHostClean(t, stateDir)

	c := connect(t, Request{ID: "normal01", StateDir: stateDir}, nil)
	if got := forward(); got != "1" {
		t.Errorf("ip_forward = %s while a container runs", got)
	}
	if err := c.ep.Release(nil); err != nil {
		t.Fatal(err)
	}
	if got := forward(); got != "0" {
		t.Errorf("ip_forward = %s after a normal release, want 0", got)
	}
	assertHostClean(t, stateDir)
}

// dieAt runs mctest-connect for the container ctr with
// MINICONTAINER_FAULT=die:step, and checks that it killed itself there,
// before it printed anything.
func dieAt(t *testing.T, step string, ctr int, stateDir string) {
	t.Helper()
	line, helper := connectHelper(t, "die:"+step, false, strconv.Itoa(ctr), stateDir, "dying01")
	if line != "" {
		helper.Process.Kill() // it went past the step, and waits to be killed
	}
	if !killedBy(helper) || line != "" {
		t.Fatalf("die:%s: the helper ended with %v, after printing %q", step, helper.ProcessState, line)
	}
}

// TestForeignBridge: a bridge named mc0 made by hand (10.77.0.1/24), or a
// table ip minicontainer made by someone else, is refused with one line
// and left exactly as it was.
func TestForeignBridge(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	sh(t, "ip link add mc0 type bridge && ip addr add 10.77.0.1/24 dev mc0 && ip link set mc0 up")
	want := "a network interface mc0 (bridge 10.77.0.1/24) exists that minicontainer did not create; it will not take it over: remove or rename it"
	if err := Check(Request{StateDir: stateDir}); err == nil || err.Error() != want {
		t.Errorf("Check with a foreign mc0: %v", err)
	}
	if left, _ := os.ReadDir(stateDir); len(left) > 0 {
		t.Errorf("a refused Check left %s", left[0].Name())
	}
	if _, err := Reserve(Request{ID: "foreign1", StateDir: stateDir}, nil); err == nil || err.Error() != want {
		t.Errorf("Reserve with a foreign mc0: %v", err)
	}
	if err := Remove(stateDir, "mc0", nil); err == nil || !strings.Contains(err.Error(), "not made by minicontainer") {
		t.Errorf("network rm of a foreign mc0: %v", err)
	}
	if out := sh(t, "ip -o -4 addr show dev mc0"); !strings.Contains(out, "inet 10.77.0.1/24") {
		t.Errorf("the foreign mc0 was changed: %q", out)
	}
	if got := strings.TrimSpace(sh(t, "cat /proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Errorf("ip_forward = %s after a refusal", got)
	}
	sh(t, "ip link del mc0")

	sh(t, "nft add table ip minicontainer && nft add chain ip minicontainer theirs")
	want = "an nftables table ip minicontainer exists that minicontainer did not create; it will not take it over: remove it (nft delete table ip minicontainer)"
	if _, err := Reserve(Request{ID: "foreign2", StateDir: stateDir}, nil); err == nil || err.Error() != want {
		t.Errorf("Reserve with a foreign table: %v", err)
	}
	if out := sh(t, "nft list table ip minicontainer"); !strings.Contains(out, "chain theirs") {
		t.Errorf("the foreign table was changed:\n%s", out)
	}
	sh(t, "nft delete table ip minicontainer")
	assertHostClean(t, stateDir)
}

// TestReclaimInAnotherNetns: a run in another network namespace (as under
// `ip netns exec`) is killed; Reclaim called from this one (gc run from the
// machine's namespace) finds that namespace by the book's inode, enters it,
// and removes the bridge, the table and the veth there, and puts its
// ip_forward back.
func TestReclaimInAnotherNetns(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := checkedStateDir(t)
	ctr := startNetns(t)
	line, helper := connectHelper(t, "", true, strconv.Itoa(ctr), stateDir, "elsewhere")
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()
	var keeper int
	if _, err := fmt.Sscanf(line, "connected %d", &keeper); err != nil {
		t.Fatalf("helper: %q", line)
	}
	t.Cleanup(func() {
		syscall.Kill(keeper, syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(keeper, &ws, 0, nil) // ours to reap: the test is a child subreaper (hostcheck)
	})
	other := func(args ...string) string { return run(t, in(keeper, args...)) }
	if !strings.Contains(other("ip", "-o", "link", "show"), "mc0") || strings.TrimSpace(other("cat", "/proc/sys/net/ipv4/ip_forward")) != "1" {
		t.Fatalf("the killed run left no bridge or no ip_forward=1 in its namespace")
	}
	ids, err := Reclaim(stateDir, nil)
	if err != nil || len(ids) != 1 || ids[0] != "elsewhere" {
		t.Errorf("Reclaim from another namespace = %v, %v", ids, err)
	}
	if links := other("ip", "-o", "link", "show"); strings.Contains(links, "mc") {
		t.Errorf("links left in the other namespace:\n%s", links)
	}
	if got := strings.TrimSpace(other("cat", "/proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Errorf("ip_forward = %s in the other namespace after Reclaim, want 0", got)
	}
	if tables := other("nft", "list", "tables"); strings.Contains(tables, TableName) {
		t.Errorf("table left in the other namespace: %s", tables)
	}
	assertHostClean(t, stateDir)
}

// TestCheckWhileMaking: minicontainers starting and ending at once make
// and remove mc0 again and again; a Check (which every run does first) must
// never take a bridge that another is making at that moment for one that
// minicontainer did not create.
func TestCheckWhileMaking(t *testing.T) {
	if !inHostNetns(t) {
		return
	}
	stateDir := filepath.Join(t.TempDir(), "network")
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 20 {
				req := Request{ID: fmt.Sprintf("cw%02d%03d", g, i), StateDir: stateDir}
				if err := Check(req); err != nil {
					t.Errorf("Check: %v", err)
					return
				}
				ep, err := Reserve(req, nil)
				if err != nil {
					t.Errorf("Reserve: %v", err)
					return
				}
				if err := ep.Release(nil); err != nil {
					t.Errorf("Release: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	assertHostClean(t, stateDir)
}
