package cgroup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

func TestParseProcCgroup(t *testing.T) {
	for _, c := range []struct{ text, want, err string }{
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u5.scope\n", "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u5.scope", ""},
		// A hybrid host: v1 lines first, the cgroup2 line last.
		{"12:pids:/user.slice/user-1000.slice/session-3.scope\n1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n0::/user.slice/user-1000.slice/session-3.scope\n",
			"/user.slice/user-1000.slice/session-3.scope", ""},
		{"0::/\n", "/", ""},
		{"0::/a/b/\n", "/a/b", ""},
		// Pure v1: no cgroup2 line.
		{"4:memory:/x\n1:name=systemd:/x\n", "", "no cgroup v2 line"},
		// A v1 hierarchy numbered 0 with controllers is not the cgroup2.
		{"0:memory:/x\n", "", "no cgroup v2 line"},
		// Outside this cgroup namespace (cgroup_namespaces(7)).
		{"0::/../../x\n", "", "outside this cgroup namespace"},
	} {
		got, err := ParseProcCgroup(c.text)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseProcCgroup(%q) = %q, %v; want an error with %q", c.text, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseProcCgroup(%q) = %q, %v; want %q", c.text, got, err, c.want)
		}
	}
}

// fakeDelegation builds a systemd-like cgroup2 tree in a temporary
// directory: the root (the host's), user.slice/user-1000.slice (root's),
// user@1000.service (delegated: "offered" in cgroup.controllers), and
// below it app.slice/run-u5.scope holding the caller, with
// session-3.scope beside user@1000.service (root's, holding a login
// shell). mayWrite answers as the kernel would for uid 1000: yes for the
// delegated subtree, but for the files named in deny.
func fakeDelegation(t *testing.T, offered string, deny ...string) (h *Host, mayWrite func(string) bool) {
	h = fakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc")
	mount := h.Unified
	slice := filepath.Join(mount, "user.slice", "user-1000.slice")
	deleg := filepath.Join(slice, "user@1000.service")
	for _, d := range []struct{ dir, controllers, procs string }{
		{filepath.Join(mount, "user.slice"), "cpuset cpu io memory pids", ""},
		{slice, "cpu memory pids", ""},
		{filepath.Join(slice, "session-3.scope"), "", "700\n"},
		{deleg, offered, ""},
		{filepath.Join(deleg, "init.scope"), "", "800\n"},
		{filepath.Join(deleg, "app.slice"), "", ""},
		{filepath.Join(deleg, "app.slice", "run-u5.scope"), "", "900\n"},
	} {
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d.dir, "cgroup.controllers"), d.controllers+"\n")
		writeFile(t, filepath.Join(d.dir, "cgroup.subtree_control"), "\n")
		writeFile(t, filepath.Join(d.dir, "cgroup.procs"), d.procs)
	}
	return h, func(p string) bool {
		for _, d := range deny {
			if p == filepath.Join(mount, d) {
				return false
			}
		}
		return p == deleg || strings.HasPrefix(p, deleg+"/")
	}
}

const (
	delegRoot = "/user.slice/user-1000.slice/user@1000.service"
	ownScope  = delegRoot + "/app.slice/run-u5.scope"
)

