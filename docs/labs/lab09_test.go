package labs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// Lab 09's program writes a bundle's config.json; the checker judges it
// by what a real runtime makes of it: minicontainer create (which loads
// and validates the file with pkg/spec, one line naming the field when
// it refuses), start, state, delete. The command inside reports its PID,
// hostname, arguments and whether /proc is a proc.
func init() {
	register(&lab{
		id: "09", dir: "09-oci", title: "config.json from flags: the article's steps as data",
		solutions: []string{"docs/labs/09-oci/solution"},
		skeletonFails: []string{"config.json is accepted by the runtime", "the command gets its arguments",
			"a PID namespace: the command is PID 1", "a UTS namespace with the hostname", "proc is mounted on /proc"},
		checks: []check{
			{"config.json is accepted by the runtime", "the runtime's one line (below) names the field by its JSON path: process.args must not be empty (TODO 1); a hostname needs a uts namespace",
				func(t *testing.T, p *prog) {
					r := run09(t, p)
					if r.demoCode != 0 {
						t.Fatalf("demo exited %d: %s", r.demoCode, firstLine(r.demoErr))
					}
					if r.createCode != 0 {
						t.Errorf("minicontainer create exited %d: %s", r.createCode, firstLine(r.out))
					}
				}},
			{"the command gets its arguments", "process.args is the whole command line after BUNDLE, one element per argument (TODO 1): sh -c SCRIPT x one 'two words'",
				func(t *testing.T, p *prog) { want09(t, run09(t, p), "args=2:one|two words") }},
			{"a PID namespace: the command is PID 1", `linux.namespaces needs {"type": "pid"} (TODO 2): then the runtime's clone(2) has CLONE_NEWPID and the command, exec'd by the init, is PID 1`,
				func(t *testing.T, p *prog) { want09(t, run09(t, p), "pid=1") }},
			{"a UTS namespace with the hostname", `"hostname" (TODO 3) and {"type": "uts"} in linux.namespaces (TODO 2): the runtime refuses a hostname without it`,
				func(t *testing.T, p *prog) {
					r := run09(t, p)
					want09(t, r, "host=lab09")
					if r.hostAfter != "host" {
						t.Errorf("the hostname outside is %q after the run, want host", r.hostAfter)
					}
				}},
			{"proc is mounted on /proc", `an entry of "mounts" (TODO 4): destination /proc, type proc, source proc; the busybox root's /proc is an empty directory until then`,
				func(t *testing.T, p *prog) { want09(t, run09(t, p), "proc=yes") }},
		},
	})
}

type run09Result struct {
	demoCode, createCode int
	demoErr              string
	out                  string // create's stdout and stderr, which the command inherits
	hostAfter            string // the hostname outside, after the run
}

// script09 runs in a UTS and mount namespace of the checker's (hostname
// "host", every mount private): the program writes the bundle, then
// minicontainer runs it, in a state directory of the checker's, and
// deletes it. $0 is the work directory, $1 the runtime, $2 the root
// filesystem, $3 the container's ID.
const script09 = `W=$0 MC=$1 ROOT=$2 ID=$3
mount --make-rprivate / || exit 9
./demo -rootfs "$ROOT" -hostname lab09 "$W/bundle" sh -c 'echo pid=$$; echo host=$(hostname); echo "args=$#:$1|$2"; if test -e /proc/self/stat; then echo proc=yes; else echo proc=no; fi' x one 'two words' 2>"$W/demo.err"
echo $? >"$W/demo.rc"
"$MC" --root "$W/state" create --bundle "$W/bundle" "$ID" </dev/null >"$W/out" 2>&1
echo $? >"$W/create.rc"
if [ "$(cat "$W/create.rc")" = 0 ]; then
	"$MC" --root "$W/state" start "$ID" >>"$W/out" 2>&1
	i=0
	until "$MC" --root "$W/state" state "$ID" 2>/dev/null | grep -q '"stopped"' || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
	"$MC" --root "$W/state" delete --force "$ID" >>"$W/out" 2>&1
fi
hostname >"$W/hostname.after"`

