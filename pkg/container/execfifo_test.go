package container

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartFindsTheByteOfAnInitThatEnded: start's first read of the exec
// fifo comes before the init opened it (end of file); by the time start
// looks, the init has written its byte, exec'd a short process and that
// has exited. start must see the byte (the container did start), not
// answer "cannot start a container that has stopped". make test-repeat
// met this once, in runtime-tools' linux_masked_paths. And an init that
// died without its byte is still stopped.
func TestStartFindsTheByteOfAnInitThatEnded(t *testing.T) {
	gone := endedPid(t)
	for _, c := range []struct {
		name  string
		write bool
		want  error
	}{{"wrote its byte", true, nil}, {"died before", false, errStopped}} {
		t.Run(c.name, func(t *testing.T) {
			s := &State{Root: t.TempDir(), ID: "fifo", Pid: gone, PidStart: 1}
			if err := os.Mkdir(s.Dir(), 0o700); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(s.Dir(), execFifo)
			if err := unix.Mkfifo(fifo, 0o622); err != nil {
				t.Fatal(err)
			}
			defer func() { fifoRaced = func() {} }()
			fifoRaced = func() {
				if !c.write {
					return
				}
				// the init's part: open (start holds the read end), write, close
				w, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0)
				if err != nil {
					t.Fatal(err)
				}
				unix.Write(w, []byte("0"))
				unix.Close(w)
			}
			if err := openExecFifo(s, nil); !errors.Is(err, c.want) {
				t.Fatalf("openExecFifo: %v, want %v", err, c.want)
			}
			if _, err := os.Stat(fifo); c.write && err == nil {
				t.Error("the fifo is still there after a start")
			}
		})
	}
}

// endedPid is the pid of a process that has ended and been waited for:
// what a state records for an init or a monitor that is gone.
func endedPid(t *testing.T) int {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	return gone.Process.Pid
}
