package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// ociPassing lists the runtime-tools validation files that minicontainer
// passes; `make oci-validation` prints the whole table.
const ociPassing = "../../testdata/oci-validation/passing"

// ociCgroupV1Only lists the files of ociPassing that runtime-tools can
// check only on cgroup v1.
const ociCgroupV1Only = "../../testdata/oci-validation/cgroup-v1-only"

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
	expect := ociPassing
	if cgroupHost(t).Mode == cgroup.Unified {
		// runtime-tools v0.9.0 reads only cgroup v1: its cgroup files
		// print "cgroupv2 is not supported yet" (and delete_only_create_
		// resources opens /sys/fs/cgroup/pids/...) with any runtime, so
		// on a pure v2 host they are not run. Every other file still is.
		v1 := map[string]bool{}
		for _, f := range ociList(t, ociCgroupV1Only) {
			v1[f] = true
		}
		var kept []string
		for _, f := range files {
			if v1[f] {
				t.Logf("%s: not run on a pure cgroup v2 host (%s)", f, ociCgroupV1Only)
				continue
			}
			kept = append(kept, f)
		}
		files = kept
		expect = filepath.Join(t.TempDir(), "passing")
		if err := os.WriteFile(expect, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
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

	args := append([]string{"--expect", expect}, files...)
	cmd := exec.Command("../../testdata/oci-validation/run.sh", args...)
	cmd.Env = append(os.Environ(), "RUNTIME="+self, "MINICONTAINER="+self,
		"OCI_CACHE="+t.TempDir(), "GOFLAGS=-mod=readonly")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	reaped := make(chan struct{})
	go func() { reapZombies(cmd.Process.Pid, stop); close(reaped) }()
	err = cmd.Wait()
	close(stop)
	<-reaped
	t.Logf("testdata/oci-validation/run.sh %s\n%s", strings.Join(args, " "), out.String())
	if err != nil {
		t.Fatalf("run.sh: %v", err)
	}
}

// reapZombies reaps, until stop is closed, the dead children of this test
// process other than keep (run.sh, which cmd.Wait reaps). hostcheck.Take
// made the test a child subreaper (prctl(2), PR_SET_CHILD_SUBREAPER), so
// every container init that `create` leaves behind becomes its child, and
// Go reaps only the children it started: an exited init would stay a
// zombie for the whole run, and a runtime that takes a zombie for a live
// process would pass here what it fails from a shell, where init(1) reaps.
func reapZombies(keep int, stop <-chan struct{}) {
	self := os.Getpid()
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == keep {
				continue
			}
			data, err := os.ReadFile("/proc/" + p.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...; comm may hold spaces.
			s := string(data)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(self) {
				unix.Wait4(pid, nil, unix.WNOHANG, nil)
			}
		}
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
		// A relative cgroupsPath is below minicontainer's parent
		// (container.planCgroup): testdir/... lands in minicontainer/testdir.
		for _, top := range []string{"cgrouptest", "testdir", "minicontainer/testdir"} {
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
