package container

import (
	"fmt"
	"path/filepath"

	"github.com/minicontainer/minicontainer/pkg/network"
)

// --net slirp (pkg/network/slirp.go): slirp4netns serves the container's
// network namespace from the host, as the caller, so a user other than
// root gets outbound TCP, UDP and ICMP and -p. It is the rootless default
// when it can run (rootlessNet); root may ask for it too: it touches
// nothing of the host's network (no bridge, veth or nftables rule), which
// is worth having where the host's firewall is not to be changed, and the
// code is the same.

// checkSlirp is validation's part: slirp4netns is installed and may open
// /dev/net/tun, and each published port is free for this caller.
func checkSlirp(ports []network.Port) error {
	if _, err := network.SlirpUsable(); err != nil {
		return fmt.Errorf("--net slirp: %w", err)
	}
	return network.CheckSlirpPorts(ports)
}

// rootlessNet is a rootless run's network when it asked for the default
// (or the bridge, which needs root): slirp when slirp4netns can run, else
// none with a note saying why. -p then needs slirp.
func (c *Config) rootlessNet(p *runPlan) error {
	if c.Net != "" && c.Net != string(network.ModeBridge) {
		return nil
	}
	if _, err := network.SlirpUsable(); err == nil {
		c.Net = string(network.ModeSlirp)
		return nil
	} else if len(c.Ports) > 0 {
		return fmt.Errorf("rootless: -p needs --net slirp without root, and %v", err)
	} else {
		c.Net = string(network.ModeNone)
		p.notes = append(p.notes, fmt.Sprintf("rootless: no bridge network without root, and no --net slirp: %v: --net none (loopback only); --net host shares the host's", err))
	}
	return nil
}

// connectSlirp is the network host step for --net slirp: slirp4netns for
// the waiting init, the ports through its API socket in the state dir
// (gc removes it with the dir after a SIGKILL; slirp4netns itself exits
// when minicontainer dies, see network.SlirpArgs's --exit-fd), and the
// resolver it serves.
func connectSlirp(c *Container) error {
	var socket string
	if len(c.plan.net.req.Ports) > 0 {
		socket = filepath.Join(c.State.Dir(), "slirp4netns.sock")
	}
	s, err := network.StartSlirp(c.State.Pid, socket, c.plan.net.req.Ports, c.x)
	if err != nil {
		return err
	}
	c.OnCleanup(func() error { return s.Stop(c.x) })
	c.State.Address = network.SlirpAddress
	if err := c.State.save(); err != nil {
		return err
	}
	c.AddFile("/etc/resolv.conf", network.SlirpResolvConf())
	return nil
}
