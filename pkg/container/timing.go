package container

import (
	"syscall"
	"time"

	"github.com/minicontainer/minicontainer/pkg/timing"
)

// run --timing: the parent marks its phases in Config.Timing as Run takes
// them, and the init, told by timing.EnvVar (as -x by explain.EnvVar),
// marks its own and sends them in one "timing" message, its last before
// the exec (sync.go). Two rows only the parent can measure finish the
// init's part: its Go start-up's wall time, and its exec's.

// initTimes records the init's phases. Its "before main" (the Go
// runtime's start-up and package initialisation, with its CPU time as
// the init measured it) gets its wall time here: from clone's return in
// the parent, once the init's execve(2) is done (os/exec waits for that),
// to the init's first mark, both in Unix time.
func (c *Container) initTimes(phases []timing.Phase) {
	t := c.Config.Timing
	if t == nil || len(phases) < 2 {
		return
	}
	for _, p := range t.Phases() {
		if p.Name == "clone" && p.Process == "minicontainer" && phases[0].Wall == timing.Unmeasured {
			cloned := p.Start + int64(p.Wall)
			phases[0].Start, phases[0].Wall = cloned, time.Duration(phases[1].Start-cloned)
		}
	}
	c.initPhases = phases
	t.Add(phases...)
}

// timeExec adds the init's last row once PID 1 has been waited for:
// "exec", from the init's last mark to eof (the parent's end of file on
// the sync socket: its execve(2) is done), and as CPU time what wait4(2)
// reports for the process less what the init measured, which is the
// execve and the command's own (negligible for /bin/true, and the
// command's children's that it waited for).
func (c *Container) timeExec(eof int64) {
	t, phases := c.Config.Timing, c.initPhases
	if t == nil || len(phases) == 0 {
		return
	}
	last := phases[len(phases)-1]
	end := last.Start + int64(last.Wall)
	var cpu time.Duration
	for _, p := range phases {
		cpu += p.CPU
	}
	exec := timing.Phase{Name: "exec", Process: "init", Start: end, Wall: time.Duration(eof - end), CPU: timing.Unmeasured}
	if st := c.initCmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			exec.CPU = timing.Rusage(ru) - cpu
		}
	}
	t.Add(exec)
}
