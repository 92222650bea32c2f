// Package timing measures the phases of one container start: for each,
// its wall time (time.Now, monotonic within a process) and the CPU time
// its process spent in it (getrusage(2) RUSAGE_SELF, user plus system,
// every thread of the process). `minicontainer run --timing` prints them
// as a table (docs/performance.md, "A start-up budget: run --timing").
//
// A phase ends at Mark and began at the mark before it, so one process's
// phases follow each other with no gap. A nil *Timer is valid and does
// nothing, not even a system call: callers mark their steps
// unconditionally, as they narrate them with a nil *explain.Narrator.
//
// Phases measured in another process (the container's init) travel as
// Phase values: their Start is Unix time in nanoseconds, which the
// processes of one machine share (the monotonic clock Go keeps is
// relative to each process's own start).
package timing

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"
)

// EnvVar carries --timing to the re-executed init, as explain.EnvVar
// carries -x; set only when timing is on.
const EnvVar = "MINICONTAINER_TIMING"

// Unmeasured is the value of a Phase's Wall or CPU that was not measured.
const Unmeasured time.Duration = -1

// Phase is one measured step of one process.
type Phase struct {
	Name    string        `json:"name"`
	Process string        `json:"process"`
	Start   int64         `json:"start"` // Unix ns; 0: before the process's first mark
	Wall    time.Duration `json:"wall"`  // or Unmeasured
	CPU     time.Duration `json:"cpu"`   // or Unmeasured
}

// Timer records the phases of one process, and those others send it.
type Timer struct {
	process string
	began   time.Time // the first mark
	last    time.Time
	lastCPU time.Duration
	phases  []Phase
}

// Start returns a timer whose first phase begins now. Its first row,
// "before main", is the CPU time the process used before this call (the
// Go runtime's start-up and package initialisation when called first
// thing in main), with its wall time Unmeasured: the kernel keeps a
// process's start time in clock ticks only (proc(5), starttime).
func Start(process string) *Timer {
	now, cpu := time.Now(), CPUTime()
	return &Timer{process: process, began: now, last: now, lastCPU: cpu,
		phases: []Phase{{Name: "before main", Process: process, Start: 0, Wall: Unmeasured, CPU: cpu}}}
}

// FromEnv is Start when EnvVar is "1", else nil.
func FromEnv(process string) *Timer {
	if os.Getenv(EnvVar) != "1" {
		return nil
	}
	return Start(process)
}

// Env returns the environment entries that turn timing on in a child:
// none when t is nil.
func (t *Timer) Env() []string {
	if t == nil {
		return nil
	}
	return []string{EnvVar + "=1"}
}

// Mark ends the phase name, begun at the previous mark.
func (t *Timer) Mark(name string) {
	if t == nil {
		return
	}
	now, cpu := time.Now(), CPUTime()
	t.phases = append(t.phases, Phase{Name: name, Process: t.process, Start: t.unix(t.last),
		Wall: now.Sub(t.last), CPU: cpu - t.lastCPU})
	t.last, t.lastCPU = now, cpu
}

// unix is tm in Unix nanoseconds on this timer's clock: the wall clock
// read once, at the first mark, and the monotonic clock since. Read
// again at each mark, the wall clock would not match the monotonic wall
// times (NTP slews it, a VM's is stepped: the pure-v2 VM's drifted 5 µs in
// 2 ms), and one phase would not start where the one before ended.
func (t *Timer) unix(tm time.Time) int64 {
	return t.began.UnixNano() + int64(tm.Sub(t.began))
}

// LastUnix is the time of the latest mark, in Unix nanoseconds (0 for a
// nil timer).
func (t *Timer) LastUnix() int64 {
	if t == nil {
		return 0
	}
	return t.unix(t.last)
}

// Add records phases measured elsewhere (another process's).
func (t *Timer) Add(p ...Phase) {
	if t == nil {
		return
	}
	t.phases = append(t.phases, p...)
}

// Phases returns the phases recorded so far, in the order recorded.
func (t *Timer) Phases() []Phase {
	if t == nil {
		return nil
	}
	return slices.Clone(t.phases)
}

// Print writes the table: the phases by start time (this process's
// "before main" first), each with its start relative to the first mark,
// its wall and CPU time in ms, and its process; then the total: the wall
// time from the first mark to the last, and the sum of the CPU times.
// "-" is a time not measured.
func (t *Timer) Print(w io.Writer) {
	if t == nil {
		return
	}
	rows := t.Phases()
	slices.SortStableFunc(rows, func(a, b Phase) int { return cmp.Compare(a.Start, b.Start) })
	ms := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
	}
	var cpu time.Duration
	unmeasured := false
	fmt.Fprintf(w, "%-18s %9s %9s %9s  %s\n", "phase", "start ms", "wall ms", "CPU ms", "process")
	for _, p := range rows {
		start := "-"
		if p.Start != 0 {
			start = ms(time.Duration(p.Start - t.began.UnixNano()))
		}
		if p.CPU > 0 {
			cpu += p.CPU
		}
		unmeasured = unmeasured || p.Wall < 0 || p.CPU < 0
		fmt.Fprintf(w, "%-18s %9s %9s %9s  %s\n", p.Name, start, ms(p.Wall), ms(p.CPU), p.Process)
	}
	fmt.Fprintf(w, "%-18s %9s %9s %9s\n", "total", "", ms(t.last.Sub(t.began)), ms(cpu))
	if unmeasured {
		fmt.Fprintln(w, "(- : not measured; a process's start time is kept in clock ticks)")
	}
}

// CPUTime is the CPU time the calling process has used: user plus system,
// all its threads (getrusage(2), RUSAGE_SELF).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return Rusage(&ru)
}

// Rusage is the user plus system time of ru.
// (os.ProcessState.SysUsage of a waited-for child).
func Rusage(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
