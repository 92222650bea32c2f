package labs

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func init() {
	register(&lab{
		id: "03", dir: "03-setns", title: "setns(2): run a program in another process's namespace",
		solutions:     []string{"cmd/setnsdemo", "man:setns.2:setns.c"},
		skeletonFails: []string{"joins a UTS namespace", "joins a network namespace", "error: no such file", "error: not a namespace file"},
		manPage:       "setns.2", manFile: "setns.c",
		checks: []check{
			{"usage", "with fewer than two arguments, print `./demo /proc/PID/ns/FILE cmd args...` on stderr and exit 1, as setns.c does",
				func(t *testing.T, p *prog) {
					sameAsC(t, p, sidebyside.Case{Name: "usage"})
					sameAsC(t, p, sidebyside.Case{Name: "usage with one argument", Args: []string{"/proc/self/ns/uts"}})
				}},
			{"joins a UTS namespace", "open argv[1] (TODO 1) and pass the descriptor to setns(2) (TODO 2) before execvp",
				func(t *testing.T, p *prog) {
					pid := target03(t, p)
					r := sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: []string{fmt.Sprintf("/proc/%d/ns/uts", pid), "hostname"}})
					if r.Code != 0 || strings.TrimSpace(r.Stdout) != "target-ns" {
						t.Errorf("./demo /proc/%d/ns/uts hostname: exit %d, printed %q (stderr %q); the target's hostname is target-ns", pid, r.Code, r.Stdout, r.Stderr)
					}
				}},
			{"joins a network namespace", "setns(fd, 0) joins whatever kind of namespace fd is; a fixed CLONE_NEWUTS there refuses the others",
				func(t *testing.T, p *prog) {
					pid := target03(t, p)
					r := sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: []string{fmt.Sprintf("/proc/%d/ns/net", pid), "readlink", "/proc/self/ns/net"}})
					if want := nsLink(pid, "net"); strings.TrimSpace(r.Stdout) != want {
						t.Errorf("the command's network namespace: %q (stderr %q), want the target's %s", r.Stdout, r.Stderr, want)
					}
				}},
			{"passes the command its arguments", "execvp(argv[2], &argv[2]): the command is argv[2], and its argv starts there too",
				func(t *testing.T, p *prog) {
					pid := target03(t, p)
					r := sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: []string{fmt.Sprintf("/proc/%d/ns/uts", pid), "sh", "-c", `echo "$1,$2"; exit 3`, "sh", "one", "two"}})
					if r.Stdout != "one,two\n" || r.Code != 3 {
						t.Errorf("printed %q and exited %d, want %q and 3 (stderr %q)", r.Stdout, r.Code, "one,two\n", r.Stderr)
					}
				}},
			{"error: no such file", "check open's result: err(EXIT_FAILURE, \"open\") prints `./demo: open: No such file or directory` and exits 1",
				func(t *testing.T, p *prog) {
					sameAsC(t, p, sidebyside.Case{Args: []string{"/proc/self/ns/no-such-namespace", "hostname"}})
				}},
			{"error: not a namespace file", "check setns's result: a file that is not a namespace gives EINVAL, `./demo: setns: Invalid argument`, exit 1",
				func(t *testing.T, p *prog) {
					sameAsC(t, p, sidebyside.Case{Args: []string{"/etc/hostname", "hostname"}})
				}},
			{"the command inherits no namespace descriptor", "open the namespace file with O_CLOEXEC: the command should have only 0, 1 and 2 open",
				func(t *testing.T, p *prog) {
					pid := target03(t, p)
					sameAsC(t, p, sidebyside.Case{Args: []string{fmt.Sprintf("/proc/%d/ns/uts", pid), "sh", "-c", "ls /proc/$$/fd; true"}})
				}},
		},
	})
}

// target03 starts, once per lab run, a process in new UTS, network and IPC
// namespaces whose hostname is "target-ns", for the program to join.
func target03(t *testing.T, p *prog) int {
	pid := once(p, "target", func() int {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC}
		if err := cmd.Start(); err != nil {
			return 0
		}
		p.cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// Named from outside by nsenter(1): a setns(2) from this test would
		// move one of its threads (see cmd/setnsdemo's tests).
		exec.Command("nsenter", "--uts=/proc/"+fmt.Sprint(cmd.Process.Pid)+"/ns/uts", "hostname", "target-ns").Run()
		return cmd.Process.Pid
	})
	if pid == 0 {
		t.Fatal("could not start a target process in new namespaces")
	}
	return pid
}
