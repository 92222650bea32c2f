package network

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/proc"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/vishvananda/netlink"
)

// Request is what a container asks of the bridge network.
type Request struct {
	ID       string // the container's id: names its veth and tags its NAT rules
	Name     string // optional, for /etc/hosts of later containers
	Hostname string
	// Subnet of the bridge; the zero value means the bridge's current
	// subnet, or DefaultSubnet when the bridge is made now.
	Subnet netip.Prefix
	Ports  []Port
	// StateDir is where the network namespace's address book is; ""
	// means DefaultStateDir, what minicontainer always uses (tests give
	// their own).
	StateDir string
}

// Endpoint is a container's place on the bridge: reserved first (an
// address, before the container exists, so /etc/hosts can be written),
// then connected once the container's process (and its network namespace)
// exists, and finally released.
type Endpoint struct {
	Request
	Bridge   string
	Address  netip.Prefix // eth0's address, with the subnet's length
	Gateway  netip.Addr
	HostVeth string // the host end of the veth pair
	// Others are the containers that were on the bridge when this one was
	// reserved, for /etc/hosts.
	Others []Lease

	ports       []io.Closer
	statePrefix string // the namespace's files under Request.StateDir
}

func (r *Request) stateBase() string {
	if r.StateDir == "" {
		return DefaultStateDir
	}
	return r.StateDir
}

// Reserve checks the request, holds the published ports, takes an address
// under the bridge's lock and, for the first container, creates the bridge,
// turns on ip_forward and installs the NAT table. On any error nothing it
// made is left. Call Release when the container is done — also if Connect
// fails.
func Reserve(req Request, n *explain.Narrator) (_ *Endpoint, err error) {
	if req.ID == "" {
		return nil, errors.New("network: empty container id")
	}
	if err := checkDuplicatePorts(req.Ports); err != nil {
		return nil, err
	}
	host := hostVethName(req.ID)
	ep := &Endpoint{Request: req, Bridge: DefaultBridge, HostVeth: host}
	defer func() {
		if err != nil {
			ep.closePorts()
		}
	}()
	for _, p := range req.Ports {
		c, err := holdPort(p)
		if err != nil {
			return nil, err
		}
		ep.ports = append(ep.ports, c)
		n.Note("port %d/%s of the host bound, and held while the container runs", p.Host, p.Proto)
	}

	if ep.statePrefix, err = NamespacePrefix(req.stateBase()); err != nil {
		return nil, err
	}
	s, err := lockState(ep.statePrefix, ep.Bridge)
	if err != nil {
		return nil, err
	}
	st, err := s.read()
	if err != nil {
		s.unlock()
		return nil, err
	}
	defer func() {
		if err != nil && len(st.Leases) == 0 {
			teardownBridge(st, ep.Bridge, n) // what this call or killed runs made, nothing else
			s.remove()                       // no container on this bridge: no state, no lock file
		}
		s.unlock()
	}()
	if err := fault.Point(n, "network-lock"); err != nil {
		return nil, err
	}
	reclaimStale(st, n)
	if slices.ContainsFunc(st.Leases, func(l Lease) bool { return l.ID == req.ID }) {
		return nil, fmt.Errorf("container %s already has an address on %s", req.ID, ep.Bridge)
	}

	subnet := req.Subnet
	if !subnet.IsValid() {
		subnet = st.Subnet
	}
	if !subnet.IsValid() {
		subnet = netip.MustParsePrefix(DefaultSubnet)
	}
	if len(st.Leases) > 0 && subnet != st.Subnet {
		return nil, fmt.Errorf("bridge %s serves %s; it cannot take --subnet %s while %d container(s) use it",
			ep.Bridge, st.Subnet, subnet, len(st.Leases))
	}
	if err := checkNoOverlap(subnet, ep.Bridge); err != nil {
		return nil, err
	}
	if len(st.Leases) == 0 {
		// On failure, the deferred teardown above removes what was made.
		if err := ensureBridge(s, st, ep.Bridge, subnet, n); err != nil {
			return nil, err
		}
	}

	addr, err := allocate(st)
	if err != nil {
		return nil, err
	}
	ep.Others = slices.Clone(st.Leases)
	ep.Address = netip.PrefixFrom(addr, subnet.Bits())
	ep.Gateway = Gateway(subnet)
	pid := os.Getpid()
	st.Leases = append(st.Leases, Lease{
		ID: req.ID, Name: req.Name, Hostname: req.Hostname, Address: addr,
		HostVeth: host, Ports: req.Ports, Owner: pid, OwnerStart: proc.StartTime(pid),
	})
	n.Note("address %s of %s for container %s (lock %s held)", addr, subnet, req.ID, lockPath(s.prefix, s.bridge))
	if err := s.write(st); err != nil {
		st.Leases = st.Leases[:len(st.Leases)-1]
		if len(st.Leases) == 0 {
			teardownBridge(st, ep.Bridge, n)
		}
		return nil, fmt.Errorf("saving address allocation: %w", err)
	}
	return ep, nil
}

