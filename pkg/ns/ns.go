// Package ns is the one table of Linux namespace kinds and the few
// operations every lesson needs on them: parse a name or an unshare(1)
// letter, read a namespace's identity, and join one with setns(2).
//
// See namespaces(7) for the overview and setns(2) for the joining rules.
package ns

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is one namespace type.
type Kind struct {
	Name     string  // the file name under /proc/PID/ns and nsenter(1)'s word: "uts"
	Flag     uintptr // the CLONE_NEW* flag for clone(2), unshare(2) and setns(2)
	Letter   byte    // unshare(1)/nsenter(1) short option: 'u'
	Const    string  // the flag's C name: "CLONE_NEWUTS"
	Page     string  // the man page that explains it: "uts_namespaces(7)"
	Isolates string  // what a process in it gets its own copy of
}

// Kinds lists all eight kinds in the order nsenter(1) joins them: the user
// namespace first, because joining it grants the capabilities needed to join
// the others (see setns(2), "Details for specific namespace types"), and the
// mount namespace late, because after it the /proc paths of the others may
// no longer resolve the same way.
var Kinds = []Kind{
	{"user", unix.CLONE_NEWUSER, 'U', "CLONE_NEWUSER", "user_namespaces(7)", "user and group IDs, capabilities"},
	{"cgroup", unix.CLONE_NEWCGROUP, 'C', "CLONE_NEWCGROUP", "cgroup_namespaces(7)", "the cgroup root directory"},
	{"ipc", unix.CLONE_NEWIPC, 'i', "CLONE_NEWIPC", "ipc_namespaces(7)", "System V IPC, POSIX message queues"},
	{"uts", unix.CLONE_NEWUTS, 'u', "CLONE_NEWUTS", "uts_namespaces(7)", "hostname and NIS domain name"},
	{"net", unix.CLONE_NEWNET, 'n', "CLONE_NEWNET", "network_namespaces(7)", "network devices, stacks, ports"},
	{"pid", unix.CLONE_NEWPID, 'p', "CLONE_NEWPID", "pid_namespaces(7)", "process IDs"},
	{"mnt", unix.CLONE_NEWNS, 'm', "CLONE_NEWNS", "mount_namespaces(7)", "mount points"},
	{"time", unix.CLONE_NEWTIME, 'T', "CLONE_NEWTIME", "time_namespaces(7)", "boot and monotonic clocks"},
}

// ByName finds a kind by its /proc/PID/ns file name. "mount" and "network"
// are accepted as nsenter(1) spells them in long options.
func ByName(name string) (Kind, error) {
	switch name {
	case "mount":
		name = "mnt"
	case "network":
		name = "net"
	}
	for _, k := range Kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown namespace %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// ByLetter finds a kind by its unshare(1) short option letter.
func ByLetter(c byte) (Kind, error) {
	for _, k := range Kinds {
		if k.Letter == c {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown namespace letter %q", c)
}

// ByFlag finds the kind of a single CLONE_NEW* flag.
func ByFlag(flag uintptr) (Kind, error) {
	for _, k := range Kinds {
		if k.Flag == flag {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown namespace flag %#x", flag)
}

// Names returns the eight names in table order.
func Names() []string {
	var names []string
	for _, k := range Kinds {
		names = append(names, k.Name)
	}
	return names
}

// ParseList turns "uts,pid" (or "all") into the kinds it names, in table order.
func ParseList(list string) ([]Kind, error) {
	if list == "all" {
		return Kinds, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		k, err := ByName(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		want[k.Name] = true
	}
	var kinds []Kind
	for _, k := range Kinds {
		if want[k.Name] {
			kinds = append(kinds, k)
		}
	}
	return kinds, nil
}

// Flags ORs the CLONE_NEW* flags of kinds together.
func Flags(kinds []Kind) uintptr {
	var f uintptr
	for _, k := range kinds {
		f |= k.Flag
	}
	return f
}

// FlagString spells flags the way a C programmer writes them:
// "CLONE_NEWUTS|CLONE_NEWPID". Bits that are not namespace flags are
// appended in hex so nothing passed to the kernel is hidden.
func FlagString(flags uintptr) string {
	var parts []string
	// Table order is join order; print in the kernel's bit order instead,
	// which is how strace(1) shows them.
	for bit := uintptr(1); bit != 0; bit <<= 1 {
		if flags&bit == 0 {
			continue
		}
		if k, err := ByFlag(bit); err == nil {
			parts = append(parts, k.Const)
			flags &^= bit
		}
	}
	if flags != 0 {
		parts = append(parts, fmt.Sprintf("%#x", flags))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Path is the namespace file of a process: /proc/PID/ns/NAME.
// pid 0 means the calling process ("self").
func Path(pid int, k Kind) string {
	if pid == 0 {
		return "/proc/self/ns/" + k.Name
	}
	return fmt.Sprintf("/proc/%d/ns/%s", pid, k.Name)
}
