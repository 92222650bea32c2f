package labs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/manpage"
	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// A lab is one exercise: a program the student writes and the checks that
// its behaviour must pass.
type lab struct {
	id    string // "02"
	dir   string // "02-clone", under docs/labs
	title string
	// solutions are directories, relative to the repository root, whose
	// program passes every check: the project's own command where it
	// fits, else a solution kept in the lab's directory; or
	// "man:PAGE:FILE", a man page's C example.
	solutions []string
	// skeletonFails names the checks the untouched skeleton fails: those
	// its TODOs leave open. TestCheckers requires exactly these.
	skeletonFails []string
	// manC names the C example (page, file) the program is compared with
	// (sidebyside); "" when the lab has none.
	manPage, manFile string
	checks           []check
}

// A check is one thing the program must do, observed from outside: its
// namespaces, mounts, cgroups, links, exit status and output.
type check struct {
	name string
	hint string // what to look at when it fails
	run  func(t *testing.T, p *prog)
}

// prog is the program under test, built as "demo" in Dir (so argv[0] is
// "./demo", as for the man-page C in Ref), with per-run memo of shared
// observations.
type prog struct {
	Dir  string // holds ./demo
	Ref  string // holds the man-page C example as ./demo, or ""
	C    bool   // the program is C: run it under stdbuf -oL
	memo map[string]any
	// cleanups undo what checks set up for several checks (a target
	// process, a root filesystem), before the host is checked; repairs
	// remove what a wrong program left, after the host check saw it.
	cleanups, repairs []func()
}

// cleanup registers f to run after the last check.
func (p *prog) cleanup(f func()) { p.cleanups = append(p.cleanups, f) }

// once computes a shared observation the first time a check asks for it.
func once[T any](p *prog, key string, f func() T) T {
	if v, ok := p.memo[key]; ok {
		return v.(T)
	}
	v := f()
	p.memo[key] = v
	return v
}

var labs = map[string]*lab{}

func register(l *lab) { labs[l.id] = l }

// root is the repository root, seen from this package's directory (go
// test runs a package's tests there).
const root = "../.."

// watched narrows the host check: everything but cgroups, which other
// programs on the machine make and remove at any time, and of cgroups the
// labs' own, whose names hold "mctest-lab" (lab 07's checker names them).
var watched = []string{"mount ", "link ", "process ", "state ", "nft table ", "sysctl ", "mctest-lab"}

// TestLab runs the checks of lab $LAB on the program in $LAB_PROG (a
// directory of C or Go sources, relative to the repository root or
// absolute). `make lab` runs it.
func TestLab(t *testing.T) {
	id := os.Getenv("LAB")
	if id == "" {
		t.Skip("LAB is not set: run `sudo make lab LAB=02` (labs 02 to 08)")
	}
	l, ok := labs[id]
	if !ok {
		t.Fatalf("no lab %q: the labs are %s", id, strings.Join(ids(), ", "))
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the lab checkers need root (namespaces, mounts, cgroups): run `sudo make lab LAB=%s`", id)
	}
	src := os.Getenv("LAB_PROG")
	switch src {
	case "":
		src = filepath.Join("docs/labs", l.dir, "skeleton")
		fmt.Printf("(no copy of yours in docs/labs/_work/%s: `make lab-start LAB=%s` makes one; checking the untouched skeleton)\n", id, id)
	case "solution":
		src = l.solutions[0]
	}
	if !filepath.IsAbs(src) && !strings.HasPrefix(src, "man:") {
		src = filepath.Join(root, src)
	}
	fmt.Printf("lab %s: %s\nchecking %s\n", l.id, l.title, src)
	snap := hostcheck.Take(t, watched...)
	p := &prog{memo: map[string]any{}}
	pass, fail := 0, 0
	report := func(ok bool, name, hint string) {
		if ok {
			pass++
			fmt.Printf("PASS  %s %s\n", l.id, name)
			return
		}
		fail++
		fmt.Printf("FAIL  %s %s\n      hint: %s\n", l.id, name, hint)
	}
	built := t.Run("builds", func(st *testing.T) { build(st, t, l, src, p) })
	report(built, "builds", "read the compiler's message in the details below; the skeleton compiles as it is, so the error is in what you added")
	if built {
		for _, c := range l.checks {
			ok := t.Run(c.name, func(t *testing.T) { c.run(t, p) })
			report(ok, c.name, c.hint)
		}
	}
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	clean := t.Run("nothing left on the host", func(t *testing.T) { snap.Verify(t) })
	for _, f := range p.repairs {
		f()
	}
	report(clean, "nothing left on the host", "a process, mount, cgroup or link outlived the program: see the details below; wait for children, unmount (or let the namespace die), remove what you created")
	fmt.Printf("lab %s: %d passed, %d failed\n", l.id, pass, fail)
}

