package caps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// The test binary is also the process whose capabilities change: Apply
// runs in a re-executed child, never in the test process.
const (
	applyEntry = "caps-test-apply"
	capsEnv    = "MCTEST_CAPS"     // the LinuxCapabilities as JSON ("null": nil)
	uidEnv     = "MCTEST_CAPS_UID" // if set, become this uid (and gid) first
)

func init() { reexec.Register(applyEntry, applyMain) }

// ours narrows hostcheck to what these tests could leave: a process (the
// children are ours) or a mount. Cgroups are shared with other test runs
// on the machine, and these tests make none.
var ours = []string{"process ", "mount "}

func TestMain(m *testing.M) {
	reexec.Init()
	os.Exit(m.Run())
}

// applyMain is a container init's last steps: the user, Apply, then
// execve. It prints its own thread's sets (prefixed "thread ") before the
// exec, and the exec'd cat prints the new program's.
func applyMain() {
	runtime.LockOSThread()
	var c *specs.LinuxCapabilities
	if err := json.Unmarshal([]byte(os.Getenv(capsEnv)), &c); err != nil {
		fmt.Println("child: caps:", err)
		os.Exit(2)
	}
	if s := os.Getenv(uidEnv); s != "" {
		// The user first, with "keep capabilities" around the uid change,
		// as the package comment says (and runc's finalizeNamespace does).
		id, _ := strconv.Atoi(s)
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			fmt.Println("child: keepcaps:", err)
			os.Exit(2)
		}
		if err := unix.Setgid(id); err != nil {
			fmt.Println("child: setgid:", err)
			os.Exit(2)
		}
		if err := unix.Setuid(id); err != nil {
			fmt.Println("child: setuid:", err)
			os.Exit(2)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			fmt.Println("child: keepcaps:", err)
			os.Exit(2)
		}
	}
	err := Apply(c, explain.FromEnv(""))
	status, _ := os.ReadFile("/proc/thread-self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Cap") {
			fmt.Println("thread " + l)
		}
	}
	if err != nil {
		fmt.Println("apply-error: " + err.Error())
		os.Exit(3)
	}
	err = unix.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, []string{"PATH=/bin"})
	fmt.Println("child: exec:", err)
	os.Exit(2)
}

// status holds the five sets of /proc/PID/status.
type status map[string]Set

func parseStatus(t *testing.T, text, prefix string) status {
	t.Helper()
	st := status{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		if prefix == "" && strings.HasPrefix(l, "thread ") {
			continue
		}
		l, ok := strings.CutPrefix(l, prefix)
		if !ok || !strings.HasPrefix(l, "Cap") {
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		st[k] = Set(n)
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if _, ok := st[k]; !ok {
			t.Fatalf("no %s%s in:\n%s", prefix, k, text)
		}
	}
	return st
}

func (s status) String() string {
	return fmt.Sprintf("Inh %016x Prm %016x Eff %016x Bnd %016x Amb %016x",
		uint64(s["CapInh"]), uint64(s["CapPrm"]), uint64(s["CapEff"]), uint64(s["CapBnd"]), uint64(s["CapAmb"]))
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing capability sets needs root: run the tests with sudo (make test does)")
	}
}

