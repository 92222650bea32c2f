package nsenter

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/ns"
)

// The test binary links the constructor too. Run as the helper, it reports
// what the constructor did and where it now is.
func TestMain(m *testing.M) {
	if os.Getenv("MC_NSENTER_HELPER") == "1" {
		steps, ok := Steps()
		fmt.Println("asked", ok)
		for _, s := range steps {
			if s.Left { // as setnsdemo does: join pid from a locked thread
				s.Err = ns.Join(s.FD, s.Kind)
			}
			fmt.Println("step", s.Kind.Name, s.Tried, s.Left, s.Err)
		}
		for _, k := range ns.Kinds {
			file := k.Name
			if k.Name == "pid" {
				file = "pid_for_children"
			}
			link, _ := os.Readlink("/proc/thread-self/ns/" + file)
			fmt.Println("in", link)
		}
		fmt.Println("env", os.Getenv(EnvVar) == "")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestNotAskedDoesNothing(t *testing.T) {
	if _, ok := Steps(); ok {
		t.Fatal("Steps reports work though nothing was asked")
	}
}

// The constructor joins user and time (which a Go program cannot) and
// every other kind, and leaves pid to the Go side.
func TestConstructorJoinsAllEight(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating namespaces needs root: run the tests with sudo")
	}
	// Start returns once execve(2) of sleep succeeded: the target is
	// sleep from here on, in namespaces made by clone(2) before the exec.
	target := exec.Command("sleep", "60")
	target.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  ns.Flags(ns.Kinds),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { target.Process.Kill(); target.Wait() }()
	defer hostcheck.Take(t, "nsenter.test").Verify(t)

	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), "MC_NSENTER_HELPER=1")
	var spec strings.Builder
	var want []string
	for i, k := range ns.Kinds {
		path := ns.Path(target.Process.Pid, k)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		helper.ExtraFiles = append(helper.ExtraFiles, f) // fd 3+i in the helper
		fmt.Fprintf(&spec, "%d:%d:%s\n", 3+i, k.Flag, path)
		id, err := ns.Of(target.Process.Pid, k)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "in "+id.String())
	}
	helper.Env = append(helper.Env, EnvVar+"="+spec.String())
	got, err := helper.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, got)
	}
	// Every kind has its step line, in the order given: joined by the
	// constructor, except pid, left to Go and then joined there.
	var wantSteps []string
	for _, k := range ns.Kinds {
		if k.Name == "pid" {
			wantSteps = append(wantSteps, "step pid false true <nil>")
		} else {
			wantSteps = append(wantSteps, "step "+k.Name+" true false <nil>")
		}
	}
	var in, steps []string
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		switch {
		case strings.HasPrefix(l, "in "):
			in = append(in, strings.Replace(l, "pid_for_children:", "pid:", 1))
		case strings.HasPrefix(l, "step "):
			steps = append(steps, l)
		}
	}
	if !strings.HasPrefix(string(got), "asked true\n") {
		t.Errorf("the helper does not know it was asked to join:\n%s", got)
	}
	if strings.Join(steps, "\n") != strings.Join(wantSteps, "\n") {
		t.Errorf("steps:\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(wantSteps, "\n"))
	}
	if strings.Join(in, "\n") != strings.Join(want, "\n") {
		t.Errorf("helper is in\n%s\nwant\n%s\n(all output: %s)", strings.Join(in, "\n"), strings.Join(want, "\n"), got)
	}
	if !strings.Contains(string(got), "env true") {
		t.Error("the variable stayed in the environment")
	}
}

// A failed join is reported with the kernel's errno and stops the rest.
func TestConstructorReportsFailure(t *testing.T) {
	helper := exec.Command(os.Args[0])
	uts, _ := ns.ByName("uts")
	self, err := os.Open("/proc/self/ns/user") // our own user namespace: EINVAL
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	plain, _ := os.Open("/etc/passwd")
	defer plain.Close()
	helper.ExtraFiles = []*os.File{self, plain}
	helper.Env = append(os.Environ(), "MC_NSENTER_HELPER=1",
		fmt.Sprintf("%s=3:%d:/proc/self/ns/user\n4:%d:/etc/passwd\n", EnvVar, unix.CLONE_NEWUSER, uts.Flag))
	got, err := helper.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), "step user true false invalid argument\nstep uts false false <nil>\n") {
		t.Errorf("helper printed:\n%s", got)
	}
}
