package spec

import (
	"os"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features says what this build honours, for `minicontainer features`
// (runtime-spec features.md). Every list comes from the tables Validate
// checks configs against, so the two cannot disagree.
func Features() *features.Features {
	t, f := true, false
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         slices.Clone(HookNames),
		MountOptions:  MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   NamespaceNames(),
			Capabilities: KnownCapabilities(),
			Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &f, SystemdUser: &f, Rdma: &f},
			Seccomp:      &features.Seccomp{Enabled: &f},
			Apparmor:     &features.Apparmor{Enabled: &f},
			Selinux:      &features.Selinux{Enabled: &f},
			IntelRdt:     &features.IntelRdt{Enabled: &f},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &f},
			},
			NetDevices: &features.NetDevices{Enabled: &f},
		},
	}
}

// HookNames are the lifecycle hooks config.json may name (runtime-spec,
// config.md "POSIX-platform Hooks"), in the order they run.
var HookNames = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// Namespaces maps the runtime-spec's namespace types this build creates or
// joins to their clone(2) names. "user" and "time" wait for their issues.
var Namespaces = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "CLONE_NEWPID",
	specs.NetworkNamespace: "CLONE_NEWNET",
	specs.MountNamespace:   "CLONE_NEWNS",
	specs.IPCNamespace:     "CLONE_NEWIPC",
	specs.UTSNamespace:     "CLONE_NEWUTS",
	specs.CgroupNamespace:  "CLONE_NEWCGROUP",
}

// NamespaceNames lists Namespaces' types, sorted.
func NamespaceNames() []string {
	var n []string
	for k := range Namespaces {
		n = append(n, string(k))
	}
	slices.Sort(n)
	return n
}

// capNames are the capabilities of capabilities(7), indexed by number
// (<linux/capability.h>).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// lastCap is the highest capability number the running kernel knows:
// /proc/sys/kernel/cap_last_cap (capabilities(7), since Linux 3.2). When
// it cannot be read, the whole table is assumed.
func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return len(capNames) - 1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 {
		return len(capNames) - 1
	}
	return min(n, len(capNames)-1)
}

// KnownCapabilities lists the capability names both this build and the
// running kernel know, in number order.
func KnownCapabilities() []string {
	return slices.Clone(capNames[:lastCap()+1])
}
