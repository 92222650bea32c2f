package labs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Lab 10's program confines itself and execs a command: the checker runs
// it as root with busybox as the command and reads what the kernel says
// of the command in /proc/self/status, and what its system calls return.
// Nothing outside the program's own process changes (a directory the
// filter should refuse is made under the checker's temporary directory).
func init() {
	register(&lab{
		id: "10", dir: "10-confinement", title: "keep a few capabilities, no_new_privs, a seccomp filter, then execve",
		solutions: []string{"docs/labs/10-confinement/solution"},
		skeletonFails: []string{"the bounding set holds only the kept capabilities", "root holds only them after execve",
			"no_new_privs with -nnp, and only then", "-deny: the filter answers EPERM", "the filter loads without -nnp too"},
		checks: []check{
			{"the bounding set holds only the kept capabilities", "TODO 1: one prctl(PR_CAPBSET_DROP, N) for every N from 0 to the kernel's last capability that is not kept, before capset (it needs CAP_SETPCAP)",
				func(t *testing.T, p *prog) {
					want10(t, run10(t, p, "-keep", "CAP_CHOWN,CAP_NET_RAW", "busybox", "grep", "^CapBnd:", "/proc/self/status"), "CapBnd:\t0000000000002001")
				}},
			{"root holds only them after execve", "the skeleton's capset is undone by execve for uid 0: the permitted set is rebuilt from the bounding set (capabilities(7)); TODO 1 is the fix",
				func(t *testing.T, p *prog) {
					r := run10(t, p, "-keep", "CAP_CHOWN,CAP_NET_RAW", "busybox", "grep", "-E", "^Cap(Prm|Eff):", "/proc/self/status")
					want10(t, r, "CapPrm:\t0000000000002001\nCapEff:\t0000000000002001")
				}},
			{"no_new_privs with -nnp, and only then", "TODO 2: prctl(PR_SET_NO_NEW_PRIVS, 1) when -nnp is given",
				func(t *testing.T, p *prog) {
					want10(t, run10(t, p, "-nnp", "busybox", "grep", "^NoNewPrivs:", "/proc/self/status"), "NoNewPrivs:\t1")
					want10(t, run10(t, p, "busybox", "grep", "^NoNewPrivs:", "/proc/self/status"), "NoNewPrivs:\t0")
				}},
			{"-deny: the filter answers EPERM", "TODO 3: a filter that checks seccomp_data.arch, loads .nr, and returns SECCOMP_RET_ERRNO|EPERM for each denied number, SECCOMP_RET_ALLOW for the rest",
				func(t *testing.T, p *prog) {
					dir := filepath.Join(t.TempDir(), "refused")
					r := run10(t, p, "-nnp", "-deny", "mkdir,mkdirat", "busybox", "sh", "-c", `grep ^Seccomp: /proc/self/status; mkdir "$0"`, dir)
					if !strings.Contains(r.out, "Seccomp:\t2") {
						t.Errorf("no filter on the command: %s", firstLine(r.out))
					}
					if r.code == 0 || !strings.Contains(r.out, "Operation not permitted") {
						t.Errorf("mkdir under -deny mkdir,mkdirat: exit %d, %q; want EPERM", r.code, r.out)
					}
					if _, err := os.Stat(dir); err == nil {
						t.Errorf("mkdir made %s", dir)
					}
				}},
			{"the filter loads without -nnp too", "without no_new_privs the kernel takes a filter only from a thread with CAP_SYS_ADMIN (seccomp(2)): load it before capset drops it",
				func(t *testing.T, p *prog) {
					want10(t, run10(t, p, "-keep", "CAP_CHOWN", "-deny", "uname", "busybox", "grep", "^Seccomp:", "/proc/self/status"), "Seccomp:\t2")
				}},
			{"the command gets its arguments and its exit status", "exec the command with all its arguments (syscall.Exec(path, args, env)): the process becomes it",
				func(t *testing.T, p *prog) {
					r := run10(t, p, "busybox", "sh", "-c", `echo "$#:$1|$2"; exit 3`, "x", "one", "two words")
					if r.code != 3 || strings.TrimSpace(r.out) != "2:one|two words" {
						t.Errorf("exit %d, output %q; want 3 and 2:one|two words", r.code, r.out)
					}
				}},
		},
	})
}

type run10Result struct {
	out  string // stdout and stderr
	code int
}

// run10 runs ./demo ARGS with a deadline.
func run10(t *testing.T, p *prog, args ...string) run10Result {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Fatal("busybox is not installed (make test-deps installs busybox-static)")
	}
	cmd := exec.Command(filepath.Join(p.Dir, "demo"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("demo %q did not finish in 20 s", args)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return run10Result{out.String(), code}
}

// want10 fails unless the command exited 0 and printed want.
func want10(t *testing.T, r run10Result, want string) {
	t.Helper()
	if r.code != 0 || strings.TrimSpace(r.out) != want {
		t.Errorf("exit %d, output %q; want 0 and %q", r.code, r.out, want)
	}
}
