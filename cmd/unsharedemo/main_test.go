package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func runDemo(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	r := sidebyside.Exec(bin, args...)
	return r.Stdout, r.Stderr, r.Code
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare(2) needs root: run the tests with sudo")
	}
}

// procMounts lists the mounts on /proc, counting duplicates.
func procMounts(t *testing.T) []string {
	var out []string
	for _, m := range hostcheck.Mounts(t) {
		if strings.HasPrefix(m, "/proc ") {
			out = append(out, m)
		}
	}
	return out
}

func TestRuns(t *testing.T) {
	needRoot(t)
	bin := sidebyside.BuildGo(t, ".", "unsharedemo")
	defer hostcheck.Take(t, "unsharedemo", "proc").Verify(t)
	before := procMounts(t)
	host, _ := os.Hostname()
	cases := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"-p", "sh", "-c", "echo $$"}, "1\n", 0}, // PID 1 of the new namespace
		// ps pads the PID to the digits of pid_max as it reads it in
		// the new namespace: 5 columns on Debian 12's kernel (6.1),
		// 7 on this 6.18 one. The leading spaces are trimmed below.
		{[]string{"-pm", "--mount-proc", "ps", "-o", "pid=,comm="}, "1 ps\n", 0},
		{[]string{"-u", "sh", "-c", "hostname bizarro && hostname"}, "bizarro\n", 0},
		{[]string{"-r", "id", "-u"}, "0\n", 0},
		{[]string{"-U", "id", "-u"}, "65534\n", 0},
		{[]string{"-Um", "id", "-u"}, "65534\n", 0}, // mount(MS_PRIVATE) without a mapping
		{[]string{"-Um", "grep", "-E", "^Cap(Inh|Eff|Amb)", "/proc/self/status"}, // and no capability left
			"CapInh:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n", 0},
		{[]string{"-Upm", "--mount-proc", "sh", "-c", "echo $$"}, "1\n", 0}, // and a proc
		{[]string{"-rpm", "--mount-proc", "sh", "-c", "echo $$; id -u"}, "1\n0\n", 0},
		{[]string{"--no-fork", "-u", "sh", "-c", "hostname y && hostname"}, "y\n", 0},
		{[]string{"-u", "sh", "-c", "exit 3"}, "", 3},
		{[]string{"-p", "sh", "-c", "kill -KILL $$"}, "", 0}, // PID 1 cannot be killed from inside
		{[]string{"-u", "sh", "-c", "kill -KILL $$"}, "", 137},
	}
	for _, c := range cases {
		out, errOut, code := runDemo(t, bin, c.args...)
		out = strings.TrimLeft(out, " ")
		if out != c.want || code != c.code {
			t.Errorf("unsharedemo %q: %q (stderr %q) exit %d; want %q exit %d", c.args, out, errOut, code, c.want, c.code)
		}
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the host's hostname changed to %q", now)
	}
	if after := procMounts(t); !slices.Equal(before, after) {
		t.Errorf("mounts on /proc: before %q, after %q", before, after)
	}
}

// Under a shared / (as systemd makes it), a /proc mounted inside would
// propagate out unless the new mount namespace is made private first. The
// shared / here is a sandbox: a mount namespace of the test's own, made
// private from the host and then shared within itself.
func TestMountProcUnderSharedRoot(t *testing.T) {
	needRoot(t)
	bin := sidebyside.BuildGo(t, ".", "unsharedemo")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("util-linux unshare is needed for the sandbox")
	}
	defer hostcheck.Take(t, "unsharedemo", "proc").Verify(t)
	before := procMounts(t)
	script := `mount --make-rshared / || exit 1
findmnt -rno TARGET,FSTYPE,PROPAGATION / ; findmnt -rno TARGET,FSTYPE /proc | sort > before
"$1" -pm --mount-proc --propagation "$2" true || exit 1
findmnt -rno TARGET,FSTYPE /proc | sort > after
diff before after >/dev/null && echo unchanged || echo changed
`
	for propagation, want := range map[string]string{"private": "unchanged", "slave": "unchanged", "shared": "changed"} {
		dir := t.TempDir()
		cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", bin, propagation)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sandbox: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		// With "shared" the leaked proc (of a PID namespace now gone) even
		// hides the sandbox's own /proc: findmnt complains before "changed".
		if !strings.Contains(lines[0], "shared") || lines[len(lines)-1] != want {
			t.Errorf("--propagation %s in a shared sandbox: %q, want / shared and %s", propagation, out, want)
		}
	}
	if after := procMounts(t); !slices.Equal(before, after) {
		t.Errorf("host mounts on /proc: before %q, after %q", before, after)
	}
}

func TestErrors(t *testing.T) {
	needRoot(t)
	bin := sidebyside.BuildGo(t, ".", "unsharedemo")
	defer hostcheck.Take(t, "unsharedemo").Verify(t)
	usage := "Usage: " + bin + " [options] program [arg...]\n"
	cases := []struct {
		args   []string
		stderr string // prefix
	}{
		{nil, usage},
		{[]string{"-z", "true"}, bin + ": invalid option -- 'z'\n" + usage},
		{[]string{"--bogus", "true"}, bin + ": unrecognized option '--bogus'\n" + usage},
		{[]string{"--propagation", "bogus", "true"}, bin + ": --propagation must be one of"},
		{[]string{"-u", "no-such-command-mctest"}, "unsharedemo: execvp: No such file or directory\n"},
		{[]string{"--no-fork", "-U", "true"}, "unsharedemo: unshare: Invalid argument\n"},
		{[]string{"--no-fork", "-p", "true"}, "unsharedemo: fork: Cannot allocate memory\nunsharedemo: the new PID namespace has no init"},
	}
	for _, c := range cases {
		_, errOut, code := runDemo(t, bin, c.args...)
		if code != 1 || !strings.HasPrefix(errOut, c.stderr) {
			t.Errorf("unsharedemo %q: exit %d, stderr %q; want 1, %q...", c.args, code, errOut, c.stderr)
		}
	}
}
