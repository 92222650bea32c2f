package proc

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSelfIsAlive(t *testing.T) {
	start := StartTime(os.Getpid())
	if start == 0 {
		t.Fatal("no start time for this process")
	}
	if !Alive(os.Getpid(), start) {
		t.Error("this process is not alive")
	}
	if Alive(os.Getpid(), start+1) {
		t.Error("a different start time (a reused PID) counts as alive")
	}
	if Alive(0, start) || StartTime(-1) != 0 {
		t.Error("PID 0 or -1 counts as a process")
	}
}

func TestZombieAndReapedAreGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := StartTime(pid)
	// Wait until it has exited but leave it unreaped (WNOWAIT, see
	// waitid(2)): it is a zombie now, which must count as gone.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if StartTime(pid) != start {
		t.Fatal("the zombie lost its start time: the test shows nothing")
	}
	if Alive(pid, start) {
		t.Error("an exited, unreaped child (a zombie) counts as alive")
	}
	cmd.Wait()
	if Alive(pid, start) {
		t.Error("a reaped child counts as alive")
	}
}
