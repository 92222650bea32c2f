package labs

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// Lab 12's program runs a command in a new user namespace where its
// caller is root, writing uid_map, setgroups and gid_map itself. The
// checker runs it as nobody (setpriv(1)), as a student without root
// would, and looks at what the command sees inside and leaves outside.
func init() {
	register(&lab{
		id: "12", dir: "12-userns", title: "root in a user namespace, without root",
		solutions: []string{"docs/labs/12-userns/solution"},
		skeletonFails: []string{"a new user namespace", "the caller is root inside", "gid 0 inside, setgroups denied",
			"-u: a hostname of its own", "root inside is the caller outside"},
		checks: []check{
			{"a new user namespace", "CLONE_NEWUSER in the Cloneflags (TODO 1): /proc/self/ns/user of the command must differ from the caller's",
				func(t *testing.T, p *prog) {
					own, err := os.Readlink("/proc/self/ns/user")
					if err != nil {
						t.Fatal(err)
					}
					r := asNobody(t, p, "./demo readlink /proc/self/ns/user")
					if got := strings.TrimSpace(r.Stdout); got == "" || got == own {
						t.Errorf("the command's user namespace is %q, the checker's %q: want a new one (exit %d: %s)", got, own, r.Code, firstLine(r.Stderr))
					}
				}},
			{"the caller is root inside", `"0 UID 1" written to /proc/PID/uid_map in one write (TODO 2), before the child goes on; without it the command is 65534`,
				func(t *testing.T, p *prog) { want12(t, asNobody(t, p, "./demo id -u"), "0") }},
			{"gid 0 inside, setgroups denied", `"deny" to /proc/PID/setgroups, then "0 GID 1" to /proc/PID/gid_map (TODO 3): the kernel refuses an unprivileged gid map otherwise`,
				func(t *testing.T, p *prog) {
					want12(t, asNobody(t, p, "./demo sh -c 'id -g; cat /proc/self/setgroups'"), "0\ndeny")
				}},
			{"-u: a hostname of its own", "with -u, CLONE_NEWUTS beside CLONE_NEWUSER (TODO 1): the UTS namespace is then owned by the new user namespace, where the command has CAP_SYS_ADMIN",
				func(t *testing.T, p *prog) {
					want12(t, asNobody(t, p, "./demo -u sh -c 'hostname lab12 && hostname'"), "lab12")
				}},
			{"root inside is the caller outside", "a file the command makes as root inside belongs to nobody (65534), the caller, outside: the uid map (TODO 2)",
				func(t *testing.T, p *prog) {
					dir := labDir12(t, p)
					f := filepath.Join(dir, "made-inside")
					os.Remove(f)
					want12(t, asNobody(t, p, "./demo sh -c 'echo hi > made-inside; stat -c %u made-inside'"), "0")
					var st syscall.Stat_t
					if err := syscall.Stat(f, &st); err != nil {
						t.Fatal(err)
					}
					if st.Uid != 65534 {
						t.Errorf("the file belongs to %d outside, want 65534 (nobody, the caller)", st.Uid)
					}
				}},
		},
	})
}

// labDir12 copies ./demo to a directory nobody may enter and write (go
// build's is root's, 0700), once per program.
func labDir12(t *testing.T, p *prog) string {
	return once(p, "dir12", func() string {
		dir, err := os.MkdirTemp("", "lab12-")
		if err != nil {
			t.Fatal(err)
		}
		p.cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o777)
		in, err := os.Open(filepath.Join(p.Dir, "demo"))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.OpenFile(filepath.Join(dir, "demo"), os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		out.Close()
		return dir
	})
}

// asNobody runs script as nobody in the program's directory.
func asNobody(t *testing.T, p *prog, script string) sidebyside.Result {
	t.Helper()
	return shell(t, labDir12(t, p), false, 0, "exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- sh -c \"$1\"", script)
}

func want12(t *testing.T, r sidebyside.Result, want string) {
	t.Helper()
	if got := strings.TrimSpace(r.Stdout); got != want {
		t.Errorf("the command printed %q, want %q (exit %d: %s)", got, want, r.Code, firstLine(r.Stderr))
	}
}
