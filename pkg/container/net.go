package container

import (
	"fmt"
	"os"

	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/minicontainer/minicontainer/pkg/network"
)

// netConfig is the network part of a validated Config.
type netConfig struct {
	mode network.Mode
	req  network.Request // bridge mode: subnet and ports; ID and names come later
}

// validateNetwork checks --net, --subnet and -p, and for the bridge asks
// pkg/network whether the ports are free and the subnet fits the host,
// for slirp whether slirp4netns can run and listen on the ports —
// before anything is created.
func (c *Config) validateNetwork() (netConfig, error) {
	mode := c.Net
	if mode == "" {
		mode = string(network.ModeBridge)
	}
	m, err := network.ParseMode(mode)
	if err != nil {
		return netConfig{}, err
	}
	// The network's address book belongs to the network namespace, not to
	// the state root: it stays in network.DefaultStateDir whatever --root
	// says, so containers of two roots in one namespace share it.
	n := netConfig{mode: m, req: network.Request{StateDir: network.DefaultStateDir}}
	if c.Subnet != "" && m != network.ModeBridge {
		return n, fmt.Errorf("--subnet needs --net bridge, not --net %s", m)
	}
	if len(c.Ports) > 0 && m != network.ModeBridge && m != network.ModeSlirp {
		return n, fmt.Errorf("-p needs --net bridge or --net slirp, not --net %s", m)
	}
	if c.Subnet != "" {
		if n.req.Subnet, err = network.ParseSubnet(c.Subnet); err != nil {
			return n, err
		}
	}
	for _, p := range c.Ports {
		port, err := network.ParsePort(p)
		if err != nil {
			return n, err
		}
		n.req.Ports = append(n.req.Ports, port)
	}
	switch m {
	case network.ModeBridge:
		return n, network.Check(n.req)
	case network.ModeSlirp:
		return n, checkSlirp(n.req.Ports)
	}
	return n, nil
}

// connectNetwork is the "network" host step: with --net bridge it takes an
// address, plugs a veth into the bridge and moves its other end into the
// init's network namespace (by the init's PID) while the init waits, then
// publishes the ports. Its undo — and gc's reclaimer, after a SIGKILL —
// removes all of it.
func connectNetwork(c *Container) error {
	if c.plan == nil {
		return nil // a bundle's network is its Spec's: a namespace, or a path to join
	}
	switch c.plan.net.mode {
	case network.ModeHost:
		// The host's stack, so the host's resolver configuration as it is.
		if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			c.AddFile("/etc/resolv.conf", data)
		}
		return nil
	case network.ModeNone:
		return nil // the init brings lo up; nothing else
	case network.ModeSlirp:
		return connectSlirp(c)
	}
	req := c.plan.net.req
	req.ID, req.Name, req.Hostname = c.State.ID, c.Config.Name, c.Config.Hostname
	// Name is where the address book is: what gc's reclaimer reads.
	if err := c.Own(Resource{Kind: "network", Name: req.StateDir}); err != nil {
		return err
	}
	ep, err := network.Reserve(req, c.x)
	if err != nil {
		return err
	}
	c.OnCleanup(func() error { return ep.Release(c.x) })
	if err := fault.Point(c.x, "lease"); err != nil {
		return err
	}
	if err := ep.Connect(c.State.Pid, c.x); err != nil {
		return err
	}
	c.State.Address = ep.Address.Addr()
	if err := c.State.save(); err != nil {
		return err
	}
	c.AddFile("/etc/hosts", ep.HostsEntries())
	host, _ := os.ReadFile("/etc/resolv.conf")
	c.AddFile("/etc/resolv.conf", network.ResolvConf(host))
	return nil
}

// reclaimNetwork is gc's reclaimer for the bridge: the killed run's lease,
// veth and port rules (found in the address book r.Name by the dead
// owner's PID), and the bridge if no container uses it any more.
func reclaimNetwork(r Resource) error {
	_, err := network.Reclaim(r.Name, nil)
	return err
}