func checkDuplicatePorts(ports []Port) error {
	seen := map[string]bool{}
	for _, p := range ports {
		key := fmt.Sprintf("%d/%s", p.Host, p.Proto)
		if seen[key] {
			return fmt.Errorf("port %s published twice", key)
		}
		seen[key] = true
	}
	return nil
}

// Check tells, creating nothing, whether Reserve would refuse req for what
// the user asked: a port published twice or already in use on the host, a
// subnet other than the one the bridge serves to running containers, or
// one overlapping a route of the host. minicontainer calls it before it
// makes anything for a container. (Reserve checks again: the host may
// change in between.)
func Check(req Request) error {
	if err := checkDuplicatePorts(req.Ports); err != nil {
		return err
	}
	for _, p := range req.Ports {
		c, err := holdPort(p)
		if err != nil {
			return err
		}
		c.Close()
	}
	prefix, err := NamespacePrefix(req.stateBase())
	if err != nil {
		return err
	}
	s, err := lockState(prefix, DefaultBridge)
	if err != nil {
		return err
	}
	// The book and the links are compared under the lock: another
	// minicontainer may be making mc0 (recorded as ours) at this moment.
	st, err := s.read()
	if err == nil {
		err = checkNotForeign(st, DefaultBridge)
	}
	if st != nil && len(st.Leases) == 0 && !st.made() {
		s.remove() // nothing recorded: leave no lock file behind
	}
	s.unlock()
	if err != nil {
		return err
	}
	live := slices.DeleteFunc(st.Leases, func(l Lease) bool { return !l.alive() })
	subnet := req.Subnet
	switch {
	case !subnet.IsValid() && len(live) > 0:
		return nil // joins the bridge as it is
	case !subnet.IsValid():
		subnet = netip.MustParsePrefix(DefaultSubnet)
	case len(live) > 0 && subnet != st.Subnet:
		return fmt.Errorf("bridge %s serves %s; it cannot take --subnet %s while %d container(s) use it",
			DefaultBridge, st.Subnet, subnet, len(live))
	}
	return checkNoOverlap(subnet, DefaultBridge)
}

// ensureBridge makes sure the bridge exists with the gateway address of
// subnet, that the host forwards packets, and that our NAT table is there.
// It is called, under the lock, when no container uses the bridge: a
// bridge left by a killed run is remade. Each change is recorded in the
// book (s) before it is made, so a SIGKILL at any point leaves a book that
// says what to undo.
func ensureBridge(s *store, st *State, bridge string, subnet netip.Prefix, n *explain.Narrator) error {
	if err := checkNotForeign(st, bridge); err != nil {
		return err
	}
	// A bridge of ours that is still there was left by a killed run, which
	// may have died half-way through making it (before its address, its
	// sysctls, or IFF_UP): it is made again rather than trusted.
	if _, err := netlink.LinkByName(bridge); err == nil {
		n.Note("bridge %s left by a killed run: made again", bridge)
		if err := deleteBridge(bridge, n); err != nil {
			return err
		}
	}
	st.Subnet, st.MadeBridge = subnet, true
	if err := record(s, st, n, "bridge "+bridge); err != nil {
		return err
	}
	if err := createBridge(bridge, subnet, n); err != nil {
		return err
	}
	if err := fault.Point(n, "bridge"); err != nil {
		return err
	}
	// ip_forward lets the host pass packets between mc0 and its other
	// interfaces; without it containers reach only the host. It is one
	// switch for the whole network namespace, so the value found is kept
	// and put back when the bridge goes. A value recorded by a killed run
	// is the original one: ip_forward=1 now may be that run's doing.
	was, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return fmt.Errorf("reading ip_forward: %w", err)
	}
	if strings.TrimSpace(string(was)) != "1" {
		if st.IPForwardWas == "" {
			st.IPForwardWas = strings.TrimSpace(string(was))
			if err := record(s, st, n, "ip_forward was "+st.IPForwardWas); err != nil {
				return err
			}
		}
		if err := writeSysctl(n, "/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	if err := fault.Point(n, "ip-forward"); err != nil {
		return err
	}
	if !st.MadeTable {
		st.MadeTable = true
		if err := record(s, st, n, "table ip "+TableName); err != nil {
			return err
		}
	}
	if err := createNAT(bridge, subnet, n); err != nil {
		return err
	}
	return fault.Point(n, "nat")
}

