package labs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/manpage"
)

// TestCheckers proves that every lab's checker can tell a working program
// from an unfinished one: run as `make lab` runs it (this test binary,
// TestLab, LAB and LAB_PROG), it must pass every check on each solution,
// and on the untouched skeleton it must build, then fail exactly the checks
// the skeleton's TODOs leave open. A checker that cannot fail is a defect.
func TestCheckers(t *testing.T) {
	if os.Getenv("LAB") != "" {
		t.Skip("running one lab (LAB is set)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab checkers need root: run with sudo (make test)")
	}
	for _, id := range ids() {
		l := labs[id]
		t.Run(id, func(t *testing.T) {
			if l.manPage != "" {
				// Older man-pages lack the SRC markers (testdata/c-examples.sh).
				if _, err := manpage.Source(l.manPage, l.manFile); err != nil {
					t.Skip(err)
				}
			}
			if len(l.solutions) == 0 || len(l.skeletonFails) == 0 {
				t.Fatalf("lab %s needs a solution and the list of checks its skeleton fails", id)
			}
			for _, s := range l.solutions {
				res := runLab(t, id, s)
				for name, ok := range res {
					if !ok {
						t.Errorf("solution %s fails %q", s, name)
					}
				}
				if len(res) != len(l.checks)+2 {
					t.Errorf("solution %s: %d results, want %d (builds, %d checks, nothing left)", s, len(res), len(l.checks)+2, len(l.checks))
				}
			}
			skel := filepath.Join("docs/labs", l.dir, "skeleton")
			res := runLab(t, id, skel)
			var failed []string
			for name, ok := range res {
				if !ok {
					failed = append(failed, name)
				}
			}
			slices.Sort(failed)
			want := slices.Sorted(slices.Values(l.skeletonFails))
			if !slices.Equal(failed, want) {
				t.Errorf("the skeleton fails %q, want exactly %q", failed, want)
			}
		})
	}
}

var result = regexp.MustCompile(`(?m)^(PASS|FAIL)  ([0-9]+) (.*)$`)

// runLab runs the checker of lab id on the program in dir (relative to the
// repository root) and returns each check's result by name.
func runLab(t *testing.T, id, dir string) map[string]bool {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if !filepath.IsAbs(dir) {
		abs, err = filepath.Abs(filepath.Join(root, dir))
	}
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(dir, "man:") {
		abs = dir
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLab$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LAB="+id, "LAB_PROG="+abs)
	out, _ := cmd.CombinedOutput()
	res := map[string]bool{}
	for _, m := range result.FindAllStringSubmatch(string(out), -1) {
		if m[2] == id {
			res[m[3]] = m[1] == "PASS"
		}
	}
	if len(res) == 0 {
		t.Fatalf("the checker printed no result for %s:\n%s", dir, out)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("lab %s on %s:\n%s", id, dir, strings.TrimSpace(string(out)))
	}
	return res
}