// run09 runs the program and its bundle once per checker run.
func run09(t *testing.T, p *prog) run09Result {
	return once(p, "run09", func() run09Result {
		r := run09Result{demoCode: -1, createCode: -1}
		w, err := os.MkdirTemp("", "mctest-lab09")
		if err != nil {
			t.Logf("%v", err)
			return r
		}
		p.cleanup(func() { os.RemoveAll(w) })
		mc := filepath.Join(w, "minicontainer")
		build := exec.Command("go", "build", "-o", mc, "./cmd/minicontainer")
		build.Dir = root0()
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Logf("building minicontainer: %v\n%s", err, out)
			return r
		}
		rootDir := filepath.Join(w, "rootfs")
		if err := rootfs.BuildBusybox(rootDir, nil); err != nil {
			t.Logf("building a busybox root filesystem (busybox-static installed?): %v", err)
			return r
		}
		cmd := exec.Command("sh", "-c", "hostname host && "+script09, w, mc, rootDir, fmt.Sprintf("mctest-lab09-%d", os.Getpid()))
		cmd.Dir = p.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = time.Second
		timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		defer timer.Stop()
		if err := cmd.Run(); err != nil {
			t.Logf("the checker's script: %v\n%s", err, out.String())
		}
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(w, name))
			return strings.TrimSpace(string(b))
		}
		fmt.Sscan(read("demo.rc"), &r.demoCode)
		fmt.Sscan(read("create.rc"), &r.createCode)
		r.demoErr, r.out, r.hostAfter = read("demo.err"), read("out"), read("hostname.after")
		if b, err := os.ReadFile(filepath.Join(w, "bundle", "config.json")); err == nil {
			t.Logf("the program's config.json:\n%s", b)
		}
		return r
	})
}

// want09 fails unless the command printed line.
func want09(t *testing.T, r run09Result, line string) {
	t.Helper()
	if r.createCode != 0 {
		t.Fatalf("the container was not created (minicontainer create exited %d: %s)", r.createCode, firstLine(r.out))
	}
	if !slices.Contains(lines(r.out), line) {
		t.Errorf("the command printed %q, want the line %q", r.out, line)
	}
	if strings.Contains(r.out, "exec fifo:") {
		t.Errorf("the container's init died before start: it reopens its exec fifo through /proc/self/fd, so a proc on /proc is not optional (TODO 4)")
	}
}

// TestLab09Mutants runs lab 09's checker on its solution with one mistake
// each, a mistake a student makes, and requires exactly the failures that
// mistake must cause: the untouched skeleton fails every check at the
// first (the runtime refuses its empty process.args), so TestCheckers
// alone does not show that the later checks can fail one by one.
func TestLab09Mutants(t *testing.T) {
	if os.Getenv("LAB") != "" {
		t.Skip("running one lab (LAB is set)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab checkers need root: run with sudo (make test)")
	}
	src, err := os.ReadFile("09-oci/solution/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		old, new string
		fails    []string
	}{
		{"{Type: specs.PIDNamespace},", "", []string{"a PID namespace: the command is PID 1"}},
		{"Hostname: *hostname,", `Hostname: "lab",`, []string{"a UTS namespace with the hostname"}},
		{"Args: command,", "Args: append(command[:3:3], command[4:]...),", []string{"the command gets its arguments"}},
		// No proc on /proc: create refuses it (the init waits for start
		// by reopening its exec fifo through /proc/self/fd), so nothing
		// the command would print comes.
		{`Type:        "proc",`, `Type:        "tmpfs",`, []string{"config.json is accepted by the runtime", "the command gets its arguments",
			"a PID namespace: the command is PID 1", "a UTS namespace with the hostname", "proc is mounted on /proc"}},
		{"{Type: specs.UTSNamespace},", "", []string{"config.json is accepted by the runtime", "the command gets its arguments",
			"a PID namespace: the command is PID 1", "a UTS namespace with the hostname", "proc is mounted on /proc"}},
	} {
		t.Run(m.old, func(t *testing.T) {
			if !strings.Contains(string(src), m.old) {
				t.Fatalf("the solution has no %q any more", m.old)
			}
			// Inside the module (its imports resolve), in a directory
			// the go tools' ./... skips.
			dir, err := os.MkdirTemp(".", "_mutant09-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			abs, _ := filepath.Abs(dir)
			os.WriteFile(filepath.Join(dir, "main.go"), []byte(strings.Replace(string(src), m.old, m.new, 1)), 0o644)
			var failed []string
			for name, ok := range runLab(t, "09", abs) {
				if !ok {
					failed = append(failed, name)
				}
			}
			slices.Sort(failed)
			if want := slices.Sorted(slices.Values(m.fails)); !slices.Equal(failed, want) {
				t.Errorf("the solution with %q for %q fails %q, want exactly %q", m.new, m.old, failed, want)
			}
		})
	}
}
