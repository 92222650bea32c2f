package hostcheck

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
)

// netState is what a container's network changes in the test's network
// namespace besides links: nftables tables (minicontainer's NAT) and
// net.ipv4.ip_forward, which the first bridge container turns on and the
// last one must turn back (both are per network namespace). Without
// CAP_NET_ADMIN the tables cannot be listed, and are left out.
func netState() []string {
	var out []string
	if c, err := nftables.New(); err == nil {
		if tables, err := c.ListTables(); err == nil {
			for _, t := range tables {
				out = append(out, fmt.Sprintf("nft table %s %s", family(t.Family), t.Name))
			}
		}
	}
	if v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		out = append(out, "sysctl net.ipv4.ip_forward="+strings.TrimSpace(string(v)))
	}
	return out
}

func family(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprint(f)
}
