package labs

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	register(&lab{
		id: "08", dir: "08-network", title: "a veth pair between the host and the container",
		solutions: []string{"docs/labs/08-network/solution"},
		skeletonFails: []string{"lo is up inside", "eth0 has the container's address", "the host end has the host's address",
			"the peer is inside, not on the host", "the container reaches the host"},
		checks: []check{
			{"lo is up inside", "a new network namespace's lo is down: bring it up from the handle in the child's namespace (TODO 4)",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if !strings.Contains(l.insideLinks, " lo:") {
						t.Errorf("links up inside (ip -o link show up): %q", l.insideLinks)
					}
				}},
			{"eth0 has the container's address", "rename the peer eth0, add -addr to it and bring it up, inside (TODO 4)",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if !strings.Contains(l.insideAddrs, "eth0    inet 10.88.0.2/24") || !strings.Contains(l.insideLinks, " eth0@") {
						t.Errorf("inside: addresses %q, links up %q; want eth0 up with 10.88.0.2/24", l.insideAddrs, l.insideLinks)
					}
				}},
			{"the host end has the host's address", "add -host to the host end and bring it up (TODO 3)",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if !strings.Contains(l.outsideAddrs, "mctest-lab08    inet 10.88.0.1/24") || !strings.Contains(l.outsideLinks, "state UP") {
						t.Errorf("outside, while the command ran: addresses %q, links %q", l.outsideAddrs, l.outsideLinks)
					}
				}},
			{"the peer is inside, not on the host", "move the peer into the child's namespace with LinkSetNsPid (TODO 2): a veth whose both ends stay on the host connects nothing, and stays when the container is gone",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if !strings.Contains(l.outsideLinks, "mctest-lab08@") || !strings.Contains(l.outsideLinks, "link-netns") {
						t.Errorf("outside, while the command ran: %q; want mctest-lab08 with its peer in another namespace (link-netnsid)", l.outsideLinks)
					}
					if n := strings.Count(l.outsideLinks, "\n"); n != 2 {
						t.Errorf("outside, while the command ran: %d links, want lo and mctest-lab08:\n%s", n, l.outsideLinks)
					}
				}},
			{"the container reaches the host", "both ends up, with addresses on one subnet: ping from inside to the -host address answers",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if !l.ping {
						t.Errorf("ping -c1 10.88.0.1 from inside failed")
					}
				}},
			{"nothing is left in the host's namespace", "delete the host end after the command (TODO 5): the kernel destroys a dead namespace, and the pair with it, only a moment later",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if l.after != "lo" {
						t.Errorf("links outside after the program: %q, want only lo", l.after)
					}
				}},
			{"the exit status is the command's", "exit with the command's status (the skeleton does)",
				func(t *testing.T, p *prog) {
					l := live08(t, p)
					if l.code != 3 {
						t.Errorf("exit %d, want the command's 3 (stderr %q)", l.code, firstLine(l.stderr))
					}
				}},
		},
	})
}

type live08Result struct {
	insideLinks, insideAddrs   string
	outsideLinks, outsideAddrs string
	ping                       bool
	after                      string // links outside once the program ended
	code                       int
	stderr                     string
}

// live08 runs the program in a network namespace made for the check (the
// "host"; no traffic leaves it), with a command that reports its links,
// addresses and a ping, then waits for a line on stdin; meanwhile the
// checker lists the links and addresses of the "host" with nsenter.
func live08(t *testing.T, p *prog) live08Result {
	return once(p, "live08", func() live08Result {
		var r live08Result
		inner := `echo INSIDE-LINKS; ip -o link show up; echo INSIDE-ADDRS; ip -o -4 addr show; ping -c1 -W2 10.88.0.1 >/dev/null 2>&1 && echo PING-OK; echo READY; read x; exit 3`
		script := `ip link set lo up && ./demo -link mctest-lab08 -host 10.88.0.1/24 -addr 10.88.0.2/24 sh -c "$1"; echo "EXIT $?"; echo AFTER; ip -o link show | cut -d: -f2`
		cmd := exec.Command("sh", "-c", script, "sh", inner)
		cmd.Dir = p.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS}
		in, _ := cmd.StdinPipe()
		out := &watch{want: "READY\n", seen: make(chan struct{})}
		var errb strings.Builder
		cmd.Stdout, cmd.Stderr = out, &errb
		cmd.WaitDelay = time.Second
		if err := cmd.Start(); err != nil {
			return r
		}
		select {
		case <-out.seen:
		case <-time.After(10 * time.Second):
		}
		host := fmt.Sprintf("--net=/proc/%d/ns/net", cmd.Process.Pid)
		links, _ := exec.Command("nsenter", host, "ip", "-o", "link", "show").Output()
		addrs, _ := exec.Command("nsenter", host, "ip", "-o", "-4", "addr", "show").Output()
		r.outsideLinks, r.outsideAddrs = string(links), string(addrs)
		io.WriteString(in, "go\n")
		in.Close()
		timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		timer.Stop()
		o := out.buf.String()
		section := func(from, to string) string {
			i, j := strings.Index(o, from+"\n"), strings.Index(o, to)
			if i < 0 || j < i {
				return ""
			}
			return o[i+len(from)+1 : j]
		}
		r.insideLinks = section("INSIDE-LINKS", "INSIDE-ADDRS")
		r.insideAddrs = section("INSIDE-ADDRS", "READY")
		r.ping = strings.Contains(o, "PING-OK\n")
		if i := strings.Index(o, "EXIT "); i >= 0 {
			fmt.Sscanf(o[i:], "EXIT %d", &r.code)
		}
		if i := strings.Index(o, "AFTER\n"); i >= 0 {
			r.after = strings.Join(strings.Fields(o[i+len("AFTER\n"):]), " ")
		}
		r.stderr = errb.String()
		return r
	})
}
