package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// The child's UTS namespace differs from the parent's, its hostname is the
// one given, and the parent's stays.
func TestChildInNewUTSNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("clone(CLONE_NEWUTS) needs root: run the tests with sudo")
	}
	bin := sidebyside.BuildGo(t, ".", "clonedemo")
	defer hostcheck.Take(t, "clonedemo").Verify(t)
	cmd := exec.Command(bin, "--sleep=2", "bizarro")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child and the parent write to the same pipe, each at its own
	// pace: the parent's one-second sleep (as in clone.c) orders their
	// lines only on an idle machine. So the lines are read as they come,
	// "clone() returned" is waited for wherever it is, and only the last
	// line's place is fixed (the parent prints it after waiting).
	var lines []string
	var childID ns.ID
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		m := regexp.MustCompile(`^clone\(\) returned (\d+)$`).FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		// The child sleeps 2 s: its namespace is still there.
		uts, _ := ns.ByName("uts")
		if childID, err = ns.Identify("/proc/" + m[1] + "/ns/uts"); err != nil {
			t.Fatalf("child's namespace: %v", err)
		}
		parentID, err := ns.Of(cmd.Process.Pid, uts)
		if err != nil {
			t.Fatalf("parent's namespace: %v", err)
		}
		if childID == parentID {
			t.Errorf("child's %v equals parent's", childID)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if childID == (ns.ID{}) {
		t.Fatalf("no \"clone() returned PID\" line in:\n%s", strings.Join(lines, "\n"))
	}
	host, _ := os.Hostname()
	want := []string{"uts.nodename in child:  bizarro", "uts.nodename in parent: " + host}
	var middle []string
	if len(lines) == 4 {
		middle = []string{lines[0], lines[1], lines[2]}
		sort.Strings(middle)
	}
	if len(lines) != 4 || !strings.HasPrefix(middle[0], "clone() returned ") || middle[1] != want[0] || middle[2] != want[1] || lines[3] != "child has terminated" {
		t.Errorf("output:\n%s\nwant \"clone() returned PID\", %q and %q in any order, then \"child has terminated\"",
			strings.Join(lines, "\n"), want[0], want[1])
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("host's hostname changed to %q", now)
	}
}

func TestErrors(t *testing.T) {
	bin := sidebyside.BuildGo(t, ".", "clonedemo")
	cases := []struct {
		args   []string
		nobody bool
		code   int
		stderr string
	}{
		{nil, false, 0, "Usage: " + bin + " <child-hostname>\n"},
		{[]string{"--bogus"}, false, 1, "clonedemo: unknown flag --bogus\n"},
		{[]string{"x"}, true, 1, "clonedemo: clone: Operation not permitted\n"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.args), func(t *testing.T) {
			if c.nobody && os.Geteuid() != 0 {
				t.Skip("only root can start a process as nobody: run the tests with sudo")
			}
			cmd := exec.Command(bin, c.args...)
			if c.nobody {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != c.code || stderr.String() != c.stderr {
				t.Errorf("clonedemo %q: exit %d, stderr %q; want %d, %q", c.args, code, stderr.String(), c.code, c.stderr)
			}
		})
	}
}
