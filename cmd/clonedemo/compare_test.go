package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// The man page's child sleeps 200 s; the article's (and clonedemo's default)
// 3 s. Built beside clone.c (not into it), this caps the C's sleep(3) at 3 s.
const shortSleep = `#undef sleep
#include <unistd.h>
unsigned int demo_sleep(unsigned int s) { return sleep(s > 3 ? 3 : s); }
`

// TestCompareWithC runs clone.c from clone(2) and clonedemo side by side.
func TestCompareWithC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("clone(CLONE_NEWUTS) needs root: run with sudo (make compare)")
	}
	helper := filepath.Join(t.TempDir(), "shortsleep.c")
	os.WriteFile(helper, []byte(shortSleep), 0o644)
	pair := sidebyside.Build(t, "clone.2", "clone.c", ".", "-Dsleep=demo_sleep", helper)
	pair.Compare(t, []sidebyside.Case{
		{Name: "usage", Args: nil},
		{Name: "child hostname", Args: []string{"bizarro"}, Unordered: true},
		{Name: "not root", Args: []string{"bizarro"}, Nobody: true},
		{Name: "hostname too long", Args: []string{"a-hostname-longer-than-the-sixty-four-bytes-a-utsname-field-holds-x"}, Unordered: true},
	})
}
