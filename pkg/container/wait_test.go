package container

import (
	"os"
	"testing"
	"time"
)

// TestWaitReadsTheCodeOfAMonitorThatEnded: Wait read the state before the
// monitor recorded the exit code, and found the monitor gone after it had
// recorded it and exited. That is a container that exited with its code,
// not one whose monitor was killed (lesson 11's `wait once` in run 4 of
// a make test-repeat). The hook plays the monitor between the two reads.
func TestWaitReadsTheCodeOfAMonitorThatEnded(t *testing.T) {
	gone := endedPid(t)
	for _, c := range []struct {
		name   string
		record bool
	}{{"recorded its code", true}, {"killed", false}} {
		t.Run(c.name, func(t *testing.T) {
			s := &State{Root: t.TempDir(), ID: "0123456789ab", Runtime: gone, RuntimeStart: 1, Pid: gone, PidStart: 1, Detached: true}
			if err := os.Mkdir(s.Dir(), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := s.save(); err != nil {
				t.Fatal(err)
			}
			defer func() { waitRaced = func() {} }()
			waitRaced = func() {
				if !c.record {
					return
				}
				s.Finished, s.ExitCode = time.Now(), 3
				if err := s.save(); err != nil {
					t.Fatal(err)
				}
			}
			code, err := Wait(s.Root, s.ID)
			if c.record && (err != nil || code != 3) {
				t.Errorf("Wait: %d, %v; want 3, the code the monitor recorded", code, err)
			}
			if !c.record && err == nil {
				t.Errorf("Wait: %d, nil; want an error: the monitor ended without recording a code", code)
			}
		})
	}
}
