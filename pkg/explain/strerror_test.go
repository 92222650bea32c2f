package explain

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStrerror(t *testing.T) {
	cases := map[error]string{
		unix.EPERM:  "Operation not permitted",
		unix.ENOMEM: "Cannot allocate memory",
		&os.PathError{Op: "open", Path: "/x", Err: unix.ENOENT}: "No such file or directory",
		fmt.Errorf("setns: %w", unix.EINVAL):                    "Invalid argument",
		errors.New("plain"):                                     "plain",
	}
	for err, want := range cases {
		if got := Strerror(err); got != want {
			t.Errorf("Strerror(%v) = %q, want %q", err, got, want)
		}
	}
	if got := Result(nil, unix.EPERM); got != "-1 EPERM (Operation not permitted)" {
		t.Errorf("Result = %q", got)
	}
}
