// Package explain narrates the real steps a program takes: each system call
// with the arguments actually passed to the kernel, its result, and the man
// page that documents it, in the style of strace(1):
//
//	clone(CLONE_NEWUTS|SIGCHLD) = 4242   [clone(2)]
//	sethostname("bizarro", 7) = 0   [sethostname(2)]
//	setns(3</proc/4242/ns/uts>, CLONE_NEWUTS) = -1 EPERM (Operation not permitted)   [setns(2)]
//
// A nil *Narrator is valid and silent, so callers pass one around without
// checking whether --explain was given.
package explain

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnvVar carries --explain to a re-executed child (see pkg/reexec).
const EnvVar = "MINICONTAINER_EXPLAIN"

// Narrator writes steps to w. Safe for concurrent use.
type Narrator struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

// New returns a narrator writing to w when on is true, and nil (silent)
// otherwise.
func New(w io.Writer, on bool) *Narrator {
	if !on {
		return nil
	}
	return &Narrator{w: w}
}

// FromEnv returns a narrator on stderr when EnvVar is set to "1": a
// re-executed child narrates when its parent does.
func FromEnv(prefix string) *Narrator { return FromEnvTo(os.Stderr, prefix) }

// FromEnvTo is FromEnv writing to w (the container's init sends its lines
// to the parent over the sync socket, in order with its messages).
func FromEnvTo(w io.Writer, prefix string) *Narrator {
	n := New(w, os.Getenv(EnvVar) == "1")
	if n != nil {
		n.prefix = prefix
	}
	return n
}

// Enabled reports whether steps are printed.
func (n *Narrator) Enabled() bool { return n != nil }

// Env returns the environment entry that turns narration on in a child.
func (n *Narrator) Env() string {
	if n == nil {
		return EnvVar + "=0"
	}
	return EnvVar + "=1"
}

// Call prints one system call: call is the call with its arguments as C
// would write them, ret the value returned on success, err the failure (if
// any), page the man page, e.g. "clone(2)".
func (n *Narrator) Call(page, call string, ret any, err error) {
	if n == nil {
		return
	}
	n.printf("%s = %s   [%s]\n", call, Result(ret, err), page)
}

// Note prints a line of commentary (why a step is taken), marked with
// "  # ". The indent keeps it from reading as a command in a lesson's
// transcript, where "# " at the start of a line is the prompt.
func (n *Narrator) Note(format string, args ...any) {
	if n == nil {
		return
	}
	n.printf("  # "+format+"\n", args...)
}

func (n *Narrator) printf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.w, n.prefix+format, args...)
}

// Result formats a return value the way strace does: the value on success,
// "-1 ENOENT (No such file or directory)" on failure.
func Result(ret any, err error) string {
	if err == nil {
		if ret == nil {
			return "0"
		}
		return fmt.Sprint(ret)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("-1 %s (%s)", unix.ErrnoName(errno), Strerror(errno))
	}
	return "-1 (" + err.Error() + ")"
}

// Strerror returns the text C's strerror(3) (and so err(3) and perror(3))
// prints for the errno inside err: "Operation not permitted". Go's own
// texts are the same words in lower case. An error without an errno is
// returned as is.
func Strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Flag names one bit (or value) of a flags argument.
type Flag struct {
	Value uint64
	Name  string
}

// Flags spells v as NAME|NAME|0x.. using table; bits not in the table are
// shown in hex so nothing passed to the kernel is hidden.
func Flags(v uint64, table []Flag) string {
	var parts []string
	for _, f := range table {
		if f.Value != 0 && v&f.Value == f.Value {
			parts = append(parts, f.Name)
			v &^= f.Value
		}
	}
	if v != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}

// Quote writes a string argument as strace does.
func Quote(s string) string { return fmt.Sprintf("%q", s) }
