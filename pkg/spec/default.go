package spec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultHostname is the hostname of a container whose Spec names none
// (run without --hostname).
const DefaultHostname = "minicontainer"

// DefaultPath is the PATH of a container's process: the runtime-spec's
// and Docker's (moby's oci/defaults.go).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Default returns Docker's default Spec (moby's oci/defaults.go,
// DefaultLinuxSpec), the one `run` starts from and `minicontainer spec`
// prints: every step of the article written down as a config.json field.
//
//   - namespaces: pid, mount, uts, ipc, network, cgroup (not user: the
//     user-namespace issue adds it);
//   - mounts: a new /proc; /dev a tmpfs (the runtime fills it with the
//     safe nodes); /dev/pts a new devpts instance; /dev/shm; /dev/mqueue;
//     /sys and /sys/fs/cgroup read-only;
//   - rlimits: RLIMIT_NOFILE 1024, runc's default spec (`runc spec`):
//     lowering a limit never needs a privilege (a higher hard limit
//     needs CAP_SYS_RESOURCE, setrlimit(2));
//   - hostname, and an environment with PATH, HOME and HOSTNAME;
//   - the confinement (confine.go): Docker's 14 capabilities in the
//     bounding, effective and permitted sets, Docker's seccomp profile
//     (resolved for those capabilities and this kernel), the masked and
//     read-only paths of /proc and /sys, and the device rules "deny all,
//     then runc's allow list"; process.noNewPrivileges false, as Docker's.
//
// Args is empty: the caller's command goes there.
func Default() *specs.Spec {
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Cwd: "/",
			Env: []string{"PATH=" + DefaultPath, "HOME=/root", "HOSTNAME=" + DefaultHostname},
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024},
			},
		},
		Hostname: DefaultHostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.CgroupNamespace},
			},
		},
	}
	defaultConfinement(s)
	return s
}
