package labs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/manpage"
)

// mutants are the man pages' C examples with one mistake each, a mistake
// a student makes. Each must fail the checks named: those the untouched
// skeletons pass (their TODOs do not touch them), so TestCheckers alone
// does not show that they can fail.
var mutants = []struct {
	lab, page, file string
	old, new        string // the first old becomes new
	fails           []string
}{
	{"02", "clone.2", "clone.c", "exit(EXIT_SUCCESS);", "exit(EXIT_FAILURE);",
		[]string{"usage"}},
	{"02", "clone.2", "clone.c", "CLONE_NEWUTS | SIGCHLD", "SIGCHLD",
		[]string{"child in a new UTS namespace", "parent's hostname unchanged", "prints what clone.c prints"}},
	{"03", "setns.2", "setns.c", "O_RDONLY | O_CLOEXEC", "O_RDONLY",
		[]string{"the command inherits no namespace descriptor"}},
	{"03", "setns.2", "setns.c", "execvp(argv[2], &argv[2]);", "execvp(argv[2], &argv[1]);",
		// readlink given argv[1] too still prints the link it is asked
		// for: the network check passes, rightly (the join worked).
		[]string{"joins a UTS namespace", "passes the command its arguments", "the command inherits no namespace descriptor"}},
	{"04", "unshare.2", "unshare.c", "case 'u': flags |= CLONE_NEWUTS;", "case 'u': flags |= CLONE_NEWIPC;",
		[]string{"-u: a new UTS namespace", "options together"}},
	{"04", "unshare.2", "unshare.c", `err(EXIT_FAILURE, "execvp");`, "exit(EXIT_SUCCESS);",
		[]string{"exit status and errors"}},
}

// TestCheckersCatchMutants runs each lab's checker, as make lab does, on
// the man page's program with one mistake, and requires exactly the
// failures that mistake must cause.
func TestCheckersCatchMutants(t *testing.T) {
	if os.Getenv("LAB") != "" {
		t.Skip("running one lab (LAB is set)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab checkers need root: run with sudo (make test)")
	}
	for _, m := range mutants {
		t.Run(m.lab+" "+m.new, func(t *testing.T) {
			src, err := manpage.Source(m.page, m.file)
			if err != nil {
				t.Skip(err)
			}
			if !strings.Contains(src, m.old) {
				t.Fatalf("%s has no %q any more", m.file, m.old)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, m.file), []byte(strings.Replace(src, m.old, m.new, 1)), 0o644)
			var failed []string
			for name, ok := range runLab(t, m.lab, dir) {
				if !ok {
					failed = append(failed, name)
				}
			}
			slices.Sort(failed)
			if want := slices.Sorted(slices.Values(m.fails)); !slices.Equal(failed, want) {
				t.Errorf("%s with %q for %q fails %q, want exactly %q", m.file, m.new, m.old, failed, want)
			}
		})
	}
}
