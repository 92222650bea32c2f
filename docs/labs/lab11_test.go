package labs

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

// Lab 11's program enters a running process's namespaces, as exec does.
// The checker starts the target itself: a sleep as PID 1 of new UTS, IPC,
// network, PID and mount namespaces (nothing is mounted in the last: it
// only has to be another one), named "lab11-target".
func init() {
	register(&lab{
		id: "11", dir: "11-exec", title: "exec: run a command inside a running process's namespaces",
		solutions: []string{"docs/labs/11-exec/solution"},
		skeletonFails: []string{"joins the UTS, IPC and network namespaces", "the command is forked inside the PID namespace",
			"joins the mount namespace", "error: no such process"},
		checks: []check{
			{"usage", "with fewer than two arguments, print a usage line on stderr and exit 1",
				func(t *testing.T, p *prog) {
					r := sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: []string{"1"}})
					if r.Code != 1 || !strings.Contains(r.Stderr, "usage") {
						t.Errorf("./demo 1: exit %d, stderr %q; want 1 and a usage line", r.Code, r.Stderr)
					}
				}},
			{"joins the UTS, IPC and network namespaces", "open /proc/PID/ns/uts, ipc, net (TODO 1) and setns(2) into each (TODO 2) before the fork",
				func(t *testing.T, p *prog) {
					pid := target11(t, p)
					r := run11(t, p, pid, "sh", "-c", "hostname; readlink /proc/self/ns/ipc /proc/self/ns/net")
					want := fmt.Sprintf("lab11-target\n%s\n%s\n", nsLink(pid, "ipc"), nsLink(pid, "net"))
					if r.Code != 0 || r.Stdout != want {
						t.Errorf("the command printed %q (exit %d, stderr %q), want %q", r.Stdout, r.Code, r.Stderr, want)
					}
				}},
			{"the command is forked inside the PID namespace", "setns(fd, CLONE_NEWPID) changes the namespace of the caller's next children only (pid_for_children): join it before the fork, and the command is inside, with a PID of its own there",
				func(t *testing.T, p *prog) {
					pid := target11(t, p)
					r := run11(t, p, pid, "sh", "-c", "readlink /proc/self/ns/pid; grep NSpid /proc/self/status")
					l := lines(r.Stdout)
					if len(l) != 2 || l[0] != nsLink(pid, "pid") || len(strings.Fields(l[1])) != 3 {
						t.Errorf("the command printed %q (stderr %q): want the target's %s and an NSpid line with two numbers (the host's PID, and the one inside)", r.Stdout, r.Stderr, nsLink(pid, "pid"))
					}
				}},
			{"joins the mount namespace", "setns into mnt fails with EINVAL while the thread shares its root and cwd with Go's other threads: unix.Unshare(unix.CLONE_FS) first (TODO 2)",
				func(t *testing.T, p *prog) {
					pid := target11(t, p)
					r := run11(t, p, pid, "readlink", "/proc/self/ns/mnt")
					if strings.TrimSpace(r.Stdout) != nsLink(pid, "mnt") {
						t.Errorf("the command's mount namespace: %q (exit %d, stderr %q), want the target's %s", r.Stdout, r.Code, r.Stderr, nsLink(pid, "mnt"))
					}
				}},
			{"passes the exit status on", "wait for the command and exit with its status, as exec does",
				func(t *testing.T, p *prog) {
					pid := target11(t, p)
					if r := run11(t, p, pid, "sh", "-c", "exit 3"); r.Code != 3 {
						t.Errorf("./demo PID sh -c 'exit 3': exit %d (stderr %q), want 3", r.Code, r.Stderr)
					}
				}},
			{"error: no such process", "a PID that does not exist: /proc/PID/ns/uts cannot be opened; say so on stderr in one line and exit 1, without running the command",
				func(t *testing.T, p *prog) {
					r := sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: []string{"999999999", "echo", "ran"}})
					if r.Code != 1 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 {
						t.Errorf("./demo 999999999 echo ran: exit %d, stdout %q, stderr %q; want 1, nothing, one line", r.Code, r.Stdout, r.Stderr)
					}
				}},
		},
	})
}

func run11(t *testing.T, p *prog, pid int, args ...string) sidebyside.Result {
	t.Helper()
	return sidebyside.Run(t, p.Dir, p.C, sidebyside.Case{Args: append([]string{strconv.Itoa(pid)}, args...)})
}

// target11 starts, once per lab run, the process to enter.
func target11(t *testing.T, p *prog) int {
	pid := once(p, "target", func() int {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
		if err := cmd.Start(); err != nil {
			return 0
		}
		p.cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		exec.Command("nsenter", "--uts=/proc/"+fmt.Sprint(cmd.Process.Pid)+"/ns/uts", "hostname", "lab11-target").Run()
		return cmd.Process.Pid
	})
	if pid == 0 {
		t.Fatal("could not start a target process in new namespaces")
	}
	return pid
}
