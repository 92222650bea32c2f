package container

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/proc"
)

// TestResolve needs no root: state dirs with a state.json are all Resolve
// reads.
func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, s := range []State{
		{ID: "397a1b2c3d4e", Name: "web"},
		{ID: "3975551f00aa", Name: "db"},
		{ID: "aa0000000001", Name: "397"},
		{ID: "bb0000000002", Name: "aa0000000001"}, // a name that is another's ID
		{ID: "cc0000000003"},
	} {
		dir := filepath.Join(root, s.ID)
		os.Mkdir(dir, 0o700)
		data, _ := json.Marshal(s)
		os.WriteFile(filepath.Join(dir, "state.json"), data, 0o600)
	}
	os.Mkdir(filepath.Join(root, "dd0000000004"), 0o700) // no state.json: still found by its ID
	for _, c := range []struct {
		ref, want, err string
	}{
		{"web", "397a1b2c3d4e", ""},
		{"397", "aa0000000001", ""},          // the exact name wins over two prefixes
		{"aa0000000001", "bb0000000002", ""}, // the exact name wins over an exact ID
		{"3975", "3975551f00aa", ""},         // a unique prefix
		{"cc", "cc0000000003", ""},
		{"cc0000000003", "cc0000000003", ""},
		{"dd00", "dd0000000004", ""},
		{"39", "", "3975551f00aa, 397a1b2c3d4e"}, // ambiguous: both listed
		{"ee", "", "does not exist"},
		{"", "", "does not exist"},
		{"397a1b2c3d4e5", "", "does not exist"}, // longer than any ID
	} {
		got, err := Resolve(root, c.ref)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.ref, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Resolve(%q) = %q, %v; want an error with %q", c.ref, got, err, c.err)
		}
		if c.err == "does not exist" && !errors.Is(err, ErrNotExist) {
			t.Errorf("Resolve(%q): %v is not ErrNotExist", c.ref, err)
		}
	}
	if _, err := Resolve(filepath.Join(root, "none"), "x"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Resolve in a missing root: %v, want ErrNotExist", err)
	}
}

// TestPrintList: ps without root, from state files. The processes named
// are this test's own (running) and a dead one's.
func TestPrintList(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	self, selfStart := os.Getpid(), proc.StartTime(os.Getpid())
	deadPID, deadStart := deadPid(t)
	for _, s := range []State{
		{ID: "aaaaaaaaaaaa", Name: "long", Command: []string{"sh", "-c", "echo a very long command line; sleep 100"},
			Created: now.Add(-5 * time.Second), Runtime: self, RuntimeStart: selfStart, Pid: self, PidStart: selfStart},
		{ID: "bbbbbbbbbbbb", Name: "ended", Command: []string{"false"}, Created: now.Add(-time.Minute),
			Pid: deadPID, PidStart: deadStart, Finished: now.Add(-5 * time.Second), ExitCode: 3, Detached: true},
		{ID: "cccccccccccc", Name: "nodate", Command: []string{"true"}, Runtime: deadPID, RuntimeStart: deadStart},
	} {
		dir := filepath.Join(root, s.ID)
		os.Mkdir(dir, 0o700)
		data, _ := json.Marshal(s)
		os.WriteFile(filepath.Join(dir, "state.json"), data, 0o600)
	}
	os.Mkdir(filepath.Join(root, "dddddddddddd"), 0o700) // no state.json
	list := func(o ListOptions) string {
		var b strings.Builder
		if err := PrintList(&b, root, now, o); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := list(ListOptions{})
	for _, want := range []string{"sh -c echo a very l…   running", "5 seconds ago", "nodate ", "dead"} {
		if !strings.Contains(out, want) {
			t.Errorf("ps lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ended") || strings.Contains(out, "days ago") {
		t.Errorf("ps lists an exited container, or a missing created time as days:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^cccccccccccc .* unknown$`).MatchString(out) || !regexp.MustCompile(`(?m)^dddddddddddd .* unknown$`).MatchString(out) {
		t.Errorf("a state without a created time must show unknown:\n%s", out)
	}
	out = list(ListOptions{All: true, NoTrunc: true})
	for _, want := range []string{"echo a very long command line; sleep 100", "Exited (3) 5 seconds ago   1 minute ago"} {
		if !strings.Contains(out, want) {
			t.Errorf("ps -a --no-trunc lacks %q:\n%s", want, out)
		}
	}
	if got := ellipsis("ααααααααααααααααααααααα", 20); got != "ααααααααααααααααααα…" {
		t.Errorf("ellipsis cuts runes: %q", got)
	}
}
