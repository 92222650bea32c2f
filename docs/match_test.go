package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

func TestMatchRules(t *testing.T) {
	cases := []struct {
		want, got []string
		ok        bool
	}{
		{[]string{"a"}, []string{"a"}, true},
		{[]string{"a"}, []string{"b"}, false},
		{[]string{"pid 4242"}, []string{"pid 98765"}, true},
		{[]string{"PID 1"}, []string{"PID 2"}, false}, // small numbers are exact
		{[]string{"uts:[4026531838]"}, []string{"uts:[4026532201]"}, true},
		{[]string{"id 3f2a9c1b7d4e5f60"}, []string{"id 0123456789abcdef"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "b", "c", "z"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "z"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "b"}, false},
		{[]string{"a"}, []string{"a", "extra"}, false},
		{[]string{"4242      sleep"}, []string{"675       sleep"}, true}, // a padded column
		{[]string{"PID 12   x"}, []string{"PID 12 x"}, false},            // only after a variable number
	}
	for _, c := range cases {
		if got := match(c.want, c.got); got != c.ok {
			t.Errorf("match(%q, %q) = %v, want %v", c.want, c.got, got, c.ok)
		}
	}
}

func TestParse(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.md")
	os.WriteFile(f, []byte("text\n```console\n# echo hi\nhi\n# true\n```\n```go\n# not a command\n```\n"), 0o644)
	blocks, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || len(blocks[0].cmds) != 2 || blocks[0].cmds[0].text != "echo hi" ||
		len(blocks[0].cmds[0].want) != 1 || blocks[0].cmds[0].want[0] != "hi" || len(blocks[0].cmds[1].want) != 0 {
		t.Fatalf("parse = %+v", blocks)
	}
	bad := filepath.Join(t.TempDir(), "bad.md")
	os.WriteFile(bad, []byte("```console\noutput first\n```\n"), 0o644)
	if _, err := parse(bad); err == nil {
		t.Fatal("output before a command was accepted")
	}
}

func TestParseLayouts(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.md")
	os.WriteFile(f, []byte("```console cgroup2\n# a\n```\n```console cgroup1\n# b\n```\n```console hybrid\n# c\n```\n```console\n# d\n```\n"), 0o644)
	blocks, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var layouts []string
	for _, b := range blocks {
		layouts = append(layouts, b.layout)
	}
	if fmt.Sprint(layouts) != fmt.Sprint([]string{"cgroup2", "cgroup1", "hybrid", ""}) {
		t.Fatalf("layouts = %q", layouts)
	}
	// Which block runs on which host: v2 blocks only on pure v2, v1 ones
	// on v1 and hybrid hosts, hybrid ones only there, plain ones anywhere.
	want := map[cgroup.Mode]string{
		cgroup.Unified: "[true false false true]",
		cgroup.Legacy:  "[false true false true]",
		cgroup.Hybrid:  "[false true true true]",
		0:              "[false false false true]",
	}
	for m, w := range want {
		var runs []bool
		for _, b := range blocks {
			runs = append(runs, b.runsOn(m))
		}
		if fmt.Sprint(runs) != w {
			t.Errorf("on a %v host the blocks run: %v, want %s", m, runs, w)
		}
	}
	for _, bad := range []string{"```console cgroupv2\n# a\n```\n", "```console cgroup2 hybrid\n# a\n```\n"} {
		os.WriteFile(f, []byte(bad), 0o644)
		if _, err := parse(f); err == nil {
			t.Errorf("%q was accepted", strings.SplitN(bad, "\n", 2)[0])
		}
	}
}
