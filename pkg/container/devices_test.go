package container

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/spec"
)

// TestPlanDevicesOnce: the default Spec's rules already end with runc's
// allow list, which planDevices appends to any Spec's: not twice.
func TestPlanDevicesOnce(t *testing.T) {
	var got []string
	rules, err := planDevices(spec.Default(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		got = append(got, r.String())
	}
	want := "a *:* rwm, c *:* m, b *:* m, c 1:3 rwm, c 1:8 rwm, c 1:7 rwm, c 5:0 rwm, c 1:5 rwm, c 1:9 rwm, c 136:* rwm, c 5:2 rwm, c 10:200 rwm"
	if s := strings.Join(got, ", "); s != want {
		t.Errorf("rules:\n%s\nwant\n%s", s, want)
	}
	// A Spec with only "deny all" still gets the list after it.
	s := spec.Default()
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	if rules, _ := planDevices(s, true); len(rules) != 12 {
		t.Errorf("deny all: %d rules, want 12", len(rules))
	}
}
