package container

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// TestPlanCgroupsPath: where linux.cgroupsPath puts the cgroup (parent
// and name, as pkg/cgroup takes them), and the CPU bandwidth kept as the
// Spec gives it. No root needed; a host without cgroups skips.
func TestPlanCgroupsPath(t *testing.T) {
	if _, err := cgroup.Detect(); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct{ path, parent, name, err string }{
		{"", DefaultCgroupParent, "ID", ""},
		{"/cgrouptest", "", "cgrouptest", ""},
		{"/a/b", "a", "b", ""},
		{"/a/b/c/d", "a/b/c", "d", ""},
		{"testdir/cgrouptest/container", DefaultCgroupParent + "/testdir/cgrouptest", "container", ""},
		{"c", DefaultCgroupParent, "c", ""},
		{"//a//b/", "a", "b", ""},
		{"/", "", "", "names no cgroup"},
		{"system.slice:mc:ID", "", "", "systemd"},
		{"/a/b c", "", "", "use letters"},
	} {
		s := spec.Default()
		s.Linux.CgroupsPath = c.path
		plan, name, err := planCgroup(s, "ID")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one with %q", c.path, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.path, err)
			continue
		}
		if plan.parent != c.parent || name != c.name {
			t.Errorf("%q: parent %q name %q, want %q %q", c.path, plan.parent, name, c.parent, c.name)
		}
	}
	s := spec.Default()
	quota, period := int64(50000), uint64(500000)
	s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}
	plan, _, err := planCgroup(s, "ID")
	if err != nil {
		t.Fatal(err)
	}
	if l := plan.limits; l.CPUQuota != 50000 || l.CPUPeriod != 500000 || l.CPUs != 0.1 {
		t.Errorf("quota 50000 period 500000: limits %+v", l)
	}
}
