package spec

import (
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ipcSysctls are the System V IPC settings an IPC namespace has its own
// copy of (ipc_namespaces(7), "/proc interfaces"); fs.mqueue.* are POSIX
// message queues', also per IPC namespace (mq_overview(7)).
var ipcSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// sysctlKey normalises a key as sysctl(8) reads it: "." separates the
// components, and a key whose first separator is "/" uses "/" instead, a
// "." then being part of a component (net/ipv4/conf/eth0.100/rp_filter is
// net.ipv4.conf.eth0/100.rp_filter). It returns the components.
func sysctlKey(k string) []string {
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		return strings.Split(k, "/")
	}
	return strings.Split(k, ".")
}

// checkSysctl: linux.sysctl. /proc/sys is only partly namespaced: a key is
// accepted when it belongs to a namespace the container has of its own,
// runc's rules (libcontainer/configs/validate), so that no setting reaches
// the host:
//   - the IPC ones with an IPC namespace;
//   - net.* with a network namespace that is not the runtime's own;
//   - kernel.domainname with a UTS namespace; kernel.hostname never (the
//     hostname field says it);
//   - user.* only with a user namespace (not supported yet);
//   - anything else is global to the host, and refused.
func checkSysctl(s *specs.Spec, _ string) error {
	sys := linux(s).Sysctl
	keys := make([]string, 0, len(sys))
	for k := range sys {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first problem, the same every time
	nss := namespacesOf(s)
	for _, k := range keys {
		path := "linux.sysctl[" + strconv.Quote(k) + "]"
		parts := sysctlKey(k)
		for _, p := range parts {
			// Each component is a file name under /proc/sys: never empty,
			// "." or "..", which would name another file.
			if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\x00 \t\n") {
				return bad(path, "not a sysctl name (like net.ipv4.ip_forward)")
			}
		}
		if err := noNUL(path, sys[k]); err != nil {
			return err
		}
		name := strings.Join(parts, ".")
		_, ipc := nss[specs.IPCNamespace]
		_, uts := nss[specs.UTSNamespace]
		switch {
		case slices.Contains(ipcSysctls, name) || parts[0] == "fs" && len(parts) > 2 && parts[1] == "mqueue":
			if !ipc {
				return bad(path, "needs an IPC namespace (linux.namespaces: {\"type\": \"ipc\"}); it would change the host's")
			}
		case parts[0] == "net":
			if !nss.has(specs.NetworkNamespace) {
				return bad(path, "needs a network namespace other than the host's; it would change the host's")
			}
		case name == "kernel.hostname":
			return bad(path, "set the hostname field instead")
		case name == "kernel.domainname":
			if !uts {
				return bad(path, "needs a UTS namespace (linux.namespaces: {\"type\": \"uts\"}); it would change the host's")
			}
		case parts[0] == "user":
			return bad(path, "needs a user namespace, which is not supported yet")
		default:
			return bad(path, "is not namespaced: it would change the host's")
		}
	}
	return nil
}
