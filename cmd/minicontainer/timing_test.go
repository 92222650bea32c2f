package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestTiming: run --timing prints the start's table on stderr, and
// changes neither stdout nor the exit code. minicontainer's rows follow
// each other from its first mark to its last, so they add up to the
// total; the init's run inside that span, so they add up to less.
func TestTiming(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	r := run(t, "", "--net", "none", "--timing", "--", "/bin/true")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	want := map[string][]string{
		"minicontainer": {"before main", "parse", "validate", "gc", "state", "cgroup", "clone", "host", "await ready", "start", "wait", "cleanup"},
		"init": {"before main", "receive", "hostname, lo", "overlay", "mounts", "devices", "etc files, cwd", "pivot_root",
			"masked, read-only", "seccomp compile", "command lookup", "seccomp load", "user, capabilities", "ready",
			"wait for start", "last steps", "exec"},
	}
	type row struct{ wall, cpu float64 }
	rows := map[string]row{}
	sums := map[string]float64{}
	var total row
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "phase ") {
		t.Fatalf("no table on stderr:\n%s", r.stderr)
	}
	num := func(s, what string) float64 {
		if s == "-" {
			return -1
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Errorf("%s: %q is not a number", what, s)
		}
		return v
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "(") {
			continue // the legend
		}
		// The phase's name may hold spaces: the numbers are the last
		// fields (start, wall, CPU, process; total has no start nor process).
		f := strings.Fields(l)
		if strings.HasPrefix(l, "total ") && len(f) == 3 {
			total = row{num(f[1], "total wall"), num(f[2], "total CPU")}
			continue
		}
		if len(f) < 5 {
			t.Fatalf("a row of fewer than 5 fields: %q", l)
		}
		n := len(f)
		name := strings.Join(f[:n-4], " ")
		proc := f[n-1]
		x := row{num(f[n-3], l+": wall"), num(f[n-2], l+": CPU")}
		key := proc + ": " + name
		if _, dup := rows[key]; dup {
			t.Errorf("%s twice", key)
		}
		rows[key] = x
		if name == "before main" && proc == "minicontainer" {
			if x.wall != -1 || x.cpu <= 0 {
				t.Errorf("%q: want wall not measured, some CPU", l)
			}
			continue
		}
		if x.wall < 0 || x.cpu < 0 {
			t.Errorf("%q: a time not measured", l)
		}
		sums[proc] += x.wall
	}
	for proc, names := range want {
		for _, name := range names {
			if _, ok := rows[proc+": "+name]; !ok {
				t.Errorf("no row %q of %s", name, proc)
			}
		}
	}
	for _, k := range []string{"minicontainer: clone", "minicontainer: wait", "init: before main", "init: overlay", "init: exec"} {
		if rows[k].wall <= 0 {
			t.Errorf("%s: wall %v ms, want more than 0", k, rows[k].wall)
		}
	}
	// Each printed time is rounded to 0.01 ms.
	slack := 0.005 * float64(len(rows)+1)
	if d := sums["minicontainer"] - total.wall; d > slack || d < -slack {
		t.Errorf("minicontainer's phases add up to %.2f ms, the total is %.2f ms", sums["minicontainer"], total.wall)
	}
	if sums["init"] > total.wall+slack {
		t.Errorf("the init's phases add up to %.2f ms, more than the total %.2f ms", sums["init"], total.wall)
	}
	if total.wall <= 0 || total.cpu <= 0 {
		t.Errorf("total: %+v", total)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", r.stderr)
	}
}
