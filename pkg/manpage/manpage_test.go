package manpage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	in := `    if (fd == \-1) printf("parent\[aq]s %s\en", "\&.x");`
	want := `    if (fd == -1) printf("parent's %s\n", ".x");`
	if got := Unescape(in); got != want {
		t.Errorf("Unescape = %s\nwant      %s", got, want)
	}
}

func TestExtract(t *testing.T) {
	page := ".TH X\n.\\\" SRC BEGIN (a.c)\n.EX\nint x = \\-1;\n.EE\n.\\\" SRC END\n.\\\" SRC BEGIN (b.c)\n.EX\nb\n.EE\n.\\\" SRC END\n"
	got, err := extract(strings.NewReader(page), "a.c", "x.2")
	if err != nil || got != "int x = -1;\n" {
		t.Fatalf("extract = %q, %v", got, err)
	}
	if _, err := extract(strings.NewReader(page), "c.c", "x.2"); err == nil {
		t.Fatal("a missing example was found")
	}
}

func TestBuildTheThreeExamples(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed (make test-deps installs it)")
	}
	for page, file := range map[string]string{"clone.2": "clone.c", "setns.2": "setns.c", "unshare.2": "unshare.c"} {
		if _, err := Source(page, file); err != nil {
			t.Skipf("%v", err)
		}
		if _, err := Build(t.TempDir(), page, file); err != nil {
			t.Error(err)
		}
	}
}

// testdata/c-examples.sh (what the lessons tell a learner to run) must
// extract exactly what this package extracts.
func TestShellRecipeAgrees(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed (make test-deps installs it)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("../../testdata/c-examples.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("c-examples.sh: %v\n%s", err, out)
	}
	for _, page := range []string{"clone", "setns", "unshare"} {
		want, err := Source(page+".2", page+".c")
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, page+".c"))
		if err != nil || string(got) != want {
			t.Errorf("%s.c from the shell recipe differs (%v)", page, err)
		}
	}
}
