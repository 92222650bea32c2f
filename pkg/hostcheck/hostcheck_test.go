package hostcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeT records failures instead of failing the real test.
type fakeT struct {
	testing.TB
	errors int
}

func (f *fakeT) Errorf(string, ...any) { f.errors++ }
func (f *fakeT) Helper()               {}

func TestDetectsMountAndProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
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
	snap := Take(t, dir)
	os.WriteFile(filepath.Join(dir, "c1"), nil, 0o644)
	f := &fakeT{TB: t}
	snap.Verify(f)
	if f.errors != 1 {
		t.Errorf("Verify found %d changes, want 1", f.errors)
	}
}
