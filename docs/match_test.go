package docs

import (
	"os"
	"path/filepath"
	"testing"
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
