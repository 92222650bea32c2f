package execvp

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestErrorsAreExecvpErrnos(t *testing.T) {
	if err := Exec([]string{"no-such-program-mctest"}); err != syscall.ENOENT {
		t.Errorf("missing program: %v, want ENOENT", err)
	}
	if err := Exec([]string{"/nonexistent/mctest"}); err != syscall.ENOENT {
		t.Errorf("missing path: %v, want ENOENT", err)
	}
	notExec := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	if err := Exec([]string{notExec}); err != syscall.EACCES {
		t.Errorf("not executable: %v, want EACCES", err)
	}
}
