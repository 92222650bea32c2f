package network

import (
	"encoding/json"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// What minicontainer asks of slirp4netns, checked without running it: the
// command line and the API's request and answers, as slirp4netns(1)
// documents them (the running program is tested in cmd/minicontainer's
// TestSlirp).

func TestSlirpArgs(t *testing.T) {
	got := SlirpArgs(4242, "")
	want := []string{"--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", "4242", "tap0"}
	if !slices.Equal(got, want) {
		t.Errorf("SlirpArgs(4242, \"\") = %q, want %q", got, want)
	}
	got = SlirpArgs(4242, "/run/x/slirp4netns.sock")
	if i := slices.Index(got, "--api-socket=/run/x/slirp4netns.sock"); i < 0 || i > len(got)-3 {
		t.Errorf("SlirpArgs with a socket = %q: want --api-socket=PATH among the options, before PID and TAPNAME", got)
	}
}

func TestHostfwdRequest(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal(HostfwdRequest(Port{Host: 8080, Container: 80, Proto: "tcp"}), &got); err != nil {
		t.Fatal(err)
	}
	// The man page's example, with guest_addr --configure's address.
	var want map[string]any
	json.Unmarshal([]byte(`{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "0.0.0.0", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}`), &want)
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("request %s, want %s", g, w)
	}
	if r := string(HostfwdRequest(Port{Host: 5353, Container: 53, Proto: "udp"})); !strings.Contains(r, `"proto":"udp"`) {
		t.Errorf("udp request %s: want proto udp", r)
	}
}

func TestParseHostfwdReply(t *testing.T) {
	if id, err := ParseHostfwdReply([]byte(`{"return": {"id": 42}}` + "\n")); id != 42 || err != nil {
		t.Errorf(`{"return": {"id": 42}}: %d, %v; want 42`, id, err)
	}
	// An error's desc is the error, word for word.
	if _, err := ParseHostfwdReply([]byte(`{"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed"}}`)); err == nil || err.Error() != "bad request: add_hostfwd: slirp_add_hostfwd failed" {
		t.Errorf("an error reply: %v, want its desc", err)
	}
	for reply, want := range map[string]string{
		`{}`:        "neither return nor error",
		`garbage`:   "slirp4netns's API answered",
		``:          "slirp4netns's API answered",
		`{"return"`: "slirp4netns's API answered",
	} {
		if _, err := ParseHostfwdReply([]byte(reply)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", reply, err, want)
		}
	}
}

// CheckSlirpPorts listens and lets go: a port someone listens on is
// refused, a free one is left free, and one given twice is refused.
func TestCheckSlirpPorts(t *testing.T) {
	l, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Skip(err)
	}
	busy := uint16(l.Addr().(*net.TCPAddr).Port)
	err = CheckSlirpPorts([]Port{{Host: busy, Container: 80, Proto: "tcp"}})
	l.Close()
	if err == nil || err.Error() != "port "+strconv.Itoa(int(busy))+"/tcp is already in use on the host" {
		t.Errorf("a busy port: %v", err)
	}
	if err := CheckSlirpPorts([]Port{{Host: busy, Container: 80, Proto: "tcp"}}); err != nil {
		t.Errorf("a free port: %v", err)
	}
	// Free again after the check: it held nothing.
	if l, err := net.Listen("tcp4", ":"+strconv.Itoa(int(busy))); err != nil {
		t.Errorf("after the check: %v", err)
	} else {
		l.Close()
	}
	twice := []Port{{Host: busy, Container: 80, Proto: "tcp"}, {Host: busy, Container: 81, Proto: "tcp"}}
	if err := CheckSlirpPorts(twice); err == nil || !strings.Contains(err.Error(), "published twice") {
		t.Errorf("a port twice: %v", err)
	}
	if os.Geteuid() != 0 {
		err := CheckSlirpPorts([]Port{{Host: 1, Container: 80, Proto: "tcp"}})
		if err == nil || !strings.Contains(err.Error(), "below net.ipv4.ip_unprivileged_port_start") {
			t.Errorf("port 1 as a user: %v", err)
		}
	}
}

func TestTail(t *testing.T) {
	var o tail
	if got := o.last(); got != "(no output)" {
		t.Errorf("empty: %q", got)
	}
	o.Write([]byte("WARNING: Support for sandboxing is experimental\n"))
	o.Write([]byte("ioctl(TUNSETIFF): Inappropriate ioctl for device\nchild failed(1)\n\n"))
	if got := o.last(); got != "ioctl(TUNSETIFF): Inappropriate ioctl for device" {
		t.Errorf("last = %q", got)
	}
	o.Write([]byte(strings.Repeat("x", 10000)))
	if len(o.buf) > 4096 {
		t.Errorf("kept %d bytes", len(o.buf))
	}
}
