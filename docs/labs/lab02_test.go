package labs

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func init() {
	register(&lab{
		id: "02", dir: "02-clone", title: "clone(2): a child in a new UTS namespace",
		solutions:     []string{"cmd/clonedemo", "man:clone.2:clone.c"},
		skeletonFails: []string{"child in a new UTS namespace", "child's hostname", "prints what clone.c prints"},
		manPage:       "clone.2", manFile: "clone.c",
		checks: []check{
			{"usage", "with no argument, print `Usage: ./demo <child-hostname>` on stderr and exit 0, as clone.c does",
				func(t *testing.T, p *prog) { sameAsC(t, p, sidebyside.Case{Name: "usage"}) }},
			{"child in a new UTS namespace", "clone() needs CLONE_NEWUTS in its flags (TODO 1); without it the child shares its parent's namespace",
				func(t *testing.T, p *prog) {
					o := observe02(p, p.Dir, p.C)
					if o.child == 0 {
						t.Fatalf("no child process found while the program ran (stdout %q, stderr %q)", o.res.Stdout, o.res.Stderr)
					}
					if o.childNS == o.parentNS {
						t.Errorf("the child's %s is its parent's: no new namespace", o.childNS)
					}
				}},
			{"child's hostname", "the child calls sethostname(2) with its argument (TODO 2), before it sleeps",
				func(t *testing.T, p *prog) {
					o := observe02(p, p.Dir, p.C)
					if o.childHost != "bizarro" {
						t.Errorf("hostname in the child's namespace: %q, want %q", o.childHost, "bizarro")
					}
				}},
			{"parent's hostname unchanged", "only the child's namespace may change: did you call sethostname without CLONE_NEWUTS, or in the parent?",
				func(t *testing.T, p *prog) {
					o := observe02(p, p.Dir, p.C)
					if o.parentHost != "host" {
						t.Errorf("hostname in the parent's namespace: %q, want %q (as it was)", o.parentHost, "host")
					}
				}},
			{"prints what clone.c prints", "four lines: clone() returned PID, uts.nodename in child (two spaces), uts.nodename in parent, child has terminated (TODO 3); the parent waits for its child",
				func(t *testing.T, p *prog) {
					want := observe02(p, p.Ref, true)
					o := observe02(p, p.Dir, p.C)
					// The child and the parent write to one pipe: either line may come first.
					norm := func(r sidebyside.Result) sidebyside.Result {
						l := lines(sidebyside.Normalise(r.Stdout))
						slices.Sort(l)
						r.Stdout = strings.Join(l, "\n") + "\n"
						return r
					}
					compare(t, "./demo bizarro", norm(want.res), norm(o.res))
				}},
		},
	})
}

// obs02 is what one run of `./demo bizarro` showed from outside.
type obs02 struct {
	child                 int
	childNS, parentNS     string
	childHost, parentHost string
	res                   sidebyside.Result
}

// observe02 runs `./demo bizarro` in dir, in a UTS namespace whose hostname
// is "host"; once the parent has printed its hostname (the child has had
// its second to set its own), it looks at the child's namespace and
// hostname from outside, then kills the child (it would sleep 200 s) and
// lets the parent reap it.
func observe02(p *prog, dir string, c bool) obs02 {
	return once(p, "observe02 "+dir, func() obs02 { return run02(dir, c) })
}

func run02(dir string, c bool) obs02 {
	demo := "./demo"
	if c {
		demo = "stdbuf -oL ./demo"
	}
	cmd := exec.Command("sh", "-c", "hostname host && exec "+demo+" bizarro")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	var o obs02
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		o.res.Stderr = err.Error()
		return o
	}
	var stdout strings.Builder
	seen := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(&stdout, sc.Text())
			if strings.HasPrefix(sc.Text(), "uts.nodename in parent") && !signalled {
				signalled = true
				close(seen)
			}
		}
		if !signalled {
			close(seen)
		}
	}()
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
	}
	pid := cmd.Process.Pid
	if kids := childrenOf(pid); len(kids) > 0 {
		o.child = kids[0]
		o.childNS, o.parentNS = nsLink(o.child, "uts"), nsLink(pid, "uts")
		o.childHost = hostnameIn(fmt.Sprintf("/proc/%d/ns/uts", o.child))
		o.parentHost = hostnameIn(fmt.Sprintf("/proc/%d/ns/uts", pid))
		syscall.Kill(o.child, syscall.SIGKILL)
	}
	timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
	<-done
	cmd.Wait()
	timer.Stop()
	o.res = sidebyside.Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	return o
}