func TestFindDelegation(t *testing.T) {
	h, mayWrite := fakeDelegation(t, "cpu memory pids")
	var narration bytes.Buffer
	d, err := FindDelegation(h.Unified, ownScope, mayWrite, explain.New(&narration, true))
	if err != nil {
		t.Fatal(err)
	}
	if d.Root != delegRoot || strings.Join(d.Controllers, " ") != "cpu memory pids" || len(d.Enabled) != 0 || d.Busy {
		t.Errorf("FindDelegation = %+v; want root %s offering cpu memory pids, none enabled, no process", d, delegRoot)
	}
	if err := d.Check(Limits{Memory: 64 << 20, Pids: 20, CPUs: 0.5}); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, l := range []string{
		"yours is " + filepath.Join(h.Unified, ownScope),
		"delegation root " + filepath.Join(h.Unified, delegRoot) + ": you may write it, its cgroup.procs and cgroup.subtree_control, but not its parent " + filepath.Join(h.Unified, "user.slice/user-1000.slice"),
		`offers "cpu memory pids"`,
	} {
		if !strings.Contains(narration.String(), l) {
			t.Errorf("narration lacks %q:\n%s", l, narration.String())
		}
	}

	// Refused, each in one line: no delegation (a login shell's
	// session scope), a controller not delegated (cpuset), the same on a
	// hybrid host, a root that holds processes itself (the caller in the
	// root), and a cgroup.procs or cgroup.subtree_control the user may
	// not write (not a delegation: the walk stops below it).
	for _, c := range []struct {
		name, own, offered string
		deny               []string
		mode               Mode
		limits             Limits
		root, want         string
	}{
		{"session scope", "/user.slice/user-1000.slice/session-3.scope", "cpu memory pids", nil, Unified, Limits{Memory: 64 << 20},
			"", "the memory limit needs a cgroup v2 subtree delegated to you, and your cgroup (see /proc/self/cgroup) is not in one: run minicontainer inside one, as `systemd-run --user --scope"},
		{"cpuset not delegated", ownScope, "cpu memory pids", nil, Unified, Limits{Memory: 64 << 20, CpusetCPUs: "0"},
			delegRoot, "the cpuset limit needs the cpuset controller, and MOUNT" + delegRoot + "/cgroup.controllers does not list it (not delegated to you)"},
		{"hybrid", ownScope, "", nil, Hybrid, Limits{Memory: 64 << 20, Pids: 20},
			delegRoot, "the memory limit needs the memory controller, and MOUNT" + delegRoot + "/cgroup.controllers does not list it (this hybrid host has its controllers in cgroup v1, whose cgroups only root may make)"},
		{"subtree_control not yours", delegRoot + "/init.scope", "cpu memory pids", []string{"user.slice/user-1000.slice/user@1000.service/init.scope/cgroup.subtree_control"}, Unified, Limits{Pids: 20},
			"", "the pids limit needs a cgroup v2 subtree delegated to you"},
		{"parent's procs not yours", ownScope, "cpu memory pids", []string{"user.slice/user-1000.slice/user@1000.service/cgroup.procs"}, Unified, Limits{Memory: 64 << 20, Pids: 20},
			delegRoot + "/app.slice", "the memory limit needs the memory controller, and MOUNT" + delegRoot + "/app.slice/cgroup.controllers does not list it (not delegated to you)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, mayWrite := fakeDelegation(t, c.offered, c.deny...)
			d, err := FindDelegation(h.Unified, c.own, mayWrite, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.Mode = c.mode
			if d.Root != c.root {
				t.Errorf("root %q, want %q", d.Root, c.root)
			}
			err = d.Check(c.limits)
			want := strings.ReplaceAll(c.want, "MOUNT", h.Unified)
			if want == "" && err != nil {
				t.Errorf("Check: %v", err)
			}
			if want != "" && (err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n")) {
				t.Errorf("Check = %v\nwant one line starting %q", err, want)
			}
		})
	}

	// The caller in the delegation root itself: it holds processes, so
	// it cannot enable controllers for a child (no internal process rule).
	h, mayWrite = fakeDelegation(t, "cpu memory pids")
	writeFile(t, filepath.Join(h.Unified, delegRoot, "cgroup.procs"), "900\n")
	d, err = FindDelegation(h.Unified, delegRoot, mayWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Check(Limits{Memory: 64 << 20, Pids: 20})
	want := "the memory and pids limits need controllers enabled in " + filepath.Join(h.Unified, delegRoot, "cgroup.subtree_control") + ", and that cgroup holds processes itself"
	if !d.Busy || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("busy root: %+v, %v; want %q", d, err, want)
	}
	// Without limits nothing is needed: no refusal, whatever the host.
	if err := (&Delegation{Mount: h.Unified, Own: "/"}).Check(Limits{}); err != nil {
		t.Errorf("Check(no limits) = %v", err)
	}
	// The root cgroup is the host's, never a delegation, even to root.
	if d, _ := FindDelegation(h.Unified, "/", func(string) bool { return true }, nil); d.Root != "" {
		t.Errorf("root cgroup taken as a delegation: %+v", d)
	}
}

