package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/fault"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/network"
)

// faultRows: for every fault point (pkg/fault), what minicontainer killed
// right after it has left for gc to remove — checked before gc runs, so
// each row proves gc had work and did it. Kinds: "state" (a container's
// directory), "cgroup-parent" (the run's --cgroup-parent), "cgroup" (the
// container's cgroup in it), "lock" (the bridge's lock file), "book" (the
// network's address book), "bridge",
// "nft" (the NAT table), "forward" (ip_forward on), "veth" (the host end).
// A veth whose peer is in the container's namespace goes with that
// namespace when the init dies (PR_SET_PDEATHSIG), in the background: not
// listed, since the peer is made there (pkg/network's createVeth).
var faultRows = map[string][]string{
	"state-dir":         {"state"},
	"name":              {"state"},
	"scratch-dir":       {"state"},
	"cgroup-parent":     {"state", "cgroup-parent"},
	"cgroup":            {"state", "cgroup"},
	"cgroup-limits":     {"state", "cgroup"},
	"clone":             {"state", "cgroup"},
	"pid":               {"state", "cgroup"},
	"host step cgroup":  {"state", "cgroup"},
	"network-lock":      {"state", "cgroup", "lock"},
	"bridge-address":    {"state", "cgroup", "book", "bridge"},
	"bridge":            {"state", "cgroup", "book", "bridge"},
	"ip-forward":        {"state", "cgroup", "book", "bridge", "forward"},
	"nat":               {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"lease":             {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"veth":              {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"eth0":              {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"port-rules":        {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"host step network": {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"config-sent":       {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"started":           {"state", "cgroup", "book", "bridge", "forward", "nft"},
	"exited":            {"state", "cgroup", "book", "bridge", "forward", "nft"},
}

// faultCgroupParent is the prefix of this test's own parents: other runs
// of these tests on the machine (cgroups are not namespaced) share
// testCgroupParent.
var faultCgroupParent = fmt.Sprintf("mctest-fault-%d", os.Getpid())

// faultParents counts the runs, each under a --cgroup-parent of its own
// that does not exist before it, so each reaches the step
// "cgroup-parent" (a parent left by an earlier run would hide it).
var faultParents int

func newFaultParent() string {
	faultParents++
	return fmt.Sprintf("%s-%d", faultCgroupParent, faultParents)
}

// faultArgs reach every fault point: a fresh cgroup parent, a bridge with
// a published port and cgroup limits. (The flag, not
// MINICONTAINER_CGROUP_PARENT: this test binary is minicontainer, and its
// init sets that variable.)
func faultArgs(parent string) []string {
	return []string{"--cgroup-parent", parent, "--memory", "64m", "--pids", "64", "-p", "18080:80", "--", "true"}
}

// TestFaultSteps fails minicontainer, and kills it, right after each step
// of fault.Steps. After a failure it must exit 125 with one line and leave
// the host exactly as it was; after a SIGKILL, `minicontainer gc` must.
func TestFaultSteps(t *testing.T) {
	needTestHost(t)
	cgroupHost(t)
	// The table covers exactly the steps there are.
	for _, s := range fault.Steps {
		if _, ok := faultRows[s]; !ok {
			t.Errorf("fault step %q has no row in faultRows", s)
		}
	}
	for s := range faultRows {
		if !slices.Contains(fault.Steps, s) {
			t.Errorf("faultRows has %q, which is not in fault.Steps", s)
		}
	}
	// A run reaches every step, in the order of fault.Steps, and no other.
	if traced := faultTrace(t); !slices.Equal(traced, fault.Steps) {
		t.Fatalf("MINICONTAINER_FAULT=trace: points reached\n%q\nwant fault.Steps\n%q", traced, fault.Steps)
	}
	faultSteps(t, fault.Steps, true)

	// Again beside a running container: the bridge and the NAT table are
	// there already (their steps are not reached), and neither the undo
	// nor gc may take them, nor the neighbour's address, veth or rules.
	t.Run("neighbour", func(t *testing.T) {
		check := faultCheck(t)
		// A parent of its own: one left behind in faultCgroupParent keeps
		// that there, where hostcheck sees it.
		neighbour, _ := background(t, "neighbour", "--cgroup-parent", faultCgroupParent+"-neighbour", "--", "sleep", "600")
		states, _ := container.List(testState)
		if len(states) != 1 || !states[0].Address.IsValid() {
			t.Fatalf("the neighbour's state: %+v", states)
		}
		addr := states[0].Address.String()
		traced := faultTrace(t)
		if slices.Contains(traced, "bridge") || len(traced) < len(fault.Steps)-4 {
			t.Fatalf("beside a running container, the points reached: %q", traced)
		}
		faultSteps(t, traced, false)
		if out, err := exec.Command("ping", "-c", "1", "-W", "2", addr).CombinedOutput(); err != nil {
			t.Errorf("the neighbour %s does not answer any more: %v\n%s", addr, err, out)
		}
		// SIGKILLed, the neighbour leaves its cgroup and network to gc.
		neighbour.Process.Kill()
		neighbour.Wait()
		if gc := mc(t, "", "gc"); gc.code != 0 {
			t.Errorf("gc: exit %d, %s%s", gc.code, gc.stdout, gc.stderr)
		}
		check.Verify(t)
	})
}

// faultTrace returns the fault points a run reaches, in order.
func faultTrace(t *testing.T) []string {
	t.Helper()
	r := faultRun(t, "trace", newFaultParent())
	if r.code != 0 {
		t.Fatalf("MINICONTAINER_FAULT=trace: exit %d, %s", r.code, r.stderr)
	}
	var traced []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		traced = append(traced, strings.TrimPrefix(l, "fault point: "))
	}
	return traced
}

// faultSteps fails and kills a run at each of steps. With probes, it also
// checks that a killed run left what faultRows says.
func faultSteps(t *testing.T, steps []string, probes bool) {
	for _, step := range steps {
		t.Run("fail/"+step, func(t *testing.T) {
			defer faultCheck(t).Verify(t)
			r := faultRun(t, step, newFaultParent())
			want := `injected fault after step "` + step + `"`
			if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "minicontainer: ") || !strings.Contains(r.stderr, want) {
				t.Errorf("exit %d, stderr %q; want 125 and one line with %s", r.code, r.stderr, want)
			}
		})
		t.Run("die/"+step, func(t *testing.T) {
			defer faultCheck(t).Verify(t)
			parent := newFaultParent()
			r := faultRun(t, "die:"+step, parent)
			if r.code != -int(syscall.SIGKILL) {
				t.Fatalf("exit %d, stderr %q; want killed by SIGKILL at %q", r.code, r.stderr, step)
			}
			for _, kind := range faultRows[step] {
				if probes && !faultLeft(t, kind, parent) {
					t.Errorf("killed after %q: no %s left for gc to remove", step, kind)
				}
			}
			if gc := mc(t, "", "gc"); gc.code != 0 {
				t.Errorf("gc: exit %d, %s%s", gc.code, gc.stdout, gc.stderr)
			}
		})
	}
}

// faultCheck snapshots what a run could change here (the test's own state
// root and cgroup parent, this network namespace's links, nftables tables
// and ip_forward, mounts and processes).
func faultCheck(t *testing.T) *hostcheck.Snapshot {
	return hostcheck.Take(t, "mount ", "link ", "process ", "nft table ", "sysctl ", testState, faultCgroupParent, netnsPrefix(t))
}

// faultRun runs minicontainer with MINICONTAINER_FAULT=value, its cgroup
// under parent; code is -9 when SIGKILL ended it.
func faultRun(t *testing.T, value, parent string) result {
	t.Helper()
	cmd := exec.Command("minicontainer", append([]string{"run", "--rootfs", testRootfs}, faultArgs(parent)...)...)
	cmd.Env = append(os.Environ(), fault.EnvVar+"="+value)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = -int(ws.Signal())
	}
	return result{out.String(), errb.String(), code}
}

// faultLeft reports whether a killed run, its cgroup under parent, left a
// thing of this kind.
func faultLeft(t *testing.T, kind, parent string) bool {
	t.Helper()
	switch kind {
	case "state":
		states, _ := filepath.Glob(filepath.Join(testState, "*", "state.json"))
		dirs, _ := filepath.Glob(filepath.Join(testState, "[0-9a-f]*"))
		return len(states) > 0 || slices.ContainsFunc(dirs, func(d string) bool { st, err := os.Stat(d); return err == nil && st.IsDir() })
	case "cgroup-parent":
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/cgroup.procs")
		unified, _ := filepath.Glob("/sys/fs/cgroup/" + parent + "/cgroup.procs")
		return len(dirs)+len(unified) > 0
	case "cgroup":
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/*/cgroup.procs")
		unified, _ := filepath.Glob("/sys/fs/cgroup/" + parent + "/*/cgroup.procs")
		return len(dirs)+len(unified) > 0
	case "lock":
		locks, _ := filepath.Glob(filepath.Join(network.DefaultStateDir, netnsPrefix(t)+"*.lock"))
		return len(locks) > 0
	case "book":
		books, _ := filepath.Glob(filepath.Join(network.DefaultStateDir, netnsPrefix(t)+"*.json"))
		return len(books) > 0
	case "bridge":
		return exec.Command("ip", "link", "show", "mc0").Run() == nil
	case "veth":
		return strings.Contains(shell(t, "ip -o link show"), ": mc-")
	case "nft":
		return exec.Command("nft", "list", "table", "ip", "minicontainer").Run() == nil
	case "forward":
		v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err == nil && strings.TrimSpace(string(v)) == "1"
	}
	t.Fatalf("unknown kind %q", kind)
	return false
}

// TestFaultPointNames: every fault.Point in the sources names a step of
// fault.Steps — or, for a computed name (the host steps'), a prefix of one
// — so a point cannot be added that no test injects.
func TestFaultPointNames(t *testing.T) {
	n := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Point" || len(call.Args) != 2 {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "fault" {
				return true
			}
			n++
			arg, prefix := call.Args[1], false
			if b, ok := arg.(*ast.BinaryExpr); ok && b.Op == token.ADD {
				arg, prefix = b.X, true
			}
			lit, ok := arg.(*ast.BasicLit)
			name, err := strconv.Unquote(litValue(lit, ok))
			switch {
			case err != nil:
				t.Errorf("%s: fault.Point's name is not a string literal (or literal + name)", fset.Position(call.Pos()))
			case prefix && !slices.ContainsFunc(fault.Steps, func(s string) bool { return strings.HasPrefix(s, name) }):
				t.Errorf("%s: no step of fault.Steps starts with %q", fset.Position(call.Pos()), name)
			case !prefix && !slices.Contains(fault.Steps, name):
				t.Errorf("%s: fault.Point(%q) is not in fault.Steps", fset.Position(call.Pos()), name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < len(fault.Steps)-1 { // the host steps share one call
		t.Errorf("found %d fault.Point calls for %d steps: is the scan blind?", n, len(fault.Steps))
	}
}

func litValue(lit *ast.BasicLit, ok bool) string {
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	return lit.Value
}
