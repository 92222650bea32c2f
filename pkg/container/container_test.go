package container

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/proc"
	"github.com/minicontainer/minicontainer/pkg/spec"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

func TestEnvironment(t *testing.T) {
	t.Setenv("MCTEST_FROM_HOST", "yes")
	c := Config{Hostname: "box", Env: []string{"A=1", "PATH=/bin", "MCTEST_FROM_HOST", "MCTEST_UNSET", "A=2"}}
	got := strings.Join(c.environment(), " ")
	want := "HOME=/root HOSTNAME=box PATH=/bin MCTEST_FROM_HOST=yes A=2"
	if got != want {
		t.Errorf("environment:\n got %s\nwant %s", got, want)
	}
	c = Config{Hostname: "h", TTY: true}
	t.Setenv("TERM", "")
	if env := c.environment(); env[len(env)-1] != "TERM=xterm" {
		t.Errorf("-t without a host TERM: %q, want TERM=xterm last", env)
	}
}

func TestValidate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("validate checks for root first")
	}
	base := t.TempDir()
	os.Mkdir(filepath.Join(base, "bin"), 0o755)
	for _, c := range []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{Rootfs: base, Command: []string{"sh"}}, ""},
		{Config{Rootfs: base}, "no command"},
		{Config{Rootfs: base, Command: []string{"sh"}, Name: "-x"}, "invalid name"},
		{Config{Rootfs: base, Command: []string{"sh"}, Workdir: "tmp"}, "workdir"},
		{Config{Rootfs: base, Command: []string{"sh"}, Env: []string{"=v"}}, "environment"},
		{Config{Rootfs: base, Command: []string{"sh"}, Env: []string{"A=1\x00"}}, "NUL"},
		{Config{Rootfs: base, Command: []string{"sh", "-c", "true\x00"}}, "NUL"},
		{Config{Rootfs: base, Command: []string{"sh"}, StateRoot: "run"}, "state root"},
		{Config{Rootfs: base, Command: []string{"sh"}, Volumes: []string{"x"}}, "x"},
		{Config{Rootfs: base + "/nope", Command: []string{"sh"}}, "nope"},
		// Without --rootfs the default one is built after validation: the
		// rest must be checked before, so bad input builds nothing.
		{Config{Command: []string{"sh"}, Hostname: strings.Repeat("h", 65)}, "64"},
		{Config{Command: []string{"sh"}, Volumes: []string{"/nonexistent-mctest:/x"}}, "nonexistent-mctest"},
	} {
		_, err := c.cfg.validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	c := Config{Rootfs: base, Command: []string{"sh"}}
	p, _ := c.validate()
	if c.Hostname != DefaultHostname || c.StateRoot != DefaultStateRoot || p.rootfs.Base != base {
		t.Errorf("defaults: hostname %q state %q base %q", c.Hostname, c.StateRoot, p.rootfs.Base)
	}
}

func TestLookPathAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("prog", env); err != nil || p != filepath.Join(dir, "prog") {
		t.Errorf("lookPath(prog) = %q, %v", p, err)
	}
	for _, c := range []struct {
		name string
		code int
	}{
		{"missing", ExitNotFound},
		// run -- '': docker's and runc's "not found", not the first PATH
		// directory's "is a directory".
		{"", ExitNotFound},
		{filepath.Join(dir, "missing"), ExitNotFound},
		{filepath.Join(dir, "sub"), ExitCannotExec},
	} {
		_, err := lookPath(c.name, env)
		if err == nil || execCode(err) != c.code {
			t.Errorf("lookPath(%q): %v, code %d, want %d", c.name, err, execCode(err), c.code)
		}
	}
	// access(2) X_OK needs an x bit even for root: 126, as docker.
	for _, name := range []string{filepath.Join(dir, "data"), "data"} {
		if _, err := lookPath(name, env); err == nil || execCode(err) != ExitCannotExec {
			t.Errorf("lookPath(%q) of a non-executable file: %v, want code 126", name, err)
		}
	}
}

