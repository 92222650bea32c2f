package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// The steps a runtime-spec Process takes on the thread that will call
// execve(2), shared by a bundle's init (bundleinit.go) and an exec'd
// process (exec.go), in runc's order (finalizeNamespace).

// processLimits compiles the seccomp profile (for processPrivileges or
// seccompLast to install), applies process.user.umask, and sets the
// process.rlimits that raise a hard limit, which needs CAP_SYS_RESOURCE
// (setrlimit(2)) and so must come before the capabilities drop. The others
// only lower a limit, which needs no privilege: they are returned, for
// lastLimits to set right before execve(2).
//
// Why so late: a lowered RLIMIT_AS (runtime-tools' process_rlimits sets
// 1 GiB) is below what a Go process reserves, so every later mmap(2) of
// the init fails, and the Go runtime dies with "fatal error: runtime: out
// of memory" when it grows its heap or starts a thread: in the seccomp
// compiler (1 run in 25 of CI's process_rlimits), or later (a create at
// 512 MiB died before start even with the filter compiled first). The
// filter is compiled here all the same, before anything is limited.
func processLimits(p *specs.Process, profile *specs.LinuxSeccomp, x *explain.Narrator) (*seccomp.Filter, []specs.POSIXRlimit, error) {
	filter, err := seccomp.Prepare(profile)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	var later []specs.POSIXRlimit
	for _, r := range p.Rlimits {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(rlimits[r.Type], &cur); err == nil && r.Hard <= cur.Max {
			later = append(later, r)
			continue
		}
		if err := setRlimit(r, x); err != nil {
			return nil, nil, err
		}
	}
	if m := p.User.Umask; m != nil {
		unix.Umask(int(*m))
		x.Call("umask(2)", fmt.Sprintf("umask(%#o)", *m), nil, nil)
	}
	return filter, later, nil
}

// lastLimits sets the rlimits processLimits left for the end: the last
// step before execve(2) and, with no_new_privs, the seccomp filter (a
// filter loaded earlier sees these setrlimit(2) calls; Docker's profile
// allows them).
func lastLimits(later []specs.POSIXRlimit, x *explain.Narrator) error {
	for _, r := range later {
		if err := setRlimit(r, x); err != nil {
			return err
		}
	}
	return nil
}

// setRlimit sets one process.rlimits entry.
func setRlimit(r specs.POSIXRlimit, x *explain.Narrator) error {
	// syscall's, not x/sys/unix's: Go restores RLIMIT_NOFILE at
	// execve(2) to what it found at start unless it was set through
	// package syscall (Go 1.21, syscall.Setrlimit).
	lim := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
	err := syscall.Setrlimit(rlimits[r.Type], &lim)
	x.Call("setrlimit(2)", fmt.Sprintf("setrlimit(%s, {%d, %d})", r.Type, r.Soft, r.Hard), nil, err)
	if err != nil {
		return fmt.Errorf("process.rlimits %s: %w", r.Type, err)
	}
	return nil
}

// processTerminal gives the process a pseudo-terminal when it asks for
// one (process.terminal): a pty in the container's devpts, its master
// sent over the sync socket sock (the caller passes it on to
// --console-socket, or proxies it), its slave the controlling terminal
// and stdio when take is set; else the slave is returned, for a child to
// take (run --init).
func processTerminal(p *specs.Process, sock int, take bool, x *explain.Narrator) (*os.File, error) {
	if !p.Terminal {
		return nil, nil
	}
	var ws *unix.Winsize
	if p.ConsoleSize != nil {
		ws = &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
	}
	master, slave, err := openPTY(ws, x)
	if err != nil {
		return nil, err
	}
	_, err = send(sock, initMessage{Type: "pty"}, int(master.Fd()))
	master.Close()
	if err != nil {
		return nil, err
	}
	if !take {
		return slave, nil
	}
	return nil, takeTerminal(slave, x)
}

// processPrivileges gives up what the process may not keep: the seccomp
// filter first when there is no no_new_privs (the kernel takes a filter
// then only from a thread with CAP_SYS_ADMIN, seccomp(2)), the user, no_new_privs,
// and the capability sets last, after the uid change (see caps.Apply).
// With no_new_privs the filter waits for seccompLast.
func processPrivileges(p *specs.Process, filter *seccomp.Filter, x *explain.Narrator, t *timing.Timer) error {
	if !p.NoNewPrivileges {
		if err := filter.Install(x); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
		t.Mark("seccomp load")
	}
	if err := setUser(p.User, p.Capabilities != nil, x); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		// prctl(2): execve(2) then grants no privilege (setuid bits, file
		// capabilities); kept across fork and exec, never unset.
		err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
		x.Call("prctl(2)", "prctl(PR_SET_NO_NEW_PRIVS, 1)", nil, err)
		if err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	if err := caps.Apply(p.Capabilities, x); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	return nil
}

// seccompLast loads the filter right before execve(2) when the process
// has no_new_privs (as runc does): from here this thread obeys it.
func seccompLast(p *specs.Process, filter *seccomp.Filter, x *explain.Narrator) error {
	if !p.NoNewPrivileges {
		return nil
	}
	if err := filter.Install(x); err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	return nil
}

// errNotFound is exec's "not in $PATH", as docker words it.
var errNotFound = errors.New("executable file not found in $PATH")

// lookPath finds name as execvp(3) would, with the container's PATH (the
// init's own environment has none), inside the container's root.
func lookPath(name string, env []string) (string, error) {
	// An empty name joined to a PATH directory is that directory, which
	// would be reported as "is a directory" (126). execvp(3) fails an empty
	// file with ENOENT; runc (Go's exec.LookPath) says "executable file not
	// found in $PATH" and docker exits 127: so do we.
	if name == "" {
		return "", errNotFound
	}
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[len("PATH="):]
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, unix.ENOENT) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", errNotFound
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	return unix.Access(p, unix.X_OK)
}

// execCode maps why a command could not be started to docker's codes:
// 127 not found, 126 found but not executable.
func execCode(err error) int {
	if errors.Is(err, errNotFound) || errors.Is(err, unix.ENOENT) {
		return ExitNotFound
	}
	return ExitCannotExec
}
