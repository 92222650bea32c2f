package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Propagations are the propagation types a new mount namespace can be
// given, by the names unshare(1)'s --propagation uses; "unchanged" keeps
// what the namespace copied (mount_namespaces(7), "Shared subtrees").
var Propagations = map[string]uintptr{"private": unix.MS_PRIVATE, "shared": unix.MS_SHARED, "slave": unix.MS_SLAVE, "unchanged": 0}

// SetPropagation sets the propagation type of target and of every mount
// below it (MS_REC) to mode, one of Propagations. A new mount namespace
// starts with copies of the parent's mounts, and those that were shared
// stay peers of the originals: on a systemd host, where "/" is shared, a
// mount made inside would appear on the host (a proc mounted "inside"
// would hide the host's /proc). Private cuts every mount from its peers;
// slave still lets the host's new mounts come in (runc uses it).
func SetPropagation(x *explain.Narrator, target, mode string) error {
	flag, ok := Propagations[mode]
	if !ok {
		return fmt.Errorf("propagation %q: want private, shared, slave or unchanged", mode)
	}
	if flag == 0 {
		return nil
	}
	return mount(x, "", target, "", flag|unix.MS_REC, "")
}

// ProcFlags are the flags a proc filesystem is mounted with, as docker and
// runc mount it: nothing on it is a setuid program, a device or a program.
const ProcFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// MountProc mounts a new proc filesystem on target. It shows the PID
// namespace of the process that mounts it (pid_namespaces(7), "/proc and
// PID namespaces"): mounted from a new PID namespace's process, ps lists
// only that namespace.
func MountProc(x *explain.Narrator, target string) error {
	return mount(x, "proc", target, "proc", ProcFlags, "")
}
