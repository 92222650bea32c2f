// Package caps sets a process's capability sets by name, as the OCI
// runtime spec's process.capabilities gives them: bounding, effective,
// permitted, inheritable and ambient (capabilities(7)).
//
// Root in a container is still root: without this step the container's
// init keeps every capability its parent had (CapEff 000001ffffffffff in
// /proc/self/status), among them CAP_SYS_ADMIN (mount, and much more) and
// CAP_SYS_MODULE. Docker keeps 14 (DockerDefault).
//
// The sets belong to a thread, not to a process: Apply changes only the
// calling thread, so the caller locks its goroutine to the thread
// (runtime.LockOSThread) that then calls execve(2).
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// names are the capabilities by number, spelled as capabilities(7) and
// <linux/capability.h> spell them; the numbers are the kernel's, from
// golang.org/x/sys/unix.
var names = map[int]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

var numbers = func() map[string]int {
	m := make(map[string]int, len(names))
	for n, name := range names {
		m[name] = n
	}
	return m
}()

// DockerDefault is the set Docker gives a container's bounding, effective
// and permitted sets (moby's daemon/pkg/oci/caps.DefaultCapabilities):
// enough for a package manager, a shell and ping, and none of
// CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_NET_ADMIN. As a mask
// it is 00000000a80425fb, what /proc/self/status shows as CapBnd inside.
var DockerDefault = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// Number returns the kernel's number for a capability name ("CAP_CHOWN"
// is 0), and false for a name capabilities(7) does not list.
func Number(name string) (int, bool) {
	n, ok := numbers[name]
	return n, ok
}

// Name returns the name of capability number n, or "CAP_n" for a number
// newer than this table (a kernel may know more than we do).
func Name(n int) string {
	if name, ok := names[n]; ok {
		return name
	}
	return "CAP_" + strconv.Itoa(n)
}

// Known lists every name this package knows, in the kernel's order (for
// `features`, which reports what a runtime understands).
func Known() []string {
	out := make([]string, 0, len(names))
	for n := 0; n < len(names); n++ {
		out = append(out, names[n])
	}
	return out
}

// lastCapFile is where the kernel says the highest capability number it
// knows (proc(5), /proc/sys/kernel/cap_last_cap).
const lastCapFile = "/proc/sys/kernel/cap_last_cap"

// Last returns the highest capability number the running kernel knows.
// A name this package knows may be newer than the kernel (CAP_BPF came
// in Linux 5.8): Apply skips such a capability, as runc does. Where
// /proc is not mounted (a config.json without it), the kernel is asked
// instead: PR_CAPBSET_READ fails with EINVAL for a number it does not
// know (prctl(2)), as libcap finds the last one.
func Last() (int, error) {
	data, err := os.ReadFile(lastCapFile)
	if err != nil {
		if n, perr := probeLast(); perr == nil {
			return n, nil
		}
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("capabilities: %s: %q is not a capability number", lastCapFile, strings.TrimSpace(string(data)))
	}
	return n, nil
}

// probeLast finds the last capability with PR_CAPBSET_READ.
func probeLast() (int, error) {
	if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, 0, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("capabilities: prctl(PR_CAPBSET_READ): %w", err)
	}
	n := 0
	for n < 63 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n+1), 0, 0, 0); err != nil {
			break
		}
		n++
	}
	return n, nil
}

// field is one set of a LinuxCapabilities, named as config.json names it.
type field struct {
	name string
	list []string
}

func fields(c *specs.LinuxCapabilities) []field {
	return []field{
		{"bounding", c.Bounding},
		{"effective", c.Effective},
		{"permitted", c.Permitted},
		{"inheritable", c.Inheritable},
		{"ambient", c.Ambient},
	}
}

// Check refuses a name that capabilities(7) does not list, in one line
// naming the field by its place in config.json:
//
//	process.capabilities.bounding[3]: unknown capability "CAP_FOO"
//
// Names are spelled as the runtime spec spells them, "CAP_" and upper
// case. runc only warns about an unknown name and runs the container
// without it; a misspelt capability that silently disappears is a
// container that fails later for no visible reason, so we refuse it. A
// known name that this kernel is too old for is not an error (Apply skips
// it): the same config.json then runs on older and newer kernels. A nil c
// is fine: it asks for no change.
func Check(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	for _, f := range fields(c) {
		for i, name := range f.list {
			if _, ok := numbers[name]; !ok {
				return fmt.Errorf("process.capabilities.%s[%d]: unknown capability %q", f.name, i, name)
			}
		}
	}
	return nil
}

// Set is a capability set as the kernel holds it: bit n is capability n.
type Set uint64

// Has reports whether capability n is in s.
func (s Set) Has(n int) bool { return s&(1<<uint(n)) != 0 }

// String spells s as CAP_A|CAP_B, or 0 when empty (as strace prints it).
func (s Set) String() string {
	var parts []string
	for n := 0; n < 64; n++ {
		if s.Has(n) {
			parts = append(parts, Name(n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Parse turns names into a Set. Names above last (the kernel's
// cap_last_cap) are left out and returned in skipped; an unknown name is
// an error (Check says which field holds it).
func Parse(list []string, last int) (s Set, skipped []string, err error) {
	for _, name := range list {
		n, ok := numbers[name]
		if !ok {
			return 0, nil, fmt.Errorf("unknown capability %q", name)
		}
		if n > last {
			skipped = append(skipped, name)
			continue
		}
		s |= 1 << uint(n)
	}
	return s, skipped, nil
}

// Sets are the five sets of a thread (capabilities(7), "Thread capability sets").
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient Set
}

// parseAll turns c into Sets for a kernel whose last capability is last.
func parseAll(c *specs.LinuxCapabilities, last int) (Sets, []string, error) {
	if err := Check(c); err != nil {
		return Sets{}, nil, err
	}
	var s Sets
	var skipped []string
	for _, f := range []struct {
		list []string
		to   *Set
	}{
		{c.Bounding, &s.Bounding},
		{c.Effective, &s.Effective},
		{c.Permitted, &s.Permitted},
		{c.Inheritable, &s.Inheritable},
		{c.Ambient, &s.Ambient},
	} {
		set, sk, err := Parse(f.list, last)
		if err != nil {
			return Sets{}, nil, err
		}
		*f.to = set
		for _, name := range sk {
			if !contains(skipped, name) {
				skipped = append(skipped, name)
			}
		}
	}
	return s, skipped, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Bounding returns the calling thread's bounding set, the most any
// process it starts can hold (capabilities(7)): where the runtime itself
// runs without some capability (a sandbox that drops CAP_SYS_RESOURCE),
// a container cannot be given it.
func Bounding() (Set, error) {
	last, err := Last()
	if err != nil {
		return 0, err
	}
	return readBounding(last)
}
