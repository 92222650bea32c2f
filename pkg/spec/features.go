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
	// Each "enabled" is true exactly when Validate accepts the field.
	has := func(field string) *bool { b := honoured(field); return &b }
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         slices.Clone(HookNames),
		MountOptions:  MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   NamespaceNames(),
			Capabilities: KnownCapabilities(),
			// pkg/cgroup drives both hierarchies, through cgroupfs only.
			Cgroup:   &features.Cgroup{V1: &t, V2: &t, Systemd: &f, SystemdUser: &f, Rdma: has("linux.resources.rdma")},
			Seccomp:  &features.Seccomp{Enabled: has("linux.seccomp")},
			Apparmor: &features.Apparmor{Enabled: has("process.apparmorProfile")},
			Selinux:  &features.Selinux{Enabled: has("process.selinuxLabel")},
			IntelRdt: &features.IntelRdt{Enabled: has("linux.intelRdt")},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: has("mounts[].uidMappings")},
			},
			NetDevices: &features.NetDevices{Enabled: has("linux.netDevices")},
		},
	}
}

// HookNames are the lifecycle hooks config.json may name (runtime-spec,
// config.md "POSIX-platform Hooks"), in the order they run.
var HookNames = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// Namespaces are the runtime-spec's namespace types this build creates or
// joins (pkg/ns.ByName gives each one's clone(2) flag). "user" and "time"
// wait for their issues.
var Namespaces = []specs.LinuxNamespaceType{
	specs.CgroupNamespace, specs.IPCNamespace, specs.MountNamespace,
	specs.NetworkNamespace, specs.PIDNamespace, specs.UTSNamespace,
}

// NamespaceNames lists Namespaces' types, sorted.
func NamespaceNames() []string {
	var n []string
	for _, k := range Namespaces {
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
