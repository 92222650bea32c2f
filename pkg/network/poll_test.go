package network

import (
	"errors"
	"testing"
	"time"
)

// TestPoll: poll stops at the first true, at the first error, or with
// errNotReady once its time is up, and counts its looks.
func TestPoll(t *testing.T) {
	n := 0
	looks, _, err := poll(time.Second, func() (bool, error) { n++; return n == 3, nil })
	if err != nil || looks != 3 {
		t.Errorf("ready at the third look: %d looks, %v", looks, err)
	}
	boom := errors.New("boom")
	if looks, _, err := poll(time.Second, func() (bool, error) { return false, boom }); err != boom || looks != 1 {
		t.Errorf("an error at the first look: %d looks, %v", looks, err)
	}
	start := time.Now()
	looks, _, err = poll(20*time.Millisecond, func() (bool, error) { return false, nil })
	// The upper bound is 45 times the timeout: a loaded machine's
	// sleeps overrun, a missed deadline runs on.
	if took := time.Since(start); !errors.Is(err, errNotReady) || looks < 2 || took < 20*time.Millisecond || took > 900*time.Millisecond {
		t.Errorf("never ready: %d looks, %v after %v; want errNotReady after 20ms", looks, err, took)
	}
}
