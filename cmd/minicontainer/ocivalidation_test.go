package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// ociPassing lists the runtime-tools validation files that minicontainer
// passes; `make oci-validation` prints the whole table.
const ociPassing = "../../testdata/oci-validation/passing"

// TestOCIValidation runs the OCI runtime-tools validation files listed in
// testdata/oci-validation/passing against minicontainer (this test binary,
// as the other tests run it), through testdata/oci-validation/run.sh: the
// suite drives the runtime as runc's callers do, and a listed file that
// stops passing fails CI. The suite is built from Go's module cache, which
// `make test-deps` fills (make oci-deps).
func TestOCIValidation(t *testing.T) {
	needRoot(t)
	files := ociList(t, ociPassing)
	if len(files) == 0 {
		t.Skip(ociPassing + " lists no file yet")
	}
	self, err := exec.LookPath("minicontainer")
	if err != nil {
		t.Fatalf("minicontainer is not on PATH (testscript puts this test binary there): %v", err)
	}
	// The suite's bundles, their mounts and its containers' --root are
	// in /tmp/oci-validation.*.
	defer hostcheck.Take(t, "oci-validation", "process ").Verify(t)
	// The suite names its own cgroups (cgroupsPath "/cgrouptest" and
	// "testdir/cgrouptest/container"), which hostcheck does not watch.
	before := ociCgroups()
	defer func() {
		for d := range ociCgroups() {
			if !before[d] {
				t.Errorf("cgroup left behind: %s", d)
			}
		}
	}()

	args := append([]string{"--expect", ociPassing}, files...)
	cmd := exec.Command("../../testdata/oci-validation/run.sh", args...)
	cmd.Env = append(os.Environ(), "RUNTIME="+self, "MINICONTAINER="+self,
		"OCI_CACHE="+t.TempDir(), "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	t.Logf("testdata/oci-validation/run.sh %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("run.sh: %v", err)
	}
}

// ociList reads a list of validation files: one a line, # comments.
func ociList(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			files = append(files, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return files
}

// ociCgroups returns the suite's cgroup directories in every hierarchy.
func ociCgroups() map[string]bool {
	found := map[string]bool{}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		for _, top := range []string{"cgrouptest", "testdir"} {
			filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					found[p] = true
				}
				return nil
			})
		}
	}
	return found
}