func ids() []string {
	var out []string
	for id := range labs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// build compiles the program in src as p.Dir/demo: gcc for C sources, go
// build for a Go package; and the lab's man-page C as p.Ref/demo. The
// directories belong to outer: they outlive the "builds" check.
func build(t, outer *testing.T, l *lab, src string, p *prog) {
	if page, file, ok := strings.Cut(strings.TrimPrefix(src, "man:"), ":"); ok && strings.HasPrefix(src, "man:") {
		// The man page's own example, "man:clone.2:clone.c": the C
		// solution of labs 02-04, extracted at test time, never stored.
		dir := outer.TempDir()
		if _, err := manpage.Build(dir, page, file); err != nil {
			t.Fatal(err)
		}
		src = dir
	}
	cs, _ := filepath.Glob(filepath.Join(src, "*.c"))
	gos, _ := filepath.Glob(filepath.Join(src, "*.go"))
	switch {
	case len(cs) > 0:
		p.C = true
		p.Dir = outer.TempDir()
		os.Chmod(p.Dir, 0o755)
		args := append([]string{"-Wall", "-o", filepath.Join(p.Dir, "demo")}, cs...)
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	case len(gos) > 0:
		p.Dir = filepath.Dir(sidebyside.BuildGo(outer, src, "demo"))
	default:
		t.Fatalf("%s holds no .c or .go file", src)
	}
	if l.manPage != "" {
		if _, err := manpage.Source(l.manPage, l.manFile); err != nil {
			t.Fatalf("%v", err)
		}
		p.Ref = outer.TempDir()
		bin, err := manpage.Build(p.Ref, l.manPage, l.manFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bin, filepath.Join(p.Ref, "demo")); err != nil {
			t.Fatal(err)
		}
	}
}

// shell runs `sh -c script sh args...` in dir, in a new UTS namespace
// whose hostname is "host" (as sidebyside runs the demos), with extra
// clone flags, and gives up after a deadline. In script, $DEMO is ./demo,
// under stdbuf -oL for a C program (stdio buffers a pipe fully).
func shell(t *testing.T, dir string, c bool, flags uintptr, script string, args ...string) sidebyside.Result {
	t.Helper()
	demo := "./demo"
	if c {
		demo = "stdbuf -oL ./demo"
	}
	cmd := exec.Command("sh", append([]string{"-c", "hostname host && DEMO='" + demo + "' && " + script, "sh"}, args...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | flags}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("sh -c %q: %v", script, err)
	}
	return sidebyside.Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// sameAsC runs the case on the program and on the man-page C and fails if
// the exit status, stdout or stderr differ (numbers of 3 digits and more
// are PIDs and inodes: sidebyside.Normalise).
func sameAsC(t *testing.T, p *prog, c sidebyside.Case) {
	t.Helper()
	if p.Ref == "" {
		t.Fatal("this lab has no man-page C to compare with")
	}
	want := sidebyside.Run(t, p.Ref, true, c)
	got := sidebyside.Run(t, p.Dir, p.C, c)
	compare(t, "./demo "+strings.Join(c.Args, " "), want, got)
}

func compare(t *testing.T, what string, want, got sidebyside.Result) {
	t.Helper()
	if want.Code != got.Code {
		t.Errorf("%s: exit status %d, the man page's C exits %d", what, got.Code, want.Code)
	}
	if sidebyside.Normalise(want.Stdout) != sidebyside.Normalise(got.Stdout) {
		t.Errorf("%s: stdout differs:\n--- the man page's C\n%s--- yours\n%s", what, want.Stdout, got.Stdout)
	}
	if sidebyside.Normalise(want.Stderr) != sidebyside.Normalise(got.Stderr) {
		t.Errorf("%s: stderr differs:\n--- the man page's C\n%s--- yours\n%s", what, want.Stderr, got.Stderr)
	}
}

// nsLink is the namespace link of a process ("uts:[4026531838]"), or "" if
// it is gone.
func nsLink(pid int, kind string) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	return l
}

// childrenOf lists the PIDs whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// hostnameIn is the hostname of the UTS namespace at path, read by
// nsenter(1) (not by setns from this process: it would move a thread of
// the test).
func hostnameIn(path string) string {
	out, err := exec.Command("nsenter", "--uts="+path, "hostname").Output()
	if err != nil {
		return "(nsenter: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// lines splits output into lines, without the empty last one.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// firstLine is the first line of s, for short messages.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