// TestDelegatedCgroup makes a container's cgroup in a delegated subtree of
// the fake tree: under the root, only the controllers the limits need
// enabled, nothing written above it, and all of it gone after Destroy
// but the root itself. InDelegation opens it again from the record.
func TestDelegatedCgroup(t *testing.T) {
	h, mayWrite := fakeDelegation(t, "cpu memory pids")
	d, err := FindDelegation(h.Unified, ownScope, mayWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := Limits{Memory: 64 << 20, Pids: 20}
	dh := d.Host(l, []int{0, 1})
	dh.fs = h.fs
	if dh.Driver() != "v2user" || dh.Delegated != delegRoot {
		t.Errorf("Driver %q, Delegated %q; want v2user, %s", dh.Driver(), dh.Delegated, delegRoot)
	}
	if err := l.Check(dh); err != nil {
		t.Fatal(err)
	}
	var narration bytes.Buffer
	cg, err := New(dh, Parent, "ab12", explain.New(&narration, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(l); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(h.Unified, delegRoot)
	dir := filepath.Join(root, Parent, "ab12")
	if p := cg.Paths(); len(p) != 1 || p[0] != dir {
		t.Errorf("Paths = %v, want [%s]", p, dir)
	}
	for p, v := range map[string]string{
		filepath.Join(root, "cgroup.subtree_control"):                                 "memory pids",
		filepath.Join(root, Parent, "cgroup.subtree_control"):                         "memory pids",
		filepath.Join(dir, "memory.max"):                                              "67108864",
		filepath.Join(dir, "pids.max"):                                                "20",
		filepath.Join(h.Unified, "cgroup.subtree_control"):                            "",
		filepath.Join(h.Unified, "user.slice/user-1000.slice/cgroup.subtree_control"): "",
	} {
		if got := strings.TrimSpace(readFile(t, p)); got != v {
			t.Errorf("%s = %q, want %q", p, got, v)
		}
	}
	for _, l := range []string{
		`write("` + filepath.Join(root, "cgroup.subtree_control") + `", "+memory +pids")`,
		`mkdir("` + filepath.Join(root, Parent) + `", 0755)`,
		`write("` + filepath.Join(dir, "pids.max") + `", "20")`,
	} {
		if !strings.Contains(narration.String(), l) {
			t.Errorf("narration lacks %s:\n%s", l, narration.String())
		}
	}

	again := &Host{Mode: Hybrid, Unified: h.Unified, Hierarchy: []V1Mount{{Dir: "/x", Options: "memory"}}}
	if err := again.InDelegation(delegRoot); err != nil {
		t.Fatal(err)
	}
	if again.Mode != Unified || again.Unified != root || again.Hierarchy != nil || strings.Join(again.V2, " ") != "cpu memory pids" {
		t.Errorf("InDelegation: %+v", again)
	}
	again.fs = h.fs
	cg2, err := New(again, Parent, "ab12", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := cg2.Paths(); len(p) != 1 || p[0] != dir {
		t.Errorf("reopened Paths = %v, want [%s]", p, dir)
	}
	if err := cg2.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(root, Parent)} {
		if exists(p) {
			t.Errorf("%s left after Destroy", p)
		}
	}
	if !exists(root) {
		t.Errorf("Destroy removed the delegation root %s", root)
	}
}
