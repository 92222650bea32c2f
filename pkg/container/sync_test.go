package container

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyncMessageLargerThanAPacket: a config near ARG_MAX (2 MiB) crosses
// the sync socket whole, in packets; one over maxMessage is refused with
// an error, never cut short. The receiver reads concurrently, as the
// init does (one packet fills much of the socket's buffer).
func TestSyncMessageLargerThanAPacket(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	// A message with a command and an environment, as an init's is.
	type initConfig struct {
		Command []string `json:"command"`
		Env     []string `json:"env"`
	}
	want := initConfig{Command: []string{"sh", strings.Repeat("a", 1<<20)}, Env: []string{"BIG=" + strings.Repeat("b", 1<<20)}}
	got := make(chan initConfig, 1)
	errs := make(chan error, 1)
	go func() {
		var ic initConfig
		_, eof, err := receive(pair[1], &ic)
		if eof {
			err = errors.New("end of file before the message")
		}
		errs <- err
		got <- ic
	}()
	n, err := send(pair[0], want)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("receive: %v", err)
	}
	ic := <-got
	if len(ic.Command) != 2 || ic.Command[1] != want.Command[1] || len(ic.Env) != 1 || ic.Env[0] != want.Env[0] {
		t.Fatalf("the config arrived changed (%d bytes sent)", n)
	}
	if n <= packetSize {
		t.Fatalf("sent %d bytes: the test is no larger than one packet", n)
	}

	huge := initConfig{Command: []string{strings.Repeat("c", maxMessage)}}
	if _, err := send(pair[0], huge); err == nil {
		t.Errorf("a message over %d bytes was sent", maxMessage)
	}
}

// TestRuntimeFailure: the one line taken from a Go runtime's crash report.
func TestRuntimeFailure(t *testing.T) {
	for report, want := range map[string]string{
		"runtime: failed to create new OS thread (have 2 already; errno=11)\nfatal error: newosproc\n\ngoroutine 1 [running]:\n": "fatal error: newosproc",
		"runtime/cgo: pthread_create failed: Resource temporarily unavailable\nSIGABRT: abort\nPC=0x7f3d\n":                      "runtime/cgo: pthread_create failed: Resource temporarily unavailable",
		"panic: boom\n\ngoroutine 1 [running]:\n": "panic: boom",
		"": "",
	} {
		if got := runtimeFailure(report); got != want {
			t.Errorf("runtimeFailure(%q) = %q, want %q", report, got, want)
		}
	}
}