// record writes the book ahead of a change (see State).
func record(s *store, st *State, n *explain.Narrator, what string) error {
	err := s.write(st)
	n.Call("rename(2)", fmt.Sprintf("rename(%q, %q) (recorded before it is made: %s)", s.statePath()+".tmp", s.statePath(), what), nil, err)
	if err != nil {
		return fmt.Errorf("recording %s in %s: %w", what, s.statePath(), err)
	}
	return nil
}

// checkNotForeign refuses a bridge or an nftables table of our names that
// the book does not record as ours: someone else made it (by hand, another
// tool). Taking it over would put containers, NAT and route_localnet on
// the administrator's network, and the last container would delete it.
// docker refuses a bridge whose address does not fit its configuration in
// the same way.
func checkNotForeign(st *State, bridge string) error {
	if l, err := netlink.LinkByName(bridge); err == nil && !st.MadeBridge {
		desc := l.Type()
		if a, ok := bridgeAddress(l); ok {
			desc += " " + a.String()
		}
		return fmt.Errorf("a network interface %s (%s) exists that minicontainer did not create; it will not take it over: remove or rename it", bridge, desc)
	}
	if !st.MadeTable && tableExists() {
		return fmt.Errorf("an nftables table ip %s exists that minicontainer did not create; it will not take it over: remove it (nft delete table ip %s)", TableName, TableName)
	}
	return nil
}

// teardownBridge removes what the book says minicontainer made — the NAT
// table, the bridge — and puts ip_forward back to its old value.
func teardownBridge(st *State, bridge string, n *explain.Narrator) error {
	if !st.made() {
		return nil
	}
	n.Note("no container uses %s any more: removing what minicontainer made for it", bridge)
	var errs []error
	if st.MadeTable {
		errs = append(errs, deleteNAT(n))
		st.MadeTable = false
	}
	if st.MadeBridge {
		errs = append(errs, deleteBridge(bridge, n))
		st.MadeBridge = false
	}
	if st.IPForwardWas != "" {
		errs = append(errs, writeSysctl(n, "/proc/sys/net/ipv4/ip_forward", st.IPForwardWas))
		st.IPForwardWas = ""
	}
	return errors.Join(errs...)
}

// reclaimStale drops the leases whose owner died without releasing them
// (minicontainer killed by SIGKILL): their NAT rules and host veth go, and
// their address is free again. The caller holds the lock.
func reclaimStale(st *State, n *explain.Narrator) (reclaimed []string, err error) {
	var errs []error
	live := st.Leases[:0]
	for _, l := range st.Leases {
		if l.alive() {
			live = append(live, l)
			continue
		}
		n.Note("reclaiming %s of container %s: its minicontainer (pid %d) is gone", l.Address, l.ID, l.Owner)
		errs = append(errs, deleteRulesTagged("container "+l.ID, n), deleteLink(l.HostVeth, n))
		reclaimed = append(reclaimed, l.ID)
	}
	st.Leases = live
	return reclaimed, errors.Join(errs...)
}

// Connect wires the container whose init is pid into the bridge: the veth
// pair, its peer moved into the container's network namespace and set up
// there as eth0 with the address and a default route, then the published
// ports. pid must be stopped before it relies on the network (the
// runtime's child waits on its sync pipe meanwhile).
func (ep *Endpoint) Connect(pid int, n *explain.Narrator) error {
	if err := createVeth(ep.HostVeth, ep.Bridge, pid, n); err != nil {
		return err
	}
	if err := fault.Point(n, "veth"); err != nil {
		return err
	}
	if err := configureInside(pid, ep.Address, ep.Gateway, n); err != nil {
		return err
	}
	if err := waitForwarding(ep.HostVeth, ep.Bridge, n); err != nil {
		return err
	}
	if err := fault.Point(n, "eth0"); err != nil {
		return err
	}
	if err := addPortRules(ep.ID, ep.Address.Addr(), ep.Ports, n); err != nil {
		return err
	}
	return fault.Point(n, "port-rules")
}

