package container

import (
	"testing"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

// TestCgroupRecord: what state.json records of a cgroup reads back as the
// same driver, delegation root, parent and ID, for root's hosts and for a
// subtree delegated to a user (whose root may hold a colon).
func TestCgroupRecord(t *testing.T) {
	for _, c := range []struct {
		host                       *cgroup.Host
		parent                     string
		record                     string
		driver, delegated, parent2 string
	}{
		{&cgroup.Host{Mode: cgroup.Hybrid}, "minicontainer", "v1:minicontainer/ab12", "v1", "", "minicontainer"},
		{&cgroup.Host{Mode: cgroup.Unified}, "a/b", "v2:a/b/ab12", "v2", "", "a/b"},
		{&cgroup.Host{Mode: cgroup.Unified}, "", "v2:/ab12", "v2", "", ""},
		{&cgroup.Host{Mode: cgroup.Unified, Delegated: "/user.slice/user-1000.slice/user@1000.service"}, "minicontainer",
			"v2user:/user.slice/user-1000.slice/user@1000.service:minicontainer/ab12", "v2user", "/user.slice/user-1000.slice/user@1000.service", "minicontainer"},
		{&cgroup.Host{Mode: cgroup.Unified, Delegated: "/odd:name"}, "minicontainer", "v2user:/odd:name:minicontainer/ab12", "v2user", "/odd:name", "minicontainer"},
	} {
		r := (&cgroupPlan{host: c.host, parent: c.parent}).resource("ab12")
		if r.Kind != "cgroup" || r.Name != c.record {
			t.Errorf("resource = %+v, want cgroup %q", r, c.record)
		}
		driver, delegated, parent, id, err := parseRecorded(r.Name)
		if err != nil || driver != c.driver || delegated != c.delegated || parent != c.parent2 || id != "ab12" {
			t.Errorf("parseRecorded(%q) = %q %q %q %q %v; want %q %q %q ab12", r.Name, driver, delegated, parent, id, err, c.driver, c.delegated, c.parent2)
		}
	}
	for _, bad := range []string{"v3:minicontainer/x", "v2user:minicontainer/x", "v2user::minicontainer/x", "v2:x", ""} {
		if _, _, _, _, err := parseRecorded(bad); err == nil {
			t.Errorf("parseRecorded(%q): no error", bad)
		}
	}
}
