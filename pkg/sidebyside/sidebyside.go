// Package sidebyside runs a man-page C example and its Go port on the same
// input and compares what they print, for the TestCompareWithC tests of the
// demos (make compare).
//
// Both programs are installed as "demo" in their own directory and started
// as "./demo", so argv[0] (which the usage texts and err(3) print) is the
// same. Each run gets a fresh UTS namespace whose hostname is "host". The C
// side runs under stdbuf -oL: its stdout is a pipe here, fully buffered by
// stdio, and a child that leaves by exec or _exit would lose its lines.
package sidebyside

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/manpage"
)

// Case is one input given to both programs.
type Case struct {
	Name   string
	Args   []string // after argv[0]
	Nobody bool     // run as uid/gid 65534 without capabilities
	// Unordered compares the lines of stdout as a set: the C's parent and
	// child write to one pipe and either may come first.
	Unordered bool
}

// Result is what a program printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Pair is a built C example and a built Go port.
type Pair struct{ C, Go string }

// Build compiles the C example file of page (with extra gcc options) and
// the Go package in goPkgDir, each as "demo" in a temporary directory.
func Build(t *testing.T, page, file, goPkgDir string, extra ...string) Pair {
	t.Helper()
	for _, tool := range []string{"gcc", "stdbuf", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make test-deps installs it)", tool)
		}
	}
	if _, err := manpage.Source(page, file); err != nil {
		t.Skipf("%v", err)
	}
	cDir := t.TempDir()
	cBin, err := manpage.Build(cDir, page, file, extra...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cBin, filepath.Join(cDir, "demo")); err != nil {
		t.Fatal(err)
	}
	goBin := BuildGo(t, goPkgDir, "demo")
	return Pair{C: cDir, Go: filepath.Dir(goBin)}
}

// BuildGo builds the Go package in pkgDir as name in a new temporary
// directory and returns the binary's path. The directory and its parent
// are left searchable by everyone, so tests can run the binary as nobody.
func BuildGo(t *testing.T, pkgDir, name string) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = pkgDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Exec runs bin with args and returns what it printed and its exit status.
func Exec(bin string, args ...string) Result {
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// Compare runs every case on both sides and reports differences after
// normalising.
func (p Pair) Compare(t *testing.T, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cr := Run(t, p.C, true, c)
			gr := Run(t, p.Go, false, c)
			if cr.Code != gr.Code {
				t.Errorf("exit status: C %d, Go %d", cr.Code, gr.Code)
			}
			co, gno := Normalise(cr.Stdout), Normalise(gr.Stdout)
			if c.Unordered {
				co, gno = sortLines(co), sortLines(gno)
			}
			if co != gno {
				t.Errorf("stdout differs:\n--- C\n%s--- Go\n%s", cr.Stdout, gr.Stdout)
			}
			if Normalise(cr.Stderr) != Normalise(gr.Stderr) {
				t.Errorf("stderr differs:\n--- C\n%s--- Go\n%s", cr.Stderr, gr.Stderr)
			}
			if !t.Failed() {
				t.Logf("same: exit %d, stdout %q, stderr %q", cr.Code, cr.Stdout, cr.Stderr)
			}
		})
	}
}

// Run starts ./demo in dir with the case's arguments.
func Run(t *testing.T, dir string, stdbuf bool, c Case) Result {
	t.Helper()
	script := `hostname host && exec "$@"`
	argv := []string{"./demo"}
	if stdbuf {
		argv = append([]string{"stdbuf", "-oL"}, argv...)
	}
	if c.Nobody {
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
	}
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, append(argv, c.Args...)...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", dir, err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

var number = regexp.MustCompile(`[0-9]{3,}`)

// Normalise replaces numbers of three or more digits (PIDs, namespace
// inodes) with N.
func Normalise(s string) string { return number.ReplaceAllString(s, "N") }

func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
