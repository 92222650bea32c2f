package hostcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeT records failures instead of failing the real test.
type fakeT struct {
	testing.TB
	errors int
}

func (f *fakeT) Errorf(string, ...any) { f.errors++ }
func (f *fakeT) Helper()               {}

// quick shortens Verify's wait for a test that expects it to fail.
func quick(t *testing.T) {
	old := verifyFor
	verifyFor = time.Second
	t.Cleanup(func() { verifyFor = old })
}

func TestDetectsMountAndProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	quick(t)
	snap := Take(t, dir, "sleep")
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	// A grandchild that outlives its parent is re-parented to us.
	if err := exec.Command("sh", "-c", "sleep 30 & exit 0").Run(); err != nil {
		t.Fatal(err)
	}
	f := &fakeT{TB: t}
	snap.Verify(f)
	if f.errors != 2 {
		t.Errorf("Verify found %d changes, want 2 (the mount and the process)", f.errors)
	}
	unix.Unmount(dir, 0)
	snap.Verify(t) // the orphan was killed by the failed Verify, the mount is gone
}

func TestStateDirs(t *testing.T) {
	dir := t.TempDir()
	old := StateDirs
	StateDirs = []string{dir}
	defer func() { StateDirs = old }()
	quick(t)
	snap := Take(t, dir)
	os.WriteFile(filepath.Join(dir, "c1"), nil, 0o644)
	f := &fakeT{TB: t}
	snap.Verify(f)
	if f.errors != 1 {
		t.Errorf("Verify found %d changes, want 1", f.errors)
	}
}

// A process that calls execve(2) between Take and Verify has a new command
// line but is the same process: same PID, same start time. Nothing changed.
func TestExecIsTheSameProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "read line; exec sleep 30")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Narrowed to the shell's line only: the process must stay in view
	// after its exec although its new line no longer matches.
	snap := Take(t, "read line")
	in.Write([]byte("go\n"))
	cmdline := fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(cmdline); string(b) == "sleep\x0030\x00" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not exec sleep within 10 s")
		}
	}
	f := &fakeT{TB: t}
	snap.Verify(f)
	if f.errors != 0 {
		t.Errorf("Verify found %d changes after an exec, want none (same PID, same start time)", f.errors)
	}
}