// TestPidsMinimum: below the minimum, --pids is refused before anything
// is made, and --init needs more (its Go runtime lives on as PID 1).
func TestPidsMinimum(t *testing.T) {
	for _, c := range []struct {
		init bool
		pids string
		want string // "" = not refused for its size
	}{
		{false, "5", "--pids \"5\": the minimum is 6"},
		{false, "6", ""},
		{true, "6", "--pids 6: the minimum with --init is 16"},
		{true, "15", "--pids 15: the minimum with --init is 16"},
		{true, "16", ""},
		{true, "", ""},
	} {
		cfg := Config{Init: c.init, Resources: cgroup.Flags{Pids: c.pids}}
		_, err := cfg.validateCgroup(explain.New(io.Discard, false))
		if c.want == "" && err != nil && strings.Contains(err.Error(), "minimum") ||
			c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("--init=%v --pids %q: %v, want %q", c.init, c.pids, err, c.want)
		}
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 seconds ago", time.Second: "1 second ago", 90 * time.Second: "1 minute ago",
		3 * time.Hour: "3 hours ago", 72 * time.Hour: "3 days ago",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

// deadPid returns the PID and start time of a process that has exited.
func deadPid(t *testing.T) (int, uint64) {
	cmd := exec.Command("sleep", "0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := proc.StartTime(pid)
	cmd.Wait()
	return pid, start
}

func TestGCReclaimsOnlyDeadRuns(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	scratch := t.TempDir()
	self := os.Getpid()
	pid, start := deadPid(t)
	live := &State{Root: root, ID: "aaaaaaaaaaaa", Runtime: self, RuntimeStart: proc.StartTime(self), Created: time.Now()}
	dead := &State{Root: root, ID: "bbbbbbbbbbbb", Runtime: pid, RuntimeStart: start, Created: time.Now(),
		Resources: []Resource{{Kind: "dir", Name: filepath.Join(scratch, "upper")}}}
	reused := &State{Root: root, ID: "cccccccccccc", Runtime: self, RuntimeStart: proc.StartTime(self) + 1, Created: time.Now()}
	for _, s := range []*State{live, dead, reused} {
		os.MkdirAll(s.Dir(), 0o700)
		if err := s.save(); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(scratch, "upper"), 0o700)
	os.Mkdir(filepath.Join(root, "dddddddddddd"), 0o700) // no state.json: a run killed at once
	if live.Status() != "starting" || dead.Status() != "dead" || reused.Status() != "dead" {
		t.Errorf("status: live %s, dead %s, reused PID %s", live.Status(), dead.Status(), reused.Status())
	}
	var out strings.Builder
	n, err := GC(root, &out)
	if err != nil || n != 3 {
		t.Fatalf("GC: %d, %v\n%s", n, err, out.String())
	}
	left, _ := os.ReadDir(root)
	if len(left) != 1 || left[0].Name() != live.ID {
		t.Errorf("after GC: %v, want only the live %s", left, live.ID)
	}
	if _, err := os.Stat(filepath.Join(scratch, "upper")); err == nil {
		t.Errorf("GC did not reclaim the dead run's resource")
	}
}

func TestNameIsClaimedOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("state dirs are root's")
	}
	root := filepath.Join(t.TempDir(), "state")
	defer hostcheck.Take(t, root).Verify(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []*Container
	fails := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := create(Config{Name: "web", StateRoot: root, Command: []string{"true"}}, &runPlan{}, spec.Default(), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				return
			}
			ok = append(ok, c)
		}()
	}
	wg.Wait()
	if len(ok) != 1 || fails != 7 {
		t.Errorf("8 concurrent runs named web: %d got it, %d refused; want 1 and 7", len(ok), fails)
	}
	for _, c := range ok {
		c.cleanup()
	}
}
