// Lab 08: a command in a new network namespace, joined to the caller's by
// a veth pair (veth(4)): one end stays outside with the host's address,
// the other goes inside as eth0 with the container's, and lo is brought up.
//
//	demo -link NAME -host ADDR/LEN -addr ADDR/LEN COMMAND [ARG...]
//
// Example (as root, in a throwaway network namespace: `unshare -n sh`):
//
//	demo -link lab08 -host 10.88.0.1/24 -addr 10.88.0.2/24 ping -c1 10.88.0.1
//
// Links and addresses are set with rtnetlink(7) messages through
// github.com/vishvananda/netlink; each call is commented with the ip(8)
// command that does the same. Read docs/08-networking.md. Fill in the TODOs
// of connect. Check your work as root: make lab LAB=08
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
	// TODO 5: delete the host end (netlink.LinkByName(link), then
	// netlink.LinkDel; ip link del LINK). The kernel would delete it
	// when the container's namespace goes, with eth0 (veth(4): both ends
	// go together), but it destroys a namespace later, in a work queue:
	// the pair can outlive the command for a moment.
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

	// TODO 1: create the pair: netlink.LinkAdd(&netlink.Veth{...}) with
	// LinkAttrs{Name: link} and PeerName: peer
	// (ip link add LINK type veth peer name PEER).

	// TODO 2: move the peer into the child's network namespace:
	// netlink.LinkByName(peer), then netlink.LinkSetNsPid(it, pid)
	// (ip link set PEER netns PID). A peer left here stays on the host.

	// TODO 3: give the host end its address and bring it up:
	// netlink.AddrAdd(hostEnd, hostAddr), netlink.LinkSetUp(hostEnd).
	_, _ = hostAddr, peer

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
	// TODO 4: inside, with the handle h (h.LinkByName, h.LinkSetName,
	// h.AddrAdd, h.LinkSetUp): rename the peer eth0, give it ctrAddr,
	// bring it up, and bring lo up too: a new network namespace's lo is
	// down (network_namespaces(7)).
	_ = ctrAddr
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
