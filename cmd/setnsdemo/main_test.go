package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func runDemo(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	r := sidebyside.Exec(bin, args...)
	return r.Stdout, r.Stderr, r.Code
}

// The command run by setnsdemo is in the target's namespace, for each of
// the eight kinds, joined one at a time with -t PID --KIND, by file, and all
// at once with --all.
func TestJoinEachKind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns(2) needs root: run the tests with sudo")
	}
	bin := sidebyside.BuildGo(t, ".", "setnsdemo")
	target := startTarget(t) // killed by t.Cleanup, after the check
	defer hostcheck.Take(t, "sleep", "setnsdemo", "readlink").Verify(t)
	var all []string
	for _, k := range ns.Kinds {
		want, err := ns.Of(target, k)
		if err != nil {
			t.Fatal(err)
		}
		mine, _ := ns.Of(0, k)
		if want == mine {
			t.Fatalf("the target shares our %s namespace", k.Name)
		}
		flag := "--" + map[string]string{"mnt": "mount"}[k.Name]
		if flag == "--" {
			flag += k.Name
		}
		for _, args := range [][]string{
			{"-t", fmt.Sprint(target), flag, "readlink", "/proc/self/ns/" + k.Name},
			{ns.Path(target, k), "readlink", "/proc/self/ns/" + k.Name},
		} {
			out, errOut, code := runDemo(t, bin, args...)
			if code != 0 || strings.TrimSpace(out) != want.String() {
				t.Errorf("setnsdemo %q: %q %q exit %d; want %s", args, out, errOut, code, want)
			}
		}
		all = append(all, want.String())
	}
	script := `for k in user cgroup ipc uts net pid mnt time; do readlink /proc/self/ns/$k; done; hostname`
	out, errOut, code := runDemo(t, bin, "-t", fmt.Sprint(target), "--all", "sh", "-c", script)
	want := strings.Join(all, "\n") + "\nbizarro\n"
	if code != 0 || out != want {
		t.Errorf("--all printed %q (stderr %q, exit %d), want %q", out, errOut, code, want)
	}
}

func TestExitStatusThroughPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns(2) needs root: run the tests with sudo")
	}
	bin := sidebyside.BuildGo(t, ".", "setnsdemo")
	target := startTarget(t) // killed by t.Cleanup, after the check
	defer hostcheck.Take(t, "sleep", "setnsdemo", "readlink").Verify(t)
	for script, want := range map[string]int{"exit 3": 3, "kill -KILL $$": 137} {
		_, errOut, code := runDemo(t, bin, "-t", fmt.Sprint(target), "-p", "sh", "-c", script)
		if code != want {
			t.Errorf("%q: exit %d (stderr %q), want %d", script, code, errOut, want)
		}
	}
}

func TestErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns(2) needs root: run the tests with sudo")
	}
	bin := sidebyside.BuildGo(t, ".", "setnsdemo")
	defer hostcheck.Take(t, "setnsdemo").Verify(t)
	dead := deadPID(t)
	usage := bin + " /proc/PID/ns/FILE cmd args...\n"
	cases := []struct {
		args   []string
		stderr string
	}{
		{nil, usage},
		{[]string{"/proc/self/ns/uts"}, usage},
		{[]string{"-u", "hostname"}, bin + ": namespace options need -t PID\n" + usage},
		{[]string{"-t", "1", "hostname"}, bin + ": -t PID needs --all or a namespace option, and a command\n" + usage},
		{[]string{"-t", fmt.Sprint(dead), "--uts", "hostname"}, "setnsdemo: open: No such file or directory\n"},
		{[]string{"-t", fmt.Sprint(dead), "--all", "hostname"}, "setnsdemo: open: No such file or directory\n"},
		{[]string{fmt.Sprintf("/proc/%d/ns/user", dead), "id"}, "setnsdemo: open: No such file or directory\n"},
		{[]string{"/etc/passwd", "hostname"}, "setnsdemo: setns: Invalid argument\n"},
		// Our own user namespace: setns(2) refuses it (EINVAL), also from
		// the constructor.
		{[]string{"/proc/self/ns/user", "id"}, "setnsdemo: setns: Invalid argument\n"},
		{[]string{"/proc/self/ns/uts", "no-such-command-mctest"}, "setnsdemo: execvp: No such file or directory\n"},
	}
	for _, c := range cases {
		_, errOut, code := runDemo(t, bin, c.args...)
		if code != 1 || errOut != c.stderr {
			t.Errorf("setnsdemo %q: exit %d, stderr %q; want 1, %q", c.args, code, errOut, c.stderr)
		}
	}
}
