package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/network"
)

// These tests run in the test-made host network namespace (TestMain). The
// "outside" is one more namespace: a process started with CLONE_NEWNET.

func needTestHost(t *testing.T) {
	t.Helper()
	needRoot(t)
	if os.Getenv(envTestHost) != "1" {
		t.Fatal("not in the test-made host network namespace: refusing to touch the machine's network")
	}
	shell(t, "ip link set lo up")
}

func shell(t *testing.T, line string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// inNetns runs a command in the network namespace of pid.
func inNetns(pid int, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{fmt.Sprintf("--net=/proc/%d/ns/net", pid), "--"}, args...)...)
}

// startOutside makes the "outside" namespace (198.51.100.2/24, TEST-NET-2,
// RFC 5737) joined to the test host (198.51.100.1) by a veth, with the
// host's default route through it. It has no route to the containers'
// subnet: their packets come back only if the host masqueraded them.
func startOutside(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/usr/bin/busybox", "sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", "mctup").Run()
		cmd.Process.Kill()
		cmd.Wait()
	})
	shell(t, fmt.Sprintf(`ip link add mctup type veth peer name mctout && ip link set mctout netns %d &&
		ip addr add 198.51.100.1/24 dev mctup && ip link set mctup up && ip route add default via 198.51.100.2`, pid))
	if out, err := inNetns(pid, "sh", "-c", "ip addr add 198.51.100.2/24 dev mctout && ip link set mctout up && ip link set lo up").CombinedOutput(); err != nil {
		t.Fatalf("outside: %v %s", err, out)
	}
	return pid
}

