package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"golang.org/x/sys/unix"
)

// Our NAT lives in one nftables table of its own, `table ip minicontainer`,
// with three base chains. Other tables (the distribution's firewall,
// docker's) are never read or changed: each table sees every packet, so
// ours works beside them — unless one of them drops the packet.
//
//	chain prerouting  { type nat hook prerouting priority dstnat }  published ports, from outside
//	chain output      { type nat hook output priority -100 }        published ports, from the host itself
//	chain postrouting { type nat hook postrouting priority srcnat } masquerade
//	chain input       { type filter hook input priority filter }    the host's 127.0.0.0/8 kept from the bridge
func natTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
}

func natChain(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: natTable(), Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio}
}

func preroutingChain() *nftables.Chain {
	return natChain("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
}
func outputChain() *nftables.Chain {
	return natChain("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
}
func postroutingChain() *nftables.Chain {
	return natChain("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
}
func inputChain() *nftables.Chain {
	return &nftables.Chain{Name: "input", Table: natTable(), Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter}
}

// ruleSpec is a rule as bytecode for the kernel and as nft(8) would print
// it, made from the same values, for --explain.
type ruleSpec struct {
	chain *nftables.Chain
	text  string
	exprs []expr.Any
	tag   string // stored as the rule's comment: whose rule it is
}

// batch queues nftables messages and narrates them once the kernel has
// answered (nftables applies a batch all or nothing).
type batch struct {
	c     *nftables.Conn
	calls []string
}

func newBatch() (*batch, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return &batch{c: c}, nil
}

func (b *batch) addRule(r ruleSpec) {
	b.c.AddRule(&nftables.Rule{
		Table: r.chain.Table, Chain: r.chain, Exprs: r.exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, r.tag),
	})
	b.calls = append(b.calls, fmt.Sprintf("NFT_MSG_NEWRULE(ip %s %s: %s comment %q)", TableName, r.chain.Name, r.text, r.tag))
}

func (b *batch) flush(n *explain.Narrator, what string) error {
	err := b.c.Flush()
	for _, c := range b.calls {
		n.Call("nft(8)", c, nil, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// matchSource is `ip saddr PREFIX`: load the source address (offset 12 of
// the IPv4 header), mask it, compare.
func matchSource(p netip.Prefix) []expr.Any {
	mask := ipNet(p).Mask
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func matchOutput(bridge string, equal bool) []expr.Any {
	op := expr.CmpOpEq
	if !equal {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(bridge)},
	}
}

// masqueradeRules are the bridge's rules in postrouting.
func masqueradeRules(bridge string, subnet netip.Prefix) []ruleSpec {
	post := postroutingChain()
	tag := "bridge " + bridge
	var rules []ruleSpec
	// Containers reaching beyond the host leave with the host's address:
	// nobody out there has a route back to our private subnet.
	rules = append(rules, ruleSpec{post,
		fmt.Sprintf("ip saddr %s oifname != %q masquerade", subnet, bridge),
		append(append(matchSource(subnet), matchOutput(bridge, false)...), &expr.Masq{}), tag})
	// The host's own 127.0.0.1:PORT forwarded to a container (see
	// route_localnet in createBridge): the container cannot answer 127.0.0.1,
	// so the packet takes the bridge's address.
	loop := netip.MustParsePrefix("127.0.0.0/8")
	rules = append(rules, ruleSpec{post,
		fmt.Sprintf("ip saddr %s oifname %q masquerade", loop, bridge),
		append(append(matchSource(loop), matchOutput(bridge, true)...), &expr.Masq{}), tag})
	// Hairpin: a container reaching a published port through the host ends
	// up at a container on the same bridge, which would answer it directly,
	// from an address it never talked to. Masquerading makes the answer go
	// back through the host, where the DNAT is undone.
	ctDNAT := []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
	rules = append(rules, ruleSpec{post,
		fmt.Sprintf("ct status dnat ip saddr %s oifname %q masquerade", subnet, bridge),
		append(append(append(ctDNAT, matchSource(subnet)...), matchOutput(bridge, true)...), &expr.Masq{}), tag})
	return rules
}

// localnetGuard keeps the host's loopback services from the bridge.
// route_localnet=1 on the bridge (see createBridge) makes the kernel accept
// packets from it addressed to 127.0.0.0/8 — needed for the answers to the
// host's own connections to 127.0.0.1:PORT, un-NATed back to 127.0.0.1 —
// but then a container that routes 127.0.0.1 via its gateway reaches every
// service of the host that listens on localhost only (CVE-2020-8558,
// kube-proxy's same setting; its fix is this rule): what arrives from the
// bridge for 127.0.0.0/8 is dropped unless conntrack rewrote its
// destination (a published port's connection).
func localnetGuard(bridge string) ruleSpec {
	loop := netip.MustParsePrefix("127.0.0.0/8")
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
		// ip daddr: offset 16 of the IPv4 header
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ipNet(loop).Mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: loop.Addr().AsSlice()},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
	return ruleSpec{inputChain(), fmt.Sprintf("iifname %q ip daddr %s ct status ! dnat drop", bridge, loop),
		exprs, "bridge " + bridge}
}

// portRules are a container's published ports: a connection to HOSTPORT on
// any local address of the host is sent (DNAT) to ADDRESS:CTRPORT, both when
// it arrives from outside (prerouting) and when the host itself connects
// (output).
func portRules(id string, addr netip.Addr, ports []Port) []ruleSpec {
	var rules []ruleSpec
	for _, p := range ports {
		proto := byte(unix.IPPROTO_TCP)
		if p.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		exprs := []expr.Any{
			// fib daddr type local: the destination is one of the host's addresses
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			// the destination port: offset 2 of the TCP and UDP headers
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.Host)},
			&expr.Immediate{Register: 1, Data: addr.AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Container)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
		text := fmt.Sprintf("fib daddr type local %s dport %d dnat to %s:%d", p.Proto, p.Host, addr, p.Container)
		for _, c := range []*nftables.Chain{preroutingChain(), outputChain()} {
			rules = append(rules, ruleSpec{c, text, exprs, "container " + id})
		}
	}
	return rules
}

// createNAT (re)creates our table with its chains and the bridge's
// masquerade rules, in one batch. A table left by a killed run is replaced.
func createNAT(bridge string, subnet netip.Prefix, n *explain.Narrator) error {
	if err := deleteNAT(n); err != nil {
		return err
	}
	n.Note("NAT rules go into a table of our own: table ip %s", TableName)
	b, err := newBatch()
	if err != nil {
		return err
	}
	b.c.AddTable(natTable())
	b.calls = append(b.calls, fmt.Sprintf("NFT_MSG_NEWTABLE(ip %s)", TableName))
	for _, c := range []*nftables.Chain{preroutingChain(), outputChain(), postroutingChain(), inputChain()} {
		b.c.AddChain(c)
		b.calls = append(b.calls, fmt.Sprintf("NFT_MSG_NEWCHAIN(ip %s %s: type %s hook %s priority %d)",
			TableName, c.Name, c.Type, hookName(c), *c.Priority))
	}
	for _, r := range append(masqueradeRules(bridge, subnet), localnetGuard(bridge)) {
		b.addRule(r)
	}
	return b.flush(n, "creating nftables table "+TableName)
}

func hookName(c *nftables.Chain) string {
	switch *c.Hooknum {
	case *nftables.ChainHookPrerouting:
		return "prerouting"
	case *nftables.ChainHookOutput:
		return "output"
	case *nftables.ChainHookInput:
		return "input"
	default:
		return "postrouting"
	}
}

// tableExists reports whether a table ip minicontainer is there.
func tableExists() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	return err == nil
}

// deleteNAT removes our table and everything in it, if it exists.
func deleteNAT(n *explain.Narrator) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err != nil {
		return nil // no such table
	}
	c.DelTable(natTable())
	err = c.Flush()
	n.Call("nft(8)", fmt.Sprintf("NFT_MSG_DELTABLE(ip %s)", TableName), nil, err)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("deleting nftables table %s: %w", TableName, err)
	}
	return nil
}

