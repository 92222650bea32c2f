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
		{[]string{"running   1 second ago"}, []string{"running   3 seconds ago"}, true},
		{[]string{"running   1 second ago"}, []string{"dead      1 second ago"}, false},
		{[]string{"    PID TTY", "      1 ?"}, []string{"  PID TTY", "    1 ?"}, true}, // ps pads to pid_max's width
		{[]string{"  # a note"}, []string{"# a note"}, false},                          // a line's leading spaces: some, not none
		{[]string{"PID TTY"}, []string{"PID  TTY"}, false},                             // inside a line, spaces count
	}
	for _, c := range cases {
		if got := match(c.want, c.got); got != c.ok {
			t.Errorf("match(%q, %q) = %v, want %v", c.want, c.got, got, c.ok)
		}
	}
}

func TestRelaxations(t *testing.T) {
	clone := []string{"clone() returned 4242", "in child: bizarro", "in parent: host", "child has terminated"}
	cpu := []string{"50% of one core"}
	idmap := []string{`open_tree(AT_FDCWD, "/l", OPEN_TREE_CLONE) = 10   [open_tree(2)]`, `mount_setattr(10, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP, userns_fd=9}) = 0   [mount_setattr(2)]`, `[container] move_mount(5, "", AT_FDCWD, "/m", MOVE_MOUNT_F_EMPTY_PATH) = 0   [move_mount(2)]`}
	fds := []string{`open("/proc/4242/ns/uts", O_RDONLY|O_CLOEXEC) = 5   [open(2)]`, `setns(5</proc/4242/ns/uts>, CLONE_NEWUTS) = 0   [setns(2)]`}
	cases := []struct {
		text      string
		want, got []string
		ok        bool
	}{
		{"clonedemo x  # lines 1-3 in any order", clone,
			[]string{"in child: bizarro", "clone() returned 98765", "in parent: host", "child has terminated"}, true},
		{"clonedemo x", clone, // without the comment the order counts
			[]string{"in child: bizarro", "clone() returned 98765", "in parent: host", "child has terminated"}, false},
		{"clonedemo x  # lines 1-3 in any order", clone, // a wrong line
			[]string{"in child: host", "clone() returned 98765", "in parent: host", "child has terminated"}, false},
		{"clonedemo x  # lines 1-3 in any order", clone, // only lines 1 to 3
			[]string{"clone() returned 98765", "in child: bizarro", "child has terminated", "in parent: host"}, false},
		{"clonedemo x  # lines 1-3 in any order", clone, // a line missing
			[]string{"in child: bizarro", "clone() returned 98765", "child has terminated"}, false},
		{"setnsdemo -x  # descriptor numbers may differ", fds,
			[]string{`open("/proc/4242/ns/uts", O_RDONLY|O_CLOEXEC) = 4   [open(2)]`, `setns(4</proc/4242/ns/uts>, CLONE_NEWUTS) = 0   [setns(2)]`}, true},
		{"setnsdemo -x", fds, // without the comment the numbers count
			[]string{`open("/proc/4242/ns/uts", O_RDONLY|O_CLOEXEC) = 4   [open(2)]`, `setns(4</proc/4242/ns/uts>, CLONE_NEWUTS) = 0   [setns(2)]`}, false},
		{"setnsdemo -x  # descriptor numbers may differ", fds, // only descriptors: setns's result still counts
			[]string{`open("/proc/4242/ns/uts", O_RDONLY|O_CLOEXEC) = 4   [open(2)]`, `setns(4</proc/4242/ns/uts>, CLONE_NEWUTS) = -1   [setns(2)]`}, false},
		{"setnsdemo -x  # descriptor numbers may differ", fds, // and the namespace
			[]string{`open("/proc/4242/ns/net", O_RDONLY|O_CLOEXEC) = 4   [open(2)]`, `setns(4</proc/4242/ns/uts>, CLONE_NEWUTS) = 0   [setns(2)]`}, false},
		{"run -x  # descriptor numbers may differ", idmap,
			[]string{`open_tree(AT_FDCWD, "/l", OPEN_TREE_CLONE) = 9   [open_tree(2)]`, `mount_setattr(9, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP, userns_fd=8}) = 0   [mount_setattr(2)]`, `[container] move_mount(4, "", AT_FDCWD, "/m", MOVE_MOUNT_F_EMPTY_PATH) = 0   [move_mount(2)]`}, true},
		{"run -x", idmap, // without the comment the numbers count
			[]string{`open_tree(AT_FDCWD, "/l", OPEN_TREE_CLONE) = 9   [open_tree(2)]`, `mount_setattr(9, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP, userns_fd=8}) = 0   [mount_setattr(2)]`, `[container] move_mount(5, "", AT_FDCWD, "/m", MOVE_MOUNT_F_EMPTY_PATH) = 0   [move_mount(2)]`}, false},
		{"run -x  # descriptor numbers may differ", idmap, // mount_setattr's result still counts
			[]string{`open_tree(AT_FDCWD, "/l", OPEN_TREE_CLONE) = 9   [open_tree(2)]`, `mount_setattr(9, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP, userns_fd=8}) = -1   [mount_setattr(2)]`, `[container] move_mount(5, "", AT_FDCWD, "/m", MOVE_MOUNT_F_EMPTY_PATH) = 0   [move_mount(2)]`}, false},
		{"cpu  # measured: 10 to 50", cpu, []string{"30% of one core"}, true},
		{"cpu  # measured: 10 to 50", cpu, []string{"50% of one core"}, true},
		{"cpu  # measured: 10 to 50", cpu, []string{"60% of one core"}, false},
		{"cpu  # measured: 10 to 50", cpu, []string{"100% of one core"}, false},
		{"cpu  # measured: 10 to 50", cpu, []string{"0% of one core"}, false},
		{"cpu  # measured: 10 to 50", cpu, []string{"30% of two cores"}, false},
		{"cpu", cpu, []string{"30% of one core"}, false},
		{"x  # line 2 may come as late as line 4", []string{"a", "send 1601", "c1", "c2", "end"},
			[]string{"a", "c1", "c2", "send 999", "end"}, true},
		{"x  # line 2 may come as late as line 4", []string{"a", "send 1601", "c1", "c2", "end"},
			[]string{"a", "c1", "send 999", "c2", "end"}, true},
		{"x  # line 2 may come as late as line 4", []string{"a", "send 1601", "c1", "c2", "end"},
			[]string{"a", "c1", "c2", "end", "send 999"}, false}, // later than line 4
		{"x  # line 2 may come as late as line 4", []string{"a", "send 1601", "c1", "c2", "end"},
			[]string{"a", "c2", "c1", "send 999", "end"}, false}, // the others keep their order
		{"x  # line 3 may come as late as line 5", []string{"a", "...", "send 1601", "c1", "c2", "end"},
			[]string{"a", "b", "c1", "c2", "send 999", "end"}, true}, // after a "..."
		{"x", []string{"a", "send 1601", "c1", "c2", "end"},
			[]string{"a", "c1", "c2", "send 999", "end"}, false},
	}
	for _, c := range cases {
		if got := matchCommand(c.text, c.want, c.got); got != c.ok {
			t.Errorf("matchCommand(%q, %q, %q) = %v, want %v", c.text, c.want, c.got, got, c.ok)
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
