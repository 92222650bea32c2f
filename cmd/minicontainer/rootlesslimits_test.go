package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/testuser"
)

// TestRootlessLimits: limits for a user other than root, in a cgroup v2
// subtree delegated to it (pkg/cgroup's delegate.go).
//
// Without a delegation (the user's command in the test's own cgroup,
// root's), --memory is refused in one line, exit 125. Then the test
// delegates a subtree as systemd does for user@UID.service: it makes
// mctest-deleg-N at the top of the cgroup2 hierarchy (memory and pids
// enabled for it in the root's cgroup.subtree_control), chowns it and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads to the user
// (cgroup-v2.rst, "Model of Delegation"), with a leaf the user's also,
// and starts the user's minicontainer in the leaf (clone3's
// CLONE_INTO_CGROUP). On a hybrid host that cgroup2 has no memory
// controller: the refusal names it and the delegation root's
// cgroup.controllers, nothing is made, and the rest is skipped. On pure
// v2, `run --memory 64m --pids 20` sees its limits in its own
// /sys/fs/cgroup, a fork bomb stops at 20 tasks (pids.events counts the
// refusals), and the cgroup is gone afterwards; a detached one's is
// <root>/minicontainer/ID with the limits in the host's files, which
// inspect records, stats reads and exec is born in; rm removes it.
func TestRootlessLimits(t *testing.T) {
	needRoot(t)
	host, err := cgroup.Detect()
	if err != nil || host.Unified == "" {
		t.Skipf("no cgroup2 hierarchy here (%v): the refusal without one is TestRootlessRun's", err)
	}
	snap := hostcheck.Take(t, "mctest", "minicontainer", "process ", "account ")
	t.Cleanup(func() { snap.Verify(t) })
	u := testuser.Make(t, 0)
	bin := testuser.Executable(t, "minicontainer")
	stateRoot := fmt.Sprintf("/tmp/minicontainer-%d", u.UID)
	t.Cleanup(func() { os.RemoveAll(stateRoot) })
	data, err := os.MkdirTemp("", "mctest-rootless-limits")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(data)
	if err := os.Chown(data, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	// as runs minicontainer as the user, in the cgroup leaf when not nil.
	as := func(leaf *os.File, args ...string) result {
		t.Helper()
		cmd := u.Command(bin, args...)
		cmd.Env = append(cmd.Env, "XDG_DATA_HOME="+data)
		if leaf != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(leaf.Fd())}
		}
		return outcome(t, cmd)
	}
	refused := func(r result, want string) {
		t.Helper()
		if r.code != 125 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("exit %d, %q; want 125 and one line starting %q", r.code, r.stderr, want)
		}
		if entries, _ := os.ReadDir(stateRoot); len(entries) != 0 {
			t.Errorf("state root after a refused run: %v", entries)
		}
	}

	refused(as(nil, "run", "--memory", "64m", "--", "true"),
		"minicontainer: rootless: the memory limit needs a cgroup v2 subtree delegated to you, and your cgroup ")

	root := filepath.Join(host.Unified, fmt.Sprintf("mctest-deleg-%d", rand.IntN(1e6)))
	leafDir := delegate(t, host.Unified, root, u)
	leaf, err := os.Open(leafDir)
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()

	offered, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if !slices.Contains(strings.Fields(string(offered)), "memory") {
		refused(as(leaf, "run", "--memory", "64m", "--pids", "20", "--", "true"),
			"minicontainer: rootless: the memory limit needs the memory controller, and "+filepath.Join(root, "cgroup.controllers")+" does not list it (")
		if entries := subdirs(root); !slices.Equal(entries, []string{"leaf"}) {
			t.Errorf("%s after the refusal: %v, want only leaf", root, entries)
		}
		t.Skipf("%s offers %q: this host (%s) has its memory controller elsewhere, so limits cannot be applied in a delegated subtree (the refusal is checked)",
			root, strings.TrimSpace(string(offered)), host.Mode)
	}

	// Foreground: the limits as the container sees them, and a fork bomb.
	// After the bomb only shell builtins run (read, echo): every fork
	// fails while the sleeps hold the tasks.
	r := as(leaf, "run", "--memory", "64m", "--pids", "20", "--", "sh", "-c",
		"read m < /sys/fs/cgroup/memory.max; read p < /sys/fs/cgroup/pids.max; echo memory.max=$m pids.max=$p; "+
			"(for i in $(seq 40); do sleep 5 & done) 2>/dev/null; read e < /sys/fs/cgroup/pids.events; echo pids.events=$e")
	if r.code != 0 {
		t.Fatalf("run --memory 64m --pids 20 in %s: exit %d, %q, %q", leafDir, r.code, r.stdout, r.stderr)
	}
	var refusedForks int
	if _, err := fmt.Sscanf(r.stdout, "memory.max=67108864 pids.max=20\npids.events=max %d", &refusedForks); err != nil || refusedForks == 0 {
		t.Errorf("inside: %q (%v); want memory.max=67108864 pids.max=20 and forks refused at 20 tasks", r.stdout, err)
	}
	if entries := subdirs(root); !slices.Equal(entries, []string{"leaf"}) {
		t.Errorf("%s after the run: %v, want only leaf (the container's cgroup and minicontainer/ removed)", root, entries)
	}

	// Detached: the host's view, inspect, stats, exec, rm.
	d := as(leaf, "run", "-d", "--memory", "64m", "--pids", "20", "--", "sleep", "60")
	id := strings.TrimSpace(d.stdout)
	if d.code != 0 || id == "" {
		t.Fatalf("run -d: exit %d, %q, %q", d.code, d.stdout, d.stderr)
	}
	cg := filepath.Join(root, testCgroupParent, id)
	t.Cleanup(func() { killCgroup(cg) })
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "20"} {
		if got, err := os.ReadFile(filepath.Join(cg, file)); err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%s: %q, %v; want %s", filepath.Join(cg, file), got, err, want)
		}
	}
	var in []container.Inspection
	ins := as(leaf, "inspect", id)
	if err := json.Unmarshal([]byte(ins.stdout), &in); err != nil || len(in) != 1 ||
		in[0].Cgroup != "v2user:/"+filepath.Base(root)+":"+testCgroupParent+"/"+id {
		t.Errorf("inspect: %v, %q %q; want the cgroup v2user:/%s:%s/%s", err, ins.stdout, ins.stderr, filepath.Base(root), testCgroupParent, id)
	}
	if s := as(leaf, "stats", id); s.code != 0 || !strings.Contains(s.stdout, "64.0MiB") || !strings.Contains(s.stdout, "/20") {
		t.Errorf("stats: exit %d, %q, %q; want the limit 64.0MiB and pids /20", s.code, s.stdout, s.stderr)
	}
	if e := as(leaf, "exec", id, "--", "cat", "/proc/self/cgroup"); e.code != 0 || strings.TrimSpace(e.stdout) != "0::/" {
		t.Errorf("exec: exit %d, %q, %q; want 0::/ (born in the container's cgroup, the root of its namespace)", e.code, e.stdout, e.stderr)
	}
	if r := as(leaf, "rm", "-f", id); r.code != 0 {
		t.Errorf("rm -f: exit %d, %q", r.code, r.stderr)
	}
	if entries := subdirs(root); !slices.Equal(entries, []string{"leaf"}) {
		t.Errorf("%s after rm: %v, want only leaf", root, entries)
	}
}

