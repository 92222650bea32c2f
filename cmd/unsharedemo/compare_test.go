package main

import (
	"os"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// TestCompareWithC runs unshare.c from unshare(2) and unsharedemo side by
// side. Not compared, on purpose (see docs/04-unshare.md): -p (the C's
// program stays outside the new PID namespace, ours is its PID 1), and
// options after the program (glibc's getopt permutes them, so the C needs
// "--" before a program with options; we stop at the program), and an
// unknown long option (the C has none, so its getopt says "invalid option
// -- '-'"; ours has long options and says "unrecognized option '--bogus'").
func TestCompareWithC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare(2) needs root: run with sudo (make compare)")
	}
	pair := sidebyside.Build(t, "unshare.2", "unshare.c", ".")
	pair.Compare(t, []sidebyside.Case{
		{Name: "usage", Args: nil},
		{Name: "invalid option", Args: []string{"-z", "true"}},
		{Name: "invalid option in a cluster", Args: []string{"-uz", "true"}},
		{Name: "options but no program", Args: []string{"-u"}},
		{Name: "double dash", Args: []string{"-u", "--", "hostname"}},
		{Name: "uts", Args: []string{"-u", "--", "sh", "-c", "hostname bizarro && hostname"}},
		{Name: "clustered", Args: []string{"-ui", "--", "sh", "-c", "hostname x && ipcs -q | head -3"}},
		{Name: "net", Args: []string{"-n", "--", "ip", "-o", "link"}},
		{Name: "user without a mapping", Args: []string{"-U", "--", "id", "-u"}},
		{Name: "cgroup", Args: []string{"-C", "cat", "/proc/self/cgroup"}},
		{Name: "time", Args: []string{"-t", "cat", "/proc/self/timens_offsets"}},
		{Name: "mount", Args: []string{"-m", "true"}},
		{Name: "exit status", Args: []string{"-u", "--", "sh", "-c", "exit 3"}},
		{Name: "no such program", Args: []string{"-u", "no-such-command-mctest"}},
		{Name: "not root", Args: []string{"-u", "hostname"}, Nobody: true},
	})
}
