package container

import (
	"fmt"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// The steps a runtime-spec Process takes on the thread that will call
// execve(2), shared by a bundle's init (bundleinit.go) and an exec'd
// process (exec.go), in runc's order (finalizeNamespace).

// processLimits applies process.rlimits and process.user.umask.
func processLimits(p *specs.Process, x *explain.Narrator) error {
	for _, r := range p.Rlimits {
		// syscall's, not x/sys/unix's: Go restores RLIMIT_NOFILE at
		// execve(2) to what it found at start unless it was set through
		// package syscall (Go 1.21, syscall.Setrlimit).
		lim := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
		err := syscall.Setrlimit(rlimits[r.Type], &lim)
		x.Call("setrlimit(2)", fmt.Sprintf("setrlimit(%s, {%d, %d})", r.Type, r.Soft, r.Hard), nil, err)
		if err != nil {
			return fmt.Errorf("process.rlimits %s: %w", r.Type, err)
		}
	}
	if m := p.User.Umask; m != nil {
		unix.Umask(int(*m))
		x.Call("umask(2)", fmt.Sprintf("umask(%#o)", *m), nil, nil)
	}
	return nil
}

// processTerminal gives the process a pseudo-terminal when it asks for
// one (process.terminal): a pty in the container's devpts, its master
// sent over the sync socket sock (the caller passes it on to
// --console-socket), its slave the controlling terminal and stdio.
func processTerminal(p *specs.Process, sock int, x *explain.Narrator) error {
	if !p.Terminal {
		return nil
	}
	var ws *unix.Winsize
	if p.ConsoleSize != nil {
		ws = &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
	}
	master, slave, err := openPTY(ws, x)
	if err != nil {
		return err
	}
	_, err = send(sock, initMessage{Type: "pty"}, int(master.Fd()))
	master.Close()
	if err != nil {
		return err
	}
	return takeTerminal(slave, x)
}

// processPrivileges gives up what the process may not keep: the seccomp
// filter first when there is no no_new_privs (the kernel takes a filter
// then only from a thread with CAP_SYS_ADMIN, seccomp(2)), the user, no_new_privs,
// and the capability sets last, after the uid change (see caps.Apply).
// With no_new_privs the filter waits for seccompLast.
func processPrivileges(p *specs.Process, filter *specs.LinuxSeccomp, x *explain.Narrator) error {
	if !p.NoNewPrivileges {
		if err := seccomp.Load(filter, x); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
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
func seccompLast(p *specs.Process, filter *specs.LinuxSeccomp, x *explain.Narrator) error {
	if !p.NoNewPrivileges {
		return nil
	}
	if err := seccomp.Load(filter, x); err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	return nil
}
