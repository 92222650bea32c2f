package network

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/proc"
)

func TestParseSubnet(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{"172.30.0.0/16", ""},
		{"10.99.1.0/24", ""},
		{"192.168.7.0/30", ""},
		{"172.30.0.0", "not an address/length"},
		{"banana", "not an address/length"},
		{"172.30.0.1/16", "host bits set (did you mean 172.30.0.0/16?)"},
		{"fd00::/64", "only IPv4"},
		{"10.0.0.0/31", "between /8 and /30"},
		{"10.0.0.0/7", "between /8 and /30"},
		{"127.0.0.0/8", "special-purpose"},
		{"169.254.0.0/16", "special-purpose"},
		{"224.0.0.0/8", "special-purpose"},
		{"240.0.0.0/8", "special-purpose"},
	} {
		_, err := ParseSubnet(c.in)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseSubnet(%q) = %v, want error containing %q", c.in, err, c.err)
		}
	}
}

func TestParsePort(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Port
		err  string
	}{
		{"8080:80", Port{8080, 80, "tcp"}, ""},
		{"8080:80/tcp", Port{8080, 80, "tcp"}, ""},
		{"53:5353/udp", Port{53, 5353, "udp"}, ""},
		{"8080", Port{}, "want HOSTPORT:CTRPORT"},
		{"8080:80/sctp", Port{}, "tcp or udp"},
		{"0:80", Port{}, "from 1 to 65535"},
		{"70000:80", Port{}, "from 1 to 65535"},
		{"a:b", Port{}, "from 1 to 65535"},
	} {
		got, err := ParsePort(c.in)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParsePort(%q) = %v, %v; want %v, error containing %q", c.in, got, err, c.want, c.err)
		}
	}
	if s := (Port{8080, 80, "tcp"}).String(); s != "8080:80/tcp" {
		t.Errorf("String = %q", s)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []string{"none", "host", "bridge"} {
		if got, err := ParseMode(m); err != nil || string(got) != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("macvlan"); err == nil || err.Error() != `unknown network mode "macvlan" (want one of none, host, bridge, slirp)` {
		t.Errorf("ParseMode(macvlan) = %v", err)
	}
}

func TestAllocate(t *testing.T) {
	st := &State{Subnet: netip.MustParsePrefix("10.1.0.0/29")} // .0 net, .1 gateway, .7 broadcast
	var got []string
	for range 5 {
		a, err := allocate(st)
		if err != nil {
			t.Fatal(err)
		}
		st.Leases = append(st.Leases, Lease{Address: a})
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "10.1.0.2 10.1.0.3 10.1.0.4 10.1.0.5 10.1.0.6" {
		t.Errorf("allocated %v", got)
	}
	if _, err := allocate(st); err == nil || !strings.Contains(err.Error(), "is full") {
		t.Errorf("allocate on a full subnet: %v", err)
	}
	st.Leases = append(st.Leases[:1], st.Leases[2:]...) // 10.1.0.3 released
	if a, _ := allocate(st); a.String() != "10.1.0.3" {
		t.Errorf("after a release got %s, want the freed 10.1.0.3", a)
	}
	if b := broadcast(netip.MustParsePrefix("172.30.0.0/16")); b.String() != "172.30.255.255" {
		t.Errorf("broadcast = %s", b)
	}
}

func TestHostVethName(t *testing.T) {
	if h := hostVethName("3f2a9c01d4e5b6a7"); h != "mc-3f2a9c01d4e5" {
		t.Errorf("hostVethName = %s", h)
	}
	if h := hostVethName("web-1"); h != "mc-web1" {
		t.Errorf("hostVethName(web-1) = %s", h)
	}
}

func TestFiles(t *testing.T) {
	ep := &Endpoint{
		Request: Request{ID: "x", Name: "web", Hostname: "web"},
		Address: netip.MustParsePrefix("172.30.0.3/16"),
		Others:  []Lease{{Name: "db", Hostname: "dbhost", Address: netip.MustParseAddr("172.30.0.2")}, {Address: netip.MustParseAddr("172.30.0.4")}},
	}
	want := "172.30.0.3\tweb\n172.30.0.2\tdb\n"
	if got := string(ep.HostsEntries()); got != want {
		t.Errorf("HostsEntries:\n%s\nwant:\n%s", got, want)
	}
	got := string(ResolvConf([]byte("# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n")))
	want = "# written by minicontainer from the host's /etc/resolv.conf\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
	if got != want {
		t.Errorf("ResolvConf:\n%s\nwant:\n%s", got, want)
	}
	if got := string(ResolvConf([]byte("nameserver 127.0.0.53\n"))); !strings.Contains(got, "only /etc/hosts names resolve") {
		t.Errorf("ResolvConf with only a loopback server:\n%s", got)
	}
}

// TestForgetDeadNamespaces: the address book of a network namespace that no
// longer exists is removed once none of its owners runs; one whose owner
// runs stays.
func TestForgetDeadNamespaces(t *testing.T) {
	base := t.TempDir()
	write := func(name string, owner int, start uint64) {
		st := &State{Bridge: "mc0", Subnet: netip.MustParsePrefix("172.30.0.0/16"),
			Leases: []Lease{{ID: "x", Address: netip.MustParseAddr("172.30.0.2"), Owner: owner, OwnerStart: start}}}
		s := &store{prefix: filepath.Join(base, name), bridge: "mc0"}
		if err := s.write(st); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(lockPath(s.prefix, "mc0"), nil, 0o644)
	}
	write("network-net-1-", 1<<22+7, 12345)                           // no such namespace, no such owner
	write("network-net-2-", os.Getpid(), proc.StartTime(os.Getpid())) // no such namespace, owner alive
	forgetDeadNamespaces(base)
	left, _ := filepath.Glob(filepath.Join(base, "*"))
	var names []string
	for _, l := range left {
		names = append(names, filepath.Base(l))
	}
	if strings.Join(names, " ") != "network-net-2-mc0.json network-net-2-mc0.lock" {
		t.Errorf("left: %v", names)
	}
}

// TestRemoveLeavesNoFile: a book removed with its bridge takes the
// temporary file a writer killed before its rename(2) left (the SIGKILLs
// of make stress left one in /run/minicontainer).
func TestRemoveLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s, err := lockState(filepath.Join(dir, "network-net-1-"), "mc0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.statePath()+".tmp", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.remove()
	s.unlock()
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
