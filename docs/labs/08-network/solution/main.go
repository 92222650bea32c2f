// Lab 08's solution: a command in a new network namespace, joined to the
// caller's by a veth pair (veth(4)): one end stays outside with the host's
// address, the other goes inside as eth0 with the container's, and lo is
// brought up. Links and addresses are set with rtnetlink(7) messages
// through github.com/vishvananda/netlink, as pkg/network does.
//
//	demo -link NAME -host ADDR/LEN -addr ADDR/LEN COMMAND [ARG...]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/reexec"
)

const childEntry = "lab08-child"

func main() {
	reexec.Register(childEntry, child)
	reexec.Init()
	link := flag.String("link", "", "name of the host's end of the veth pair")
	host := flag.String("host", "", "the host end's address, like 10.88.0.1/24")
	addr := flag.String("addr", "", "eth0's address in the container, like 10.88.0.2/24")
	flag.Parse()
	hostAddr, err1 := netlink.ParseAddr(*host)
	ctrAddr, err2 := netlink.ParseAddr(*addr)
	if *link == "" || err1 != nil || err2 != nil || flag.NArg() == 0 {
		fmt.Fprintf(os.Stderr, "Usage: %s -link NAME -host ADDR/LEN -addr ADDR/LEN COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	os.Exit(run(*link, hostAddr, ctrAddr, flag.Args()))
}

func run(link string, hostAddr, ctrAddr *netlink.Addr, argv []string) int {
	// The child waits on a pipe until its network is ready.
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	cmd := reexec.Command(childEntry, argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	r.Close()
	if err := connect(cmd.Process.Pid, link, hostAddr, ctrAddr); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: link}})
		return fail(err)
	}
	w.Close()
	err = cmd.Wait()
	// The kernel would delete the pair when the container's namespace
	// goes (veth(4): both ends go together), but it destroys a network
	// namespace later, in a work queue (net/core/net_namespace.c,
	// cleanup_net): the host end can outlive the command for a moment.
	// Delete it now; the other end goes with it.
	if l, err := netlink.LinkByName(link); err == nil {
		netlink.LinkDel(l)
	}
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// connect makes the veth pair here, moves one end into the network
// namespace of pid and configures both ends.
func connect(pid int, link string, hostAddr, ctrAddr *netlink.Addr) error {
	// The peer gets a temporary name unique on this host: "eth0" may
	// exist here, and the rename happens inside.
	peer := fmt.Sprintf("lab08p%d", pid)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: link}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("ip link add %s type veth peer name %s: %w", link, peer, err)
	}
	p, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsPid(p, pid); err != nil {
		return fmt.Errorf("ip link set %s netns %d: %w", peer, pid, err)
	}
	if err := netlink.AddrAdd(veth, hostAddr); err != nil {
		return fmt.Errorf("ip addr add %s dev %s: %w", hostAddr, link, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("ip link set %s up: %w", link, err)
	}
	// A netlink socket opened in the child's namespace (netns.GetFromPid
	// opens /proc/PID/ns/net) talks to that namespace's links.
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	in, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(in, "eth0"); err != nil {
		return fmt.Errorf("ip link set %s name eth0 (inside): %w", peer, err)
	}
	if err := h.AddrAdd(in, ctrAddr); err != nil {
		return fmt.Errorf("ip addr add %s dev eth0 (inside): %w", ctrAddr, err)
	}
	if err := h.LinkSetUp(in); err != nil {
		return fmt.Errorf("ip link set eth0 up (inside): %w", err)
	}
	// A new network namespace's lo is down (network_namespaces(7)).
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("ip link set lo up (inside): %w", err)
	}
	return nil
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	return 1
}

// child waits for EOF on fd 3 (its network is ready), then runs the command.
func child() {
	sync := os.NewFile(3, "sync")
	sync.Read(make([]byte, 1))
	sync.Close()
	argv := os.Args[1:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", path, err)
	os.Exit(126)
}
