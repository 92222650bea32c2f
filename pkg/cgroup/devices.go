package cgroup

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device rules: which device files a container may open (read, write) or
// create (mknod). Mount and capability rules do not cover this: root in a
// container with CAP_MKNOD can make /dev/sda or /dev/kmsg (c 1:11) in any
// writable directory and open it, and the kernel checks such opens only
// against the device cgroup. The OCI field is linux.resources.devices, a
// list applied in order; the kernel enforces it in two ways:
//
//	cgroup v1: the devices controller, lines written into devices.deny and
//	  devices.allow (the kernel's Documentation/admin-guide/cgroup-v1/devices.rst)
//	cgroup v2: no devices file at all; a BPF_PROG_TYPE_CGROUP_DEVICE program
//	  attached to the cgroup answers each open and mknod (cgroup-v2.rst,
//	  "Device controller")
//
// Both get the same answer from the same list: the v2 program is built from
// what the v1 controller would hold after the same writes (deviceState).

// AnyNumber is a DeviceRule's Major or Minor that matches every number
// ("*" in devices.allow; a nil major or minor in config.json).
const AnyNumber = -1

// DeviceRule is one checked linux.resources.devices entry.
type DeviceRule struct {
	Allow  bool
	Type   byte   // 'a' (every device), 'c' (character) or 'b' (block)
	Major  int64  // AnyNumber, or 0..4095
	Minor  int64  // AnyNumber, or 0..1048575
	Access string // a non-empty subset of "rwm", in that order
}

// The kernel's dev_t holds a 12-bit major and a 20-bit minor (MINORBITS in
// include/linux/kdev_t.h); a rule for a larger number could never match.
const (
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// DefaultDeviceRules is what a container gets unless config.json says
// otherwise: everything denied, then runc's list of allowed devices
// (AllowedDevices in runc's libcontainer/specconv), which Docker and podman
// containers get. mknod of any device is allowed (a device node alone
// gives nothing; opening it is what the rules refuse), /dev/console is not
// in it (a container's console is a pty, 136:*).
var DefaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: false, Type: "a", Access: "rwm"},
	devAllow("c", AnyNumber, AnyNumber, "m"), // mknod of any character device
	devAllow("b", AnyNumber, AnyNumber, "m"), // and of any block device
	devAllow("c", 1, 3, "rwm"),               // /dev/null
	devAllow("c", 1, 8, "rwm"),               // /dev/random
	devAllow("c", 1, 7, "rwm"),               // /dev/full
	devAllow("c", 5, 0, "rwm"),               // /dev/tty
	devAllow("c", 1, 5, "rwm"),               // /dev/zero
	devAllow("c", 1, 9, "rwm"),               // /dev/urandom
	devAllow("c", 136, AnyNumber, "rwm"),     // /dev/pts/*, the container's terminals
	devAllow("c", 5, 2, "rwm"),               // /dev/ptmx (devpts's own, /dev/pts/ptmx, is 5:2 too)
	devAllow("c", 10, 200, "rwm"),            // /dev/net/tun: runc dropped it in 1.2.0-rc1 and put it back (runc#3468)
}

// PrivilegedDeviceRules is --privileged's: every device, as Docker's
// "a *:* rwm".
var PrivilegedDeviceRules = []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "rwm"}}

func devAllow(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major != AnyNumber {
		r.Major = &major
	}
	if minor != AnyNumber {
		r.Minor = &minor
	}
	return r
}

// DeviceRules checks linux.resources.devices and returns the rules in
// order. An error is one line naming the entry and its field, e.g.
// `linux.resources.devices[2].access: "rx": only r, w and m`.
func DeviceRules(rules []specs.LinuxDeviceCgroup) ([]DeviceRule, error) {
	out := make([]DeviceRule, 0, len(rules))
	for i, r := range rules {
		field := func(name string) string { return fmt.Sprintf("linux.resources.devices[%d].%s", i, name) }
		d := DeviceRule{Allow: r.Allow, Major: AnyNumber, Minor: AnyNumber}
		switch r.Type {
		case "", "a": // runc takes a missing type as "a"
			d.Type = 'a'
		case "c", "b":
			d.Type = r.Type[0]
		default:
			return nil, fmt.Errorf("%s: %q is not a (all), c (character) or b (block)", field("type"), r.Type)
		}
		if r.Major != nil {
			if *r.Major < 0 || *r.Major > maxMajor {
				return nil, fmt.Errorf("%s: %d is out of range 0-%d (leave it out for any)", field("major"), *r.Major, maxMajor)
			}
			d.Major = *r.Major
		}
		if r.Minor != nil {
			if *r.Minor < 0 || *r.Minor > maxMinor {
				return nil, fmt.Errorf("%s: %d is out of range 0-%d (leave it out for any)", field("minor"), *r.Minor, maxMinor)
			}
			d.Minor = *r.Minor
		}
		if r.Access == "" {
			return nil, fmt.Errorf("%s: must not be empty (r, w and m: read, write, mknod)", field("access"))
		}
		if strings.Trim(r.Access, "rwm") != "" {
			return nil, fmt.Errorf("%s: %q: only r (read), w (write) and m (mknod)", field("access"), r.Access)
		}
		acc := parseAccess(r.Access)
		d.Access = acc.String()
		// The v1 kernel reads a rule of type a as "every device, every
		// access" and ignores the rest of the line; a narrower one would
		// mean one thing on v1 and another on v2.
		if d.Type == 'a' && (d.Major != AnyNumber || d.Minor != AnyNumber) {
			return nil, fmt.Errorf("%s: type a means every device: leave major and minor out, or give type c or b", field("type"))
		}
		if d.Type == 'a' && acc != accAll {
			return nil, fmt.Errorf("%s: %q: type a covers every access (the devices controller cannot narrow it): use rwm, or give type c or b", field("access"), r.Access)
		}
		out = append(out, d)
	}
	return out, nil
}

