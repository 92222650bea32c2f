package timing

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A nil timer does nothing and prints nothing.
func TestNil(t *testing.T) {
	var tm *Timer
	tm.Mark("x")
	tm.Add(Phase{Name: "y"})
	var b bytes.Buffer
	tm.Print(&b)
	if tm.Phases() != nil || tm.Env() != nil || tm.LastUnix() != 0 || b.Len() != 0 {
		t.Errorf("a nil timer recorded or printed something: %v %v %q", tm.Phases(), tm.Env(), b.String())
	}
	t.Setenv(EnvVar, "")
	if FromEnv("p") != nil {
		t.Error("FromEnv without the variable: a timer")
	}
}

// Phases follow each other: each starts where the one before ended, its
// CPU time grows with work done in it, and the table lists them all.
func TestMarks(t *testing.T) {
	t.Setenv(EnvVar, "1")
	tm := FromEnv("p")
	if tm == nil {
		t.Fatal("FromEnv with the variable: no timer")
	}
	busy := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	busy(10 * time.Millisecond)
	tm.Mark("one")
	time.Sleep(10 * time.Millisecond)
	tm.Mark("two")
	tm.Add(Phase{Name: "other", Process: "q", Start: tm.began.UnixNano() + 1, Wall: time.Millisecond, CPU: Unmeasured})
	ps := tm.Phases()
	if len(ps) != 4 || ps[0].Name != "before main" || ps[0].Wall != Unmeasured || ps[0].CPU <= 0 {
		t.Fatalf("phases: %+v", ps)
	}
	// Starts are Unix times on the monotonic clock: each phase starts
	// exactly where the one before ended, however the wall clock moves.
	one, two := ps[1], ps[2]
	if one.Start != tm.began.UnixNano() || two.Start != one.Start+int64(one.Wall) || tm.LastUnix() != two.Start+int64(two.Wall) {
		t.Errorf("the phases do not follow each other: %+v %+v", one, two)
	}
	if one.Wall < 10*time.Millisecond || two.Wall < 10*time.Millisecond {
		t.Errorf("wall times too short: %v, %v", one.Wall, two.Wall)
	}
	// Spinning costs CPU time, sleeping hardly any (getrusage's clock
	// is the scheduler's: nanoseconds, reported in microseconds).
	if one.CPU < time.Millisecond || two.CPU >= one.CPU {
		t.Errorf("CPU times: spinning %v, sleeping %v", one.CPU, two.CPU)
	}
	var b bytes.Buffer
	tm.Print(&b)
	out := b.String()
	for _, want := range []string{"phase ", "\nbefore main ", "\none ", "\ntwo ", "\nother ", "\ntotal ", "not measured"} {
		if !strings.Contains(out, want) {
			t.Errorf("table without %q:\n%s", want, out)
		}
	}
	// Sorted by start: "other" began just after the first mark.
	if strings.Index(out, "\nother ") > strings.Index(out, "\ntwo ") {
		t.Errorf("rows not in start order:\n%s", out)
	}
}