// Release undoes Connect and Reserve: the port rules, the veth (deleting
// the host end deletes eth0 too), the held ports, the address — and the
// bridge with the NAT table when this was its last container. It is safe
// to call after a partial Connect and more than once.
func (ep *Endpoint) Release(n *explain.Narrator) error {
	errs := []error{
		deleteRulesTagged("container "+ep.ID, n),
		deleteLink(ep.HostVeth, n),
	}
	ep.closePorts()
	s, err := lockState(ep.statePrefix, ep.Bridge)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer s.unlock()
	st, err := s.read()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	st.Leases = slices.DeleteFunc(st.Leases, func(l Lease) bool { return l.ID == ep.ID })
	_, err = reclaimStale(st, n)
	errs = append(errs, err)
	if len(st.Leases) == 0 {
		errs = append(errs, teardownBridge(st, ep.Bridge, n))
		s.remove()
	} else {
		errs = append(errs, s.write(st))
	}
	return errors.Join(errs...)
}

func (ep *Endpoint) closePorts() {
	for _, c := range ep.ports {
		c.Close()
	}
	ep.ports = nil
}

// Reclaim cleans up after minicontainers that were killed: for every bridge
// recorded under base it drops the leases whose owner is gone (with their
// NAT rules and veths) and removes what minicontainer made for a bridge no
// container uses any more. It does so in the calling thread's network
// namespace first, then in every other namespace that has a book under base
// and still exists (a run under `ip netns exec` or `nsenter --net`, killed,
// then gc run from the machine's namespace), and forgets the books of
// namespaces that are gone. It returns the ids of the containers reclaimed
// (`minicontainer gc`).
func Reclaim(base string, n *explain.Narrator) ([]string, error) {
	ids, err := reclaimHere(base, n)
	more, oerr := reclaimOtherNamespaces(base, n)
	forgetDeadNamespaces(base)
	return append(ids, more...), errors.Join(err, oerr)
}

// reclaimHere is Reclaim in the calling thread's network namespace.
func reclaimHere(base string, n *explain.Narrator) ([]string, error) {
	states, err := ReadStates(base)
	if err != nil {
		return nil, err
	}
	prefix, err := NamespacePrefix(base)
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, old := range states {
		s, err := lockState(prefix, old.Bridge)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := s.read()
		if err == nil {
			var r []string
			r, err = reclaimStale(st, n)
			ids = append(ids, r...)
			switch {
			case len(st.Leases) == 0:
				err = errors.Join(err, teardownBridge(st, st.Bridge, n))
				s.remove()
			case len(r) > 0:
				err = errors.Join(err, s.write(st))
			}
		}
		errs = append(errs, err)
		s.unlock()
	}
	return ids, errors.Join(errs...)
}

// Remove deletes a bridge no running container uses, with its NAT table
// (`minicontainer network rm`). Leftovers of killed runs are reclaimed first.
func Remove(base, bridge string, n *explain.Narrator) error {
	if bridge != DefaultBridge {
		return fmt.Errorf("no network %q (minicontainer manages only %s)", bridge, DefaultBridge)
	}
	prefix, err := NamespacePrefix(base)
	if err != nil {
		return err
	}
	s, err := lockState(prefix, bridge)
	if err != nil {
		return err
	}
	defer s.unlock()
	st, err := s.read()
	if err != nil {
		return err
	}
	_, err = reclaimStale(st, n)
	if len(st.Leases) > 0 {
		werr := s.write(st)
		return errors.Join(fmt.Errorf("network %s is in use by %d container(s)", bridge, len(st.Leases)), err, werr)
	}
	if !st.made() {
		s.remove()
		if _, lerr := netlink.LinkByName(bridge); lerr == nil {
			return fmt.Errorf("no network %s (the interface %s there was not made by minicontainer)", bridge, bridge)
		}
		return fmt.Errorf("no network %s", bridge)
	}
	err = errors.Join(err, teardownBridge(st, bridge, n))
	s.remove()
	return err
}
