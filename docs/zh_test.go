package docs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawBlock is a console block as it stands in the file: the fence line
// (with its layout word), every line inside, and the closing fence.
type rawBlock struct {
	line int // the fence's line number
	text []string
}

// rawConsoleBlocks returns the console blocks of a markdown file as text,
// fences included, with parse's rules for where a block starts and ends.
func rawConsoleBlocks(file string) ([]rawBlock, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var blocks []rawBlock
	var cur *rawBlock
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimRight(line, " \t")
		switch {
		case cur == nil && (trimmed == "```console" || strings.HasPrefix(trimmed, "```console ")):
			cur = &rawBlock{line: n, text: []string{line}}
		case cur != nil:
			cur.text = append(cur.text, line)
			if trimmed == "```" {
				blocks = append(blocks, *cur)
				cur = nil
			}
		}
	}
	return blocks, sc.Err()
}

// TestChineseTwins keeps the two languages from drifting apart (issue 14,
// section 4): every lesson docs/NN-*.md has a Chinese version
// docs/zh/NN-*.md, and docs/README.md and README.md have theirs
// (docs/zh/README.md, README.zh.md), with the same console blocks, byte
// for byte, in the same order. TestTranscripts runs both; this test makes
// sure they are the same transcripts, so that a command fixed in one
// language cannot stay broken, or be shown differently, in the other. A
// Chinese page with no English twin (a misspelt name) fails too; the
// glossary is the one page of its own. Needs no root.
func TestChineseTwins(t *testing.T) {
	root := repoRoot(t)
	docs := filepath.Join(root, "docs")
	lessons, err := filepath.Glob(filepath.Join(docs, "[0-9][0-9]-*.md"))
	if err != nil || len(lessons) == 0 {
		t.Fatalf("no lessons in %s (%v)", docs, err)
	}
	type pair struct{ name, en, zh string }
	var pairs []pair
	for _, en := range lessons {
		base := filepath.Base(en)
		pairs = append(pairs, pair{base, en, filepath.Join(docs, "zh", base)})
	}
	pairs = append(pairs,
		pair{"README.md", filepath.Join(docs, "README.md"), filepath.Join(docs, "zh", "README.md")},
		pair{"top-README.md", filepath.Join(root, "README.md"), filepath.Join(root, "README.zh.md")})
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			enRel, _ := filepath.Rel(root, p.en)
			zhRel, _ := filepath.Rel(root, p.zh)
			if _, err := os.Stat(p.zh); err != nil {
				t.Fatalf("%s has no Chinese version: %s is missing (issue 14: every lesson also in Chinese)", enRel, zhRel)
			}
			en, err := rawConsoleBlocks(p.en)
			if err != nil {
				t.Fatal(err)
			}
			zh, err := rawConsoleBlocks(p.zh)
			if err != nil {
				t.Fatal(err)
			}
			if diff := compareBlocks(enRel, en, zhRel, zh); diff != "" {
				t.Error(diff)
			}
		})
	}
	// Every Chinese page has an English twin, but for the glossary.
	zhPages, _ := filepath.Glob(filepath.Join(docs, "zh", "*.md"))
	for _, zh := range zhPages {
		base := filepath.Base(zh)
		if base == "glossary.md" {
			continue
		}
		if _, err := os.Stat(filepath.Join(docs, base)); err != nil {
			t.Errorf("docs/zh/%s has no English twin docs/%s", base, base)
		}
	}
}

// compareBlocks says how the Chinese page's console blocks differ from the
// English page's (for each block, its first differing line), or returns ""
// when they are the same.
func compareBlocks(enName string, en []rawBlock, zhName string, zh []rawBlock) string {
	var b strings.Builder
	for i := 0; i < len(en) || i < len(zh); i++ {
		switch {
		case i >= len(zh):
			fmt.Fprintf(&b, "%s:%d: console block %d has no twin in %s\n", enName, en[i].line, i+1, zhName)
			continue
		case i >= len(en):
			fmt.Fprintf(&b, "%s:%d: console block %d has no twin in %s\n", zhName, zh[i].line, i+1, enName)
			continue
		}
		e, z := en[i].text, zh[i].text
		for j := 0; j < len(e) || j < len(z); j++ {
			el, zl := "(none)", "(none)"
			if j < len(e) {
				el = e[j]
			}
			if j < len(z) {
				zl = z[j]
			}
			if j >= len(e) || j >= len(z) || el != zl {
				fmt.Fprintf(&b, "%s:%d: console block %d differs from %s:%d\n  en: %s\n  zh: %s\n",
					zhName, zh[i].line+j, i+1, enName, en[i].line+j, el, zl)
				break
			}
		}
	}
	return b.String()
}

func TestCompareBlocks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) []rawBlock {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		blocks, err := rawConsoleBlocks(f)
		if err != nil {
			t.Fatal(err)
		}
		return blocks
	}
	en := write("en.md", "# 01\n\nSome text.\n\n```console\n# hostname\nhost\n```\n\n```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n")
	cases := []struct {
		name, zh, want string // want: a part of the message, "" for none
	}{
		{"the same blocks, other prose", "# 01\n\n中文。\n\n多一行。\n\n```console\n# hostname\nhost\n```\n说明\n```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n", ""},
		{"a command changed", "```console\n# uname -n\nhost\n```\n```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n", "zh.md:2: console block 1 differs from en.md:6\n  en: # hostname\n  zh: # uname -n"},
		{"an output line changed", "```console\n# hostname\nhost\n```\n```console cgroup2\n# cat x  # measured: 1 to 9\n6\n```\n", "zh.md:7: console block 2 differs from en.md:12"},
		{"the layout word dropped", "```console\n# hostname\nhost\n```\n```console\n# cat x  # measured: 1 to 9\n5\n```\n", "console block 2 differs"},
		{"a relaxation comment dropped", "```console\n# hostname\nhost\n```\n```console cgroup2\n# cat x\n5\n```\n", "console block 2 differs"},
		{"a line missing", "```console\n# hostname\n```\n```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n", "console block 1 differs"},
		{"a block missing", "```console\n# hostname\nhost\n```\n", "en.md:10: console block 2 has no twin in zh.md"},
		{"a block too many", "```console\n# hostname\nhost\n```\n```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n```console\n# true\n```\n", "zh.md:9: console block 3 has no twin in en.md"},
		{"the blocks swapped", "```console cgroup2\n# cat x  # measured: 1 to 9\n5\n```\n```console\n# hostname\nhost\n```\n", "console block 1 differs"},
	}
	for _, c := range cases {
		got := compareBlocks("en.md", en, "zh.md", write("zh.md", c.zh))
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: compareBlocks said %q, want %q", c.name, got, c.want)
		}
	}
}