// background starts `minicontainer run --name NAME ARGS` and returns when
// the network knows its address.
func background(t *testing.T, name string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("minicontainer", append([]string{"run", "--rootfs", testRootfs, "--name", name}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !waitUntil(startTimeout, func() bool {
		states, _ := container.List(testState)
		for _, s := range states {
			if s.Name == name && s.Address.IsValid() {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("container %s got no address within %v: %s", name, startTimeout, out.String())
	}
	return cmd, &out
}

// httpGet fetches / with nc (busybox's own wget crashes with SIGSEGV in
// Debian's busybox-static 1.35); on the host, nc is "busybox nc".
const httpGet = `for i in $(seq 50); do printf 'GET / HTTP/1.0\r\n\r\n' | $NC -w 2 %s %d && exit 0; sleep 0.1; done; exit 1`

// TestNetworkEndToEnd: two busybox containers ping each other by name and
// talk TCP with nc, fetch from a server outside through NAT, a published
// port answers from the host and from outside; after SIGKILL of
// minicontainer, gc leaves nothing behind.
func TestNetworkEndToEnd(t *testing.T) {
	needTestHost(t)
	check := hostcheck.Take(t, "link ", "process ")
	t.Cleanup(func() { check.Verify(t) }) // after the other cleanups, which run last-first
	outside := startOutside(t)
	www := t.TempDir()
	os.WriteFile(www+"/index.html", []byte("hello from outside\n"), 0o644)
	srv := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", outside), "--", "/usr/bin/busybox", "httpd", "-f", "-p", "198.51.100.2:8000", "-h", www)
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()

	// beta listens on TCP 7000 and serves HTTP on 80, published as 8080.
	// busybox nc copies its stdin to the connection and exits at the end
	// of its stdin: with minicontainer's /dev/null it could exit as soon as
	// it accepted, before alpha's line arrived. Its stdin is a fifo that
	// beta's shell holds open, so it reads until alpha closes.
	beta, betaOut := background(t, "beta", "-p", "8080:80", "--", "sh", "-c",
		"mkdir /www; echo hello from beta > /www/index.html; httpd -p 80 -h /www; mkfifo /in; exec 3<>/in; nc -l -p 7000 <&3")
	// alpha starts after beta, so its /etc/hosts names beta.
	r := run(t, "", "--name", "alpha", "--", "sh", "-c", `grep beta /etc/hosts; ip -4 -o addr show eth0 | awk '{print $4}';
		ping -c 5 -i 0.2 beta | tail -1;
		for i in $(seq 50); do echo hello-from-alpha | nc -w 2 beta 7000 && break; sleep 0.1; done;
		NC=nc; `+fmt.Sprintf(httpGet, "198.51.100.2", 8000)+`;`)
	t.Logf("alpha:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("alpha exited %d: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^172\.30\.0\.2\tbeta$`).MatchString(r.stdout) || !strings.Contains(r.stdout, "172.30.0.3/16") {
		t.Errorf("alpha's hosts entry for beta or its own address:\n%s", r.stdout)
	}
	if m := regexp.MustCompile(`round-trip min/avg/max = ([0-9./]+) ms`).FindStringSubmatch(r.stdout); m == nil {
		t.Errorf("no ping summary from alpha to beta:\n%s", r.stdout)
	} else {
		t.Logf("ping alpha -> beta (min/avg/max): %s ms", m[1])
	}
	if !strings.Contains(r.stdout, "hello from outside") {
		t.Errorf("alpha could not fetch from outside through NAT:\n%s", r.stdout)
	}
	// beta's nc printed what alpha sent, then exited; beta's sh ends.
	if code := exitCodeWithin(t, beta, 10*time.Second); code != 0 || !strings.Contains(betaOut.String(), "hello-from-alpha") {
		t.Errorf("beta: exit %d, output %q", code, betaOut.String())
	}

	// A published port, from the host (127.0.0.1 and its outside address)
	// and from outside; then SIGKILL minicontainer and let gc clean up.
	web, _ := background(t, "web", "-p", "8080:80", "--", "sh", "-c",
		"mkdir /www; echo hello from web > /www/index.html; exec httpd -f -p 80 -h /www")
	for _, c := range []*exec.Cmd{
		exec.Command("sh", "-c", "NC='busybox nc'; "+fmt.Sprintf(httpGet, "127.0.0.1", 8080)),
		exec.Command("sh", "-c", "NC='busybox nc'; "+fmt.Sprintf(httpGet, "198.51.100.1", 8080)),
		inNetns(outside, "sh", "-c", "NC='busybox nc'; "+fmt.Sprintf(httpGet, "198.51.100.1", 8080)),
	} {
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello from web") {
			t.Errorf("%q: %v %q", c.Args, err, out)
		}
	}
	// The port is taken: a second container asking for it is refused, 125, one line.
	r = run(t, "", "-p", "8080:80", "--", "true")
	if r.code != 125 || r.stderr != "minicontainer: port 8080/tcp is already in use on the host\n" {
		t.Errorf("second -p 8080: exit %d, %q", r.code, r.stderr)
	}
	out := shell(t, "minicontainer network ls; minicontainer network inspect mc0")
	t.Logf("network ls and inspect while web runs:\n%s", out)
	if !regexp.MustCompile(`mc0\s+bridge\s+172\.30\.0\.0/16\s+172\.30\.0\.1\s+1`).MatchString(out) || !strings.Contains(out, `"host": 8080`) {
		t.Errorf("network ls/inspect:\n%s", out)
	}
	var webID string
	states, _ := container.List(testState)
	for _, s := range states {
		if s.Name == "web" {
			webID = s.ID
		}
	}
	if webID == "" {
		t.Fatalf("no state for web in %s", testState)
	}
	web.Process.Signal(syscall.SIGKILL)
	web.Wait()
	if links := shell(t, "ip -o link show"); !strings.Contains(links, "mc0") {
		t.Errorf("after SIGKILL the bridge should still be there until gc:\n%s", links)
	}
	// The tests' state root (MINICONTAINER_ROOT) holds only this package's
	// containers, and none but web is left: gc must succeed and name it.
	gcOut, err := exec.Command("minicontainer", "gc").CombinedOutput()
	t.Logf("minicontainer gc: %v\n%s", err, gcOut)
	if err != nil || !strings.Contains(string(gcOut), "removed "+webID) {
		t.Errorf("gc after web's SIGKILL: %v, %q; want success and \"removed %s\"", err, gcOut, webID)
	}
	assertNetworkGone(t)
}

func exitCodeWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return -1
	}
}

// assertNetworkGone: in the test host namespace no bridge, no veth, no
// nftables table of ours, no address book, ip_forward as it was.
func assertNetworkGone(t *testing.T) {
	t.Helper()
	if links := shell(t, "ip -o link show | grep -E ': (mc0|mc-)' || true"); links != "" {
		t.Errorf("links left: %s", links)
	}
	if tables := shell(t, "nft list tables"); strings.Contains(tables, "minicontainer") {
		t.Errorf("nftables table left: %s", tables)
	}
	if left, _ := filepath.Glob(filepath.Join(network.DefaultStateDir, netnsPrefix(t)+"*")); len(left) > 0 {
		t.Errorf("address book left: %v", left)
	}
	// The test-made namespace starts with ip_forward=0 (a new namespace's
	// default): the last container gone, minicontainer must have put it back.
	if f := strings.TrimSpace(shell(t, "cat /proc/sys/net/ipv4/ip_forward")); f != "0" {
		t.Errorf("ip_forward = %s after the last container, want 0 as it was", f)
	}
}

// netnsPrefix starts the names of this namespace's files in the address
// book (network.NamespacePrefix, without its directory).
func netnsPrefix(t *testing.T) string {
	p, err := network.NamespacePrefix("")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p)
}

// TestNetworkModes: --net none has only lo, --net host sees the host's
// links, and bad network input is one line, exit 125, nothing made.
func TestNetworkModes(t *testing.T) {
	needTestHost(t)
	check := hostcheck.Take(t, "link ", "process ")
	t.Cleanup(func() { check.Verify(t) }) // after the other cleanups, which run last-first
	shell(t, "ip link add mcthostlink type veth peer name mcthostpeer")
	defer shell(t, "ip link del mcthostlink")

	r := run(t, "", "--net", "none", "--", "sh", "-c", "ip -o link show | awk -F': ' '{print $2}'")
	if r.code != 0 || r.stdout != "lo\n" {
		t.Errorf("--net none: exit %d, links %q %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "", "--net", "host", "--", "sh", "-c", "ip -o link show | grep -c ': mcthostlink@'; cat /proc/self/ns/../ns/net 2>/dev/null; readlink /proc/1/ns/net")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1\n") {
		t.Errorf("--net host: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	if !strings.Contains(r.stdout, self) {
		t.Errorf("--net host: the container's network namespace is not the host's %s: %q", self, r.stdout)
	}
	r = run(t, "", "-x", "--", "true")
	for _, want := range []string{
		`RTM_NEWLINK(name="mc0", kind="bridge", address=02:00:ac:1e:00:01) = 0`,
		`RTM_NEWLINK(name="mc-`,
		`kind="veth", peer="eth0", peer IFLA_NET_NS_PID=`,
		`RTM_NEWADDR(dev="eth0", addr=172.30.0.2/16) = 0`,
		`RTM_NEWROUTE(dst=0.0.0.0/0, gateway=172.30.0.1, dev="eth0") = 0`,
		`NFT_MSG_NEWTABLE(ip minicontainer) = 0`,
		`NFT_MSG_DELTABLE(ip minicontainer) = 0`,
		`RTM_DELLINK(name="mc0") = 0`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-x lacks %q", want)
		}
	}

	// A route of the host inside the default subnet.
	shell(t, "ip addr add 172.30.9.1/24 dev mcthostlink && ip link set mcthostlink up && ip link set mcthostpeer up")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--net", "macvlan"}, `unknown network mode "macvlan" (want one of none, host, bridge, slirp)`},
		{[]string{"--subnet", "10.1.2.3/16"}, `subnet "10.1.2.3/16": host bits set (did you mean 10.1.0.0/16?)`},
		{[]string{"--subnet", "nonsense"}, `subnet "nonsense": not an address/length like 172.30.0.0/16`},
		{nil, `subnet 172.30.0.0/16 overlaps the host route 172.30.9.0/24 dev mcthostlink; choose another with --subnet`},
		{[]string{"-p", "80"}, `port "80": want HOSTPORT:CTRPORT[/tcp]`},
		{[]string{"--net", "none", "-p", "8080:80"}, `-p needs --net bridge or --net slirp, not --net none`},
	} {
		// With -x every step is narrated: one line on stderr, the error,
		// shows that nothing was done.
		r := run(t, "", append(append([]string{"-x"}, c.args...), "--", "true")...)
		if r.code != 125 || r.stderr != "minicontainer: "+c.want+"\n" {
			t.Errorf("%q: exit %d, stderr %q; want 125, %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if r := mc(t, "", "network", "rm", "mc0"); r.code != 125 || r.stderr != "minicontainer: no network mc0\n" {
		t.Errorf("network rm of no network: exit %d, %q", r.code, r.stderr)
	}
	// Another subnet works.
	r = run(t, "", "--subnet", "10.203.0.0/24", "--", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'")
	if r.code != 0 || r.stdout != "10.203.0.2/24\n" {
		t.Errorf("--subnet 10.203.0.0/24: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	assertNetworkGone(t)
}

// TestConcurrentStarts: minicontainers started at the same moment, each a
// process of its own, get an address each — never one twice — and leave
// nothing behind.
func TestConcurrentStarts(t *testing.T) {
	needTestHost(t)
	check := hostcheck.Take(t, "link ", "process ")
	t.Cleanup(func() { check.Verify(t) })
	const n = 6
	results := make(chan result, n)
	for range n {
		go func() {
			results <- run(t, "", "--", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'; sleep 1")
		}()
	}
	seen := map[string]bool{}
	for range n {
		r := <-results
		if r.code != 0 {
			t.Errorf("exit %d: %s", r.code, r.stderr)
			continue
		}
		if seen[r.stdout] {
			t.Errorf("address %q given twice", r.stdout)
		}
		seen[r.stdout] = true
	}
	t.Logf("addresses: %v", seen)
	assertNetworkGone(t)
}
