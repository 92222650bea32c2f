package cgroup

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// SetDevices writes the rules, in order, into the devices controller's
// files (Documentation/admin-guide/cgroup-v1/devices.rst): an allow rule
// into devices.allow, a deny rule into devices.deny, one rule a write(2).
// The default list starts with "a" into devices.deny: the cgroup, which
// inherited its parent's allow-all, then denies everything and keeps no
// exception; each allow that follows adds one. The kernel's own
// devices.list then shows what is allowed, and the narration shows it.
func (c *v1) SetDevices(rules []DeviceRule, x *explain.Narrator) error {
	dir := c.devicesDir()
	if dir == "" {
		return fmt.Errorf("linux.resources.devices: this host has no devices cgroup controller to enforce them")
	}
	f := &files{fs: c.f.fs, n: x}
	for _, r := range rules {
		file, line := "devices.allow", r.String()
		if !r.Allow {
			file = "devices.deny"
		}
		if r.Type == 'a' {
			line = "a" // the kernel's own form: every type, number and access
		}
		if err := f.write(filepath.Join(dir, file), line); err != nil {
			return fmt.Errorf("device rule %q: %w", r.String(), err)
		}
	}
	if x.Enabled() {
		if l, err := f.read(filepath.Join(dir, "devices.list")); err == nil {
			x.Note("devices.list now allows: %s", strings.ReplaceAll(l, "\n", ", "))
		}
	}
	return nil
}

// devicesDir is the container's directory in the devices hierarchy, "" if
// the host has none. newV1 joins it as one of the hierarchies whose
// controller it does not otherwise use; devices.list marks it.
func (c *v1) devicesDir() string {
	for _, h := range c.hier {
		if exists(filepath.Join(h.dir, "devices.list")) {
			return h.dir
		}
	}
	return ""
}