// runApply runs applyMain and returns its stdout and stderr.
func runApply(t *testing.T, c *specs.LinuxCapabilities, uid string, narrate bool) (string, string, error) {
	t.Helper()
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := reexec.Command(applyEntry)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &out, &errb
	cmd.Env = append(os.Environ(), capsEnv+"="+string(js), uidEnv+"="+uid, explain.EnvVar+"=0")
	if narrate {
		cmd.Env = append(cmd.Env, explain.EnvVar+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func mask(t *testing.T, names ...string) Set {
	t.Helper()
	s, _, err := Parse(names, unix.CAP_LAST_CAP)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(list []string, more ...string) []string {
	return append(append([]string{}, list...), more...)
}

// TestApply checks the sets of the thread after Apply, and of the program
// it then execs, against what capabilities(7) says they must be.
func TestApply(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ours...).Verify(t)
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	host := parseStatus(t, string(self), "")
	docker := mask(t, DockerDefault...)
	nobody := "65534"
	type sets struct{ inh, prm, eff, bnd, amb Set }
	for _, c := range []struct {
		name   string
		caps   *specs.LinuxCapabilities
		uid    string
		thread sets // after Apply, before execve
		exec   sets // in the exec'd program
	}{
		{
			name:   "docker default",
			caps:   &specs.LinuxCapabilities{Bounding: DockerDefault, Effective: DockerDefault, Permitted: DockerDefault},
			thread: sets{prm: docker, eff: docker, bnd: docker},
			exec:   sets{prm: docker, eff: docker, bnd: docker},
		},
		{
			name: "nothing",
			caps: &specs.LinuxCapabilities{},
		},
		{
			// For uid 0, execve gives permitted = effective = inheritable |
			// bounding, whatever capset set before. CAP_PERFMON (38) and
			// CAP_BPF (39) are in capset's second 32-bit word.
			name: "split sets",
			caps: &specs.LinuxCapabilities{
				Bounding:    with(DockerDefault, "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"),
				Effective:   []string{"CAP_CHOWN", "CAP_BPF"},
				Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_PERFMON", "CAP_BPF"},
				Inheritable: []string{"CAP_KILL", "CAP_NET_RAW", "CAP_PERFMON"},
				Ambient:     []string{"CAP_KILL", "CAP_PERFMON"},
			},
			thread: sets{
				eff: mask(t, "CAP_CHOWN", "CAP_BPF"), prm: mask(t, "CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_PERFMON", "CAP_BPF"),
				inh: mask(t, "CAP_KILL", "CAP_NET_RAW", "CAP_PERFMON"), amb: mask(t, "CAP_KILL", "CAP_PERFMON"),
				bnd: docker | mask(t, "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"),
			},
			exec: sets{
				eff: docker | mask(t, "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"), prm: docker | mask(t, "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"),
				inh: mask(t, "CAP_KILL", "CAP_NET_RAW", "CAP_PERFMON"), amb: mask(t, "CAP_KILL", "CAP_PERFMON"),
				bnd: docker | mask(t, "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"),
			},
		},
		{
			// A non-root program keeps only its ambient set across execve.
			name: "non-root with ambient",
			uid:  nobody,
			caps: &specs.LinuxCapabilities{
				Bounding:    DockerDefault,
				Effective:   []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
				Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
				Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
				Ambient:     []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
			},
			thread: sets{
				eff: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), prm: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
				inh: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), amb: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), bnd: docker,
			},
			exec: sets{
				eff: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), prm: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
				inh: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), amb: mask(t, "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), bnd: docker,
			},
		},
		{
			// `runc spec`'s default (runc 1.1): ambient capabilities with
			// an empty inheritable set. The kernel refuses to raise them;
			// runc skips them, and so does Apply.
			name: "ambient outside inheritable, as runc spec writes it",
			caps: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Effective: []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Permitted: []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Ambient:   []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
			},
			thread: sets{
				eff: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"), prm: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
				bnd: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
			},
			exec: sets{
				eff: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"), prm: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
				bnd: mask(t, "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
			},
		},
		{
			// The uid change kept the permitted set (PR_SET_KEEPCAPS) but
			// emptied the effective one; Apply still drops the bounding set.
			name:   "non-root without ambient",
			uid:    nobody,
			caps:   &specs.LinuxCapabilities{Bounding: DockerDefault, Effective: DockerDefault, Permitted: DockerDefault},
			thread: sets{prm: docker, eff: docker, bnd: docker},
			exec:   sets{bnd: docker},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := runApply(t, c.caps, c.uid, false)
			if err != nil {
				t.Fatalf("child: %v\n%s%s", err, out, stderr)
			}
			// The test's own bounding set caps what a child can have (a
			// container host may run us without some capability).
			and := func(s sets) status {
				return status{"CapInh": s.inh & host["CapBnd"], "CapPrm": s.prm & host["CapBnd"], "CapEff": s.eff & host["CapBnd"],
					"CapBnd": s.bnd & host["CapBnd"], "CapAmb": s.amb & host["CapBnd"]}
			}
			if got, want := parseStatus(t, out, "thread "), and(c.thread); got.String() != want.String() {
				t.Errorf("after Apply:\n got  %s\n want %s", got, want)
			}
			if got, want := parseStatus(t, out, ""), and(c.exec); got.String() != want.String() {
				t.Errorf("after execve:\n got  %s\n want %s", got, want)
			}
		})
	}
}

