package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// startTarget starts a process in eight new namespaces (its user namespace
// maps root to root): "sleep" as PID 1 of its PID namespace, with hostname
// "bizarro". It is killed when the test ends.
//
// It is ready when startTarget returns, and by events, not by time: Start
// returns once execve(2) of sleep succeeded (os/exec waits for a
// close-on-exec pipe to close), so the process the tests see is sleep and
// stays sleep; and the hostname is set from here (setHostname) before the
// function returns. A target that said "ready" from a shell and then
// exec'd sleep had another command line before and after its exec, and a
// host check taken in between saw one process replaced by another.
func startTarget(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  ns.Flags(ns.Kinds),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a target in all eight namespaces: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := setHostname(fmt.Sprintf("/proc/%d/ns/uts", cmd.Process.Pid), "bizarro"); err != nil {
		t.Fatalf("naming the target: %v", err)
	}
	return cmd.Process.Pid
}

// setHostname sets the hostname of the UTS namespace at path with
// nsenter(1). Not from a goroutine of this test: setns(2) moves only the
// calling thread, and if the locked goroutine lands on the main thread, Go
// does not end that thread when the goroutine exits (it parks it), so
// /proc/self/ns/uts would name the target's namespace afterwards.
func setHostname(path, name string) error {
	out, err := exec.Command("nsenter", "--uts="+path, "hostname", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nsenter --uts=%s hostname %s: %v %s", path, name, err, out)
	}
	return nil
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestCompareWithC runs setns.c from setns(2) and setnsdemo side by side.
func TestCompareWithC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns(2) needs root: run with sudo (make compare)")
	}
	pair := sidebyside.Build(t, "setns.2", "setns.c", ".")
	target := startTarget(t)
	path := func(kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", target, kind) }
	cases := []sidebyside.Case{
		{Name: "usage", Args: nil},
		{Name: "usage with one argument", Args: []string{path("uts")}},
		{Name: "dead pid", Args: []string{fmt.Sprintf("/proc/%d/ns/uts", deadPID(t)), "hostname"}},
		{Name: "not a namespace file", Args: []string{"/etc/passwd", "hostname"}},
		{Name: "no permission", Args: []string{path("uts"), "hostname"}, Nobody: true},
		{Name: "no permission for a file of our own", Args: []string{"/proc/self/ns/uts", "hostname"}, Nobody: true},
		{Name: "no such command", Args: []string{path("uts"), "no-such-command-mctest"}},
		{Name: "hostname", Args: []string{path("uts"), "hostname"}},
		{Name: "exit status", Args: []string{path("uts"), "sh", "-c", "exit 3"}},
	}
	for _, k := range ns.Kinds {
		// pid: the C's setns moves only the children of the caller, which
		// then execs; "pid_for_children" is what both sides share.
		file := k.Name
		if k.Flag == unix.CLONE_NEWPID {
			file = "pid_for_children"
		}
		cases = append(cases, sidebyside.Case{Name: "join " + k.Name,
			Args: []string{path(k.Name), "readlink", "/proc/self/ns/" + file}})
	}
	pair.Compare(t, cases)
}
