package fault

import (
	"strings"
	"testing"
)

// set is what init makes of MINICONTAINER_FAULT=value.
func set(t *testing.T, value string) {
	old := [...]any{mode, die, step, trace}
	t.Cleanup(func() {
		mode, die, step, trace = old[0].(string), old[1].(bool), old[2].(string), old[3].(bool)
	})
	mode, die, step, trace = value, false, "", false
	parse()
}

func TestPoint(t *testing.T) {
	set(t, "")
	if err := Point(nil, "veth"); err != nil {
		t.Errorf("unset: %v", err)
	}
	set(t, "veth")
	if err := Point(nil, "bridge"); err != nil {
		t.Errorf("veth, at bridge: %v", err)
	}
	if err := Point(nil, "veth"); err == nil || !strings.Contains(err.Error(), `injected fault after step "veth"`) {
		t.Errorf("veth, at veth: %v", err)
	}
	set(t, "die:veth")
	if !die || step != "veth" {
		t.Errorf("die:veth parsed as die=%v step=%q", die, step)
	}
	if err := Point(nil, "bridge"); err != nil {
		t.Errorf("die:veth, at bridge: %v", err)
	}
	set(t, "vteh")
	if err := Point(nil, "bridge"); err == nil || !strings.Contains(err.Error(), "no such step") {
		t.Errorf("a misspelt step must fail at the first point, got %v", err)
	}
}