// String is the rule as devices.allow/devices.deny take it and
// devices.list shows it: "c 1:3 rwm", "a *:* rwm".
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n == AnyNumber {
			return "*"
		}
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// accessBits are the accesses a rule covers, with the values a device
// program sees in bpf_cgroup_dev_ctx.access_type >> 16 (BPF_DEVCG_ACC_* in
// include/uapi/linux/bpf.h).
type accessBits uint32

const (
	accMknod accessBits = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  accessBits = 2 // BPF_DEVCG_ACC_READ
	accWrite accessBits = 4 // BPF_DEVCG_ACC_WRITE
	accAll              = accMknod | accRead | accWrite
)

func parseAccess(s string) accessBits {
	var a accessBits
	for _, ch := range s {
		switch ch {
		case 'r':
			a |= accRead
		case 'w':
			a |= accWrite
		case 'm':
			a |= accMknod
		}
	}
	return a
}

func (a accessBits) String() string {
	var b strings.Builder
	if a&accRead != 0 {
		b.WriteByte('r')
	}
	if a&accWrite != 0 {
		b.WriteByte('w')
	}
	if a&accMknod != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// deviceState is what the v1 devices controller holds for a cgroup (the
// kernel's struct dev_cgroup): a default behaviour and a list of
// exceptions to it. apply follows devcgroup_update_access() in
// security/device_cgroup.c, so that the v2 program built from the state
// answers exactly as the v1 controller does after the same writes.
type deviceState struct {
	allowAll   bool         // behaviour: allow all but the exceptions, or deny all but them
	exceptions []DeviceRule // type c or b; Allow is !allowAll
}

// newDeviceState is a fresh cgroup's state below an unrestricted parent:
// every device allowed (the root's "a *:* rwm"), as on v2 with no program.
func newDeviceState() *deviceState { return &deviceState{allowAll: true} }

func (s *deviceState) apply(r DeviceRule) {
	if r.Type == 'a' {
		// "a": a new default, and no exception left.
		s.allowAll, s.exceptions = r.Allow, nil
		return
	}
	if r.Allow == s.allowAll {
		// Allowing under allow-all (denying under deny-all) removes the
		// access from an exception with the same type and numbers, if
		// any; a wider or narrower exception is left as it is.
		s.remove(r)
		return
	}
	s.add(r)
}

// add is dev_exception_add: an exception for the same type and numbers
// gains the access; otherwise the rule is appended.
func (s *deviceState) add(r DeviceRule) {
	for i, e := range s.exceptions {
		if e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor {
			s.exceptions[i].Access = (parseAccess(e.Access) | parseAccess(r.Access)).String()
			return
		}
	}
	r.Allow = !s.allowAll
	s.exceptions = append(s.exceptions, r)
}

// remove is dev_exception_rm.
func (s *deviceState) remove(r DeviceRule) {
	kept := s.exceptions[:0]
	for _, e := range s.exceptions {
		if e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor {
			left := parseAccess(e.Access) &^ parseAccess(r.Access)
			if left == 0 {
				continue
			}
			e.Access = left.String()
		}
		kept = append(kept, e)
	}
	s.exceptions = kept
}

// matches is match_exception (deny-all: one exception must grant every
// access asked for) and match_exception_partial (allow-all: an exception
// refusing any of them is enough).
func (e DeviceRule) matches(typ byte, major, minor int64, acc accessBits, partial bool) bool {
	if e.Type != typ || (e.Major != AnyNumber && e.Major != major) || (e.Minor != AnyNumber && e.Minor != minor) {
		return false
	}
	if partial {
		return acc&parseAccess(e.Access) != 0
	}
	return acc&^parseAccess(e.Access) == 0
}

// allows answers one access (typ 'c' or 'b', acc one or more accesses) as
// the v1 controller would (devcgroup_legacy_check_permission).
func (s *deviceState) allows(typ byte, major, minor int64, acc accessBits) bool {
	for _, e := range s.exceptions {
		if e.matches(typ, major, minor, acc, s.allowAll) {
			return !s.allowAll
		}
	}
	return s.allowAll
}

// list is what devices.list shows for the state: "a *:* rwm" for
// allow-all (the kernel shows no deny exception there), else the allowed
// exceptions, one a line.
func (s *deviceState) list() []string {
	if s.allowAll {
		return []string{"a *:* rwm"}
	}
	var l []string
	for _, e := range s.exceptions {
		l = append(l, e.String())
	}
	return l
}

func stateOf(rules []DeviceRule) *deviceState {
	s := newDeviceState()
	for _, r := range rules {
		s.apply(r)
	}
	return s
}
