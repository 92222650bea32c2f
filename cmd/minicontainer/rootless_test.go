package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/testuser"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// TestRootlessRun runs `minicontainer run` as an unprivileged user the
// test makes (useradd), with a range in /etc/subuid and /etc/subgid, and
// without one. The user builds its own rootfs under XDG_DATA_HOME, its
// state goes to /tmp/minicontainer-UID. Inside: root, its uid_map the
// user's id and range; outside: a file written to a volume is the user's,
// chown to 1000 works with a range (SubStart+999 on the host) and fails
// without; a host file only root may read stays unreadable through a
// volume. After the run nothing is left: the state root and the
// containers dir are empty, no mount, no process (hostcheck). A limit is
// refused in one line, exit 125. run -d, wait, logs and rm work, their
// log in the user's dir. And -it on a pseudo-terminal: a shell whose
// `id -u` is 0.
func TestRootlessRun(t *testing.T) {
	needRoot(t)
	if _, err := userns.Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	for _, sub := range []int{65536, 0} {
		t.Run(fmt.Sprintf("range %d", sub), func(t *testing.T) { rootlessRun(t, sub) })
	}
}

func rootlessRun(t *testing.T, sub int) {
	snap := hostcheck.Take(t, "mctest", "minicontainer", "process ", "account ")
	t.Cleanup(func() { snap.Verify(t) })
	u := testuser.Make(t, sub)
	bin := testuser.Executable(t, "minicontainer")
	stateRoot := fmt.Sprintf("/tmp/minicontainer-%d", u.UID)
	t.Cleanup(func() { os.RemoveAll(stateRoot) })
	home, err := os.MkdirTemp("", "mctest-rootless-run")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	vol, data, secret := filepath.Join(home, "vol"), filepath.Join(home, "data"), filepath.Join(home, "secret")
	for _, d := range []string{home, vol} {
		os.MkdirAll(d, 0o755)
		if err := os.Chown(d, u.UID, u.GID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := u.Command(bin, args...)
		cmd.Env = append(cmd.Env, "XDG_DATA_HOME="+data)
		return cmd
	}
	as := func(args ...string) result {
		t.Helper()
		cmd := command(args...)
		return outcome(t, cmd)
	}
	r := as("run", "-v", vol+":/vol", "-v", secret+":/secret:ro", "--",
		"sh", "-c", "id -u; cat /proc/self/uid_map; echo hi > /vol/mine; echo hi > /vol/chowned; chown 1000:1000 /vol/chowned && echo chowned; cat /secret || echo unreadable")
	if r.code != 0 {
		t.Fatalf("run as %s: exit %d: %s%s", u.Name, r.code, r.stdout, r.stderr)
	}
	maps := fmt.Sprintf("0 %d 1\n", u.UID)
	want, owners := "0\n"+maps+fmt.Sprintf("1 %d %d\n", u.SubStart, u.SubCount)+"chowned\nunreadable\n", map[string]int{"mine": u.UID, "chowned": u.SubStart + 999}
	if sub == 0 {
		want, owners = "0\n"+maps+"unreadable\n", map[string]int{"mine": u.UID, "chowned": u.UID}
		for _, w := range []string{"chown: /vol/chowned: Invalid argument", "has no range in /etc/subuid and /etc/subgid: only your own ids are mapped (0 inside), chown to any other id will fail"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr: %q, want %q", r.stderr, w)
			}
		}
	}
	if got := strings.Join(strings.Fields(r.stdout), " "); got != strings.Join(strings.Fields(want), " ") {
		t.Errorf("inside: %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "cat: can't open '/secret': Permission denied") {
		t.Errorf("stderr: %q, want cat's permission denied", r.stderr)
	}
	// The default network: slirp when the user can have it (TestSlirp),
	// else none, said in one line.
	noSlirp := slirpForUsers()
	if note := "minicontainer: rootless: no bridge network without root, and no --net slirp: "; noSlirp != nil && !strings.Contains(r.stderr, note) || noSlirp == nil && strings.Contains(r.stderr, "no bridge") {
		t.Errorf("stderr: %q, want the note on the network only when slirp4netns cannot run (%v)", r.stderr, noSlirp)
	}
	for name, want := range owners {
		st, err := os.Stat(filepath.Join(vol, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := int(st.Sys().(*syscall.Stat_t).Uid); got != want {
			t.Errorf("/vol/%s belongs to %d on the host, want %d", name, got, want)
		}
	}
	leftovers := func(when string) {
		t.Helper()
		for _, d := range []string{stateRoot, filepath.Join(data, "minicontainer", "containers")} {
			if entries, err := os.ReadDir(d); err != nil || len(entries) != 0 {
				t.Errorf("%s after %s: %v, %v; want it empty", d, when, entries, err)
			}
		}
	}
	leftovers("the run")
	// The rootfs is the built-in image in the user's store, its layer
	// unpacked once: its files are the user's own.
	layers, _ := filepath.Glob(filepath.Join(data, "minicontainer", "images", "layers", "sha256", "*", "bin", "busybox"))
	if len(layers) != 1 {
		t.Fatalf("the user's store has %d built-in layers, want 1: %v", len(layers), layers)
	}
	st, err := os.Stat(layers[0])
	if err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != u.UID {
		t.Errorf("the user's rootfs: %v, %v; want a busybox of uid %d", st, err, u.UID)
	}
	if r := as("images"); r.code != 0 || !strings.Contains(r.stdout, "busybox:builtin ") {
		t.Errorf("images as %s: exit %d, %q, %q; want the built-in image", u.Name, r.code, r.stdout, r.stderr)
	}
	// --net host, and a write inside that a disk upper dir would have
	// left as a subordinate id's file the user cannot remove.
	if r := as("run", "--net", "host", "--", "sh", "-c", "mkdir -p /home/q && chown 1000 /home/q; touch /home/q/z; cat /proc/net/dev | grep -c lo"); r.code != 0 || strings.TrimSpace(r.stdout) != "1" || strings.Contains(r.stderr, "no bridge") {
		t.Errorf("run --net host: exit %d, %q, %q; want the host's lo and no note", r.code, r.stdout, r.stderr)
	}
	leftovers("run --net host")

	refused := []struct{ flag, value, want string }{
		{"--memory", "64m", "minicontainer: rootless: the memory limit needs a cgroup v2 subtree delegated to you, and your cgroup "},
		{"--subnet", "10.9.0.0/16", "minicontainer: rootless: --subnet needs the bridge network, which needs root"},
	}
	if noSlirp != nil {
		refused = append(refused, struct{ flag, value, want string }{"-p", "8080:80", "minicontainer: rootless: -p needs --net slirp without root, and "})
	}
	for _, c := range refused {
		if r := as("run", c.flag, c.value, "--", "true"); r.code != 125 || !strings.HasPrefix(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("run %s %s: exit %d, %q; want 125 and one line starting %q", c.flag, c.value, r.code, r.stderr, c.want)
		}
		leftovers("run " + c.flag)
	}

	// run -d: the monitor keeps the log in the user's containers dir.
	// XDG_RUNTIME_DIR unset: the state root is /tmp/minicontainer-UID.
	d := as("run", "-d", "--", "sh", "-c", "echo detached; exit 4")
	id := strings.TrimSpace(d.stdout)
	if d.code != 0 || id == "" {
		t.Fatalf("run -d: exit %d, %q, %q", d.code, d.stdout, d.stderr)
	}
	if w := as("wait", id); strings.TrimSpace(w.stdout) != "4" {
		t.Errorf("wait %s: %q %q, want 4", id, w.stdout, w.stderr)
	}
	if l := as("logs", id); !strings.Contains(l.stdout, "detached") {
		t.Errorf("logs %s: %q %q", id, l.stdout, l.stderr)
	}
	if r := as("rm", id); r.code != 0 {
		t.Errorf("rm %s: exit %d, %q", id, r.code, r.stderr)
	}
	leftovers("run -d and rm")

	// -it on a pseudo-terminal, as the user.
	cmd := command("run", "-it", "--", "/bin/sh")
	master, out, copied := startOnTerminal(t, cmd)
	defer master.Close()
	fmt.Fprint(master, "tty; echo uid''$(id -u); exit 3\n")
	finishOnTerminal(t, cmd, master, out, 3, "rootless -it shell")
	master.Close()
	<-copied
	for _, w := range []string{"/dev/pts/0", "uid0"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("-it output lacks %q:\n%s", w, out.String())
		}
	}
	leftovers("-it")
}