// delegate makes root (below the cgroup2 mount) a subtree delegated to u,
// as systemd does user@UID.service: memory and pids enabled for it in the
// mount's cgroup.subtree_control when offered there (and disabled again
// at the end if the test enabled them), the directory and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the
// user (cgroup-v2.rst, "Model of Delegation"), and a leaf the user's in
// the same way, for the user's processes: the root itself must hold none
// to pass controllers on ("no internal process" rule). It returns the
// leaf; the cleanup kills what is left and removes it all.
func delegate(t *testing.T, mount, root string, u *testuser.User) string {
	t.Helper()
	sc := filepath.Join(mount, "cgroup.subtree_control")
	offered, _ := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	enabled, _ := os.ReadFile(sc)
	var added []string
	for _, c := range []string{"memory", "pids"} {
		if slices.Contains(strings.Fields(string(offered)), c) && !slices.Contains(strings.Fields(string(enabled)), c) {
			if err := os.WriteFile(sc, []byte("+"+c), 0); err != nil {
				t.Fatalf("enabling %s in %s: %v", c, sc, err)
			}
			added = append(added, c)
		}
	}
	leaf := filepath.Join(root, "leaf")
	t.Cleanup(func() {
		for _, dir := range []string{leaf, root} {
			killCgroup(dir)
		}
		for _, c := range added {
			os.WriteFile(sc, []byte("-"+c), 0)
		}
	})
	for _, dir := range []string{root, leaf} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control"), filepath.Join(dir, "cgroup.threads")} {
			if err := os.Chown(p, u.UID, u.GID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return leaf
}

// killCgroup kills what is left in the cgroup dir and below and removes
// them, bottom up (a test that failed half way may leave a container's).
func killCgroup(dir string) {
	for _, sub := range subdirs(dir) {
		killCgroup(filepath.Join(dir, sub))
	}
	if _, err := os.Stat(dir); err != nil {
		return
	}
	os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	for i := 0; i < 200 && syscall.Rmdir(dir) == syscall.EBUSY; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// subdirs lists the child cgroups of dir, sorted.
func subdirs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
