package spec

import (
	"github.com/minicontainer/minicontainer/pkg/caps"
	"slices"

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
			Seccomp:  &features.Seccomp{Enabled: &t},
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
// joins (pkg/ns.ByName gives each one's clone(2) flag). A "user" one is
// created, never joined (checkUserNamespace); "time" waits for its issue.
var Namespaces = []specs.LinuxNamespaceType{
	specs.CgroupNamespace, specs.IPCNamespace, specs.MountNamespace,
	specs.NetworkNamespace, specs.PIDNamespace, specs.UTSNamespace,
	specs.UserNamespace,
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

// KnownCapabilities lists the capability names both this build and the
// running kernel know, in number order.
func KnownCapabilities() []string {
	known := caps.Known()
	if last, err := caps.Last(); err == nil && last+1 < len(known) {
		known = known[:last+1]
	}
	return known
}