// The figure: CapBnd 00000000a80425fb inside, nothing inheritable
// or ambient.
func TestApplyDockerDefaultFigures(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ours...).Verify(t)
	self, _ := os.ReadFile("/proc/self/status")
	if parseStatus(t, string(self), "")["CapBnd"]&0xa80425fb != 0xa80425fb {
		t.Skip("this test process lacks part of Docker's set in its own bounding set")
	}
	out, stderr, err := runApply(t, &specs.LinuxCapabilities{Bounding: DockerDefault, Effective: DockerDefault, Permitted: DockerDefault}, "", false)
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr)
	}
	for _, want := range []string{"CapInh:\t0000000000000000", "CapPrm:\t00000000a80425fb", "CapEff:\t00000000a80425fb", "CapBnd:\t00000000a80425fb", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("no %q in the exec'd program's status:\n%s", want, out)
		}
	}
}

// nil changes nothing: the program has the sets a root exec gets from the
// test process.
func TestApplyNil(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ours...).Verify(t)
	self, _ := os.ReadFile("/proc/self/status")
	host := parseStatus(t, string(self), "")
	out, stderr, err := runApply(t, nil, "", true)
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr)
	}
	if got := parseStatus(t, out, ""); got.String() != host.String() {
		t.Errorf("nil capabilities changed the sets:\n got  %s\n host %s", got, host)
	}
	if stderr != "" {
		t.Errorf("nil capabilities narrated steps: %q", stderr)
	}
}

// Bad input: one line naming the field, and the thread as it was.
func TestApplyRefuses(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ours...).Verify(t)
	self, _ := os.ReadFile("/proc/self/status")
	host := parseStatus(t, string(self), "")
	for _, c := range []struct {
		caps *specs.LinuxCapabilities
		want string
	}{
		{&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_FOO"}},
			`process.capabilities.bounding[1]: unknown capability "CAP_FOO"`},
		{&specs.LinuxCapabilities{Effective: []string{"CAP_SYS_ADMIN"}, Permitted: []string{"CAP_CHOWN"}},
			"process.capabilities.effective: CAP_SYS_ADMIN not in permitted"},
		{&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}, Inheritable: []string{"CAP_KILL"}},
			"process.capabilities.inheritable: CAP_KILL not in the bounding set"},
	} {
		out, _, err := runApply(t, c.caps, "", false)
		if err == nil || !strings.Contains(out, "apply-error: "+c.want) {
			t.Errorf("%+v: %v, want %q in:\n%s", c.caps, err, c.want, out)
			continue
		}
		// The thread's sets are the ones a Go program of the test's starts with.
		if got := parseStatus(t, out, "thread "); got.String() != host.String() {
			t.Errorf("%+v: a refused Apply changed the thread:\n got  %s\n host %s", c.caps, got, host)
		}
	}
}

// -x shows each real call with its arguments.
func TestApplyNarrates(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ours...).Verify(t)
	self, _ := os.ReadFile("/proc/self/status")
	host := parseStatus(t, string(self), "")
	c := &specs.LinuxCapabilities{Bounding: DockerDefault, Effective: DockerDefault, Permitted: DockerDefault, Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}}
	if host["CapBnd"]&mask(t, DockerDefault...) != mask(t, DockerDefault...) {
		t.Skip("this test process lacks part of Docker's set in its own bounding set")
	}
	out, stderr, err := runApply(t, c, "", true)
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr)
	}
	drops := strings.Count(stderr, "prctl(PR_CAPBSET_DROP, ")
	if want := popcount(host["CapBnd"] &^ mask(t, DockerDefault...)); drops != want {
		t.Errorf("%d PR_CAPBSET_DROP calls narrated, want %d:\n%s", drops, want, stderr)
	}
	d := Set(mask(t, DockerDefault...)).String()
	for _, want := range []string{
		"prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN) = 0   [prctl(2)]\n",
		"capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=" + d + ", permitted=" + d + ", inheritable=CAP_KILL}) = 0   [capset(2)]\n",
		"prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) = 0   [prctl(2)]\n",
		"prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) = 0   [prctl(2)]\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in the narration:\n%s", want, stderr)
		}
	}
	// In the order the package comment gives: bounding, capset, ambient.
	if i, j, k := strings.LastIndex(stderr, "PR_CAPBSET_DROP"), strings.Index(stderr, "capset("), strings.Index(stderr, "PR_CAP_AMBIENT_CLEAR_ALL"); !(i < j && j < k) {
		t.Errorf("steps out of order:\n%s", stderr)
	}
}
