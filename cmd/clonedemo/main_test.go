package main

import (
	"os"
	"os/exec"
	"regexp"
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
	buf := make([]byte, 4096)
	n, _ := out.Read(buf) // "clone() returned PID\n", maybe more
	m := regexp.MustCompile(`clone\(\) returned (\d+)`).FindSubmatch(buf[:n])
	if m == nil {
		t.Fatalf("first output %q", buf[:n])
	}
	uts, _ := ns.ByName("uts")
	childID, err := ns.Identify("/proc/" + string(m[1]) + "/ns/uts")
	if err != nil {
		t.Fatalf("child's namespace: %v", err)
	}
	parentID, _ := ns.Of(cmd.Process.Pid, uts)
	if childID == parentID {
		t.Errorf("child's %v equals parent's", childID)
	}
	rest := make([]byte, 4096)
	var all strings.Builder
	all.Write(buf[:n])
	for {
		k, err := out.Read(rest)
		all.Write(rest[:k])
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	lines := strings.Split(all.String(), "\n")
	want := []string{"uts.nodename in child:  bizarro", "uts.nodename in parent: " + host, "child has terminated", ""}
	if len(lines) != 5 || strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant after the clone line:\n%s", all.String(), strings.Join(want, "\n"))
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
		if c.nobody && os.Geteuid() != 0 {
			continue // only root can start a process as nobody
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
	}
}
