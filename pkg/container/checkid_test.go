package container

import (
	"regexp"
	"testing"
)

// TestCheckID: CheckID's loop accepts exactly what runc's rule,
// ^[\w+\-.]+$ less "." and "..", accepts: every rune below U+0800 alone
// and inside a name, and some names.
func TestCheckID(t *testing.T) {
	rule := regexp.MustCompile(`^[\w+\-.]+$`)
	ids := []string{"", ".", "..", "...", "a", "abc-1.2_3+4", "a b", "a/b", "a\x00", "é", "x\xff", "ID", "../x"}
	for r := rune(0); r < 0x800; r++ {
		ids = append(ids, string(r), "a"+string(r)+"b")
	}
	for _, id := range ids {
		want := rule.MatchString(id) && id != "." && id != ".."
		if got := CheckID(id) == nil; got != want {
			t.Errorf("CheckID(%q) accepts: %v, want %v", id, got, want)
		}
	}
}