// addPortRules publishes a container's ports.
func addPortRules(id string, addr netip.Addr, ports []Port, n *explain.Narrator) error {
	if len(ports) == 0 {
		return nil
	}
	b, err := newBatch()
	if err != nil {
		return err
	}
	for _, r := range portRules(id, addr, ports) {
		b.addRule(r)
	}
	return b.flush(n, "publishing ports")
}

// deleteRulesTagged removes the rules whose comment is tag, in all our
// chains. Rules are found by their comment, not by a handle remembered
// somewhere, so a later run can clean up after a killed one.
func deleteRulesTagged(tag string, n *explain.Narrator) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err != nil {
		return nil // no table, no rules
	}
	var calls []string
	for _, ch := range []*nftables.Chain{preroutingChain(), outputChain(), postroutingChain()} {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue // chain missing: nothing of ours in it
		}
		for _, r := range rules {
			if comment, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && comment == tag {
				if err := c.DelRule(r); err != nil {
					return fmt.Errorf("deleting rule: %w", err)
				}
				calls = append(calls, fmt.Sprintf("NFT_MSG_DELRULE(ip %s %s handle %d)", TableName, ch.Name, r.Handle))
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	err = c.Flush()
	for _, call := range calls {
		n.Call("nft(8)", call, nil, err)
	}
	if err != nil {
		return fmt.Errorf("removing rules of %s: %w", strings.TrimPrefix(tag, "container "), err)
	}
	return nil
}

// ipsDstNAT is the conntrack status bit of a connection whose destination
// was rewritten (IPS_DST_NAT in linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5
