package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ops are the argument comparisons of runtime-spec (libseccomp's
// SCMP_CMP_*).
var ops = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

// Check reports the first thing in s that Compile cannot honour, as one
// line naming it by its JSON path under linux.seccomp, e.g.
//
//	linux.seccomp.syscalls[3].names[0]: unknown syscall "foo"
//
// A name is known when some architecture's table has it: a profile is
// written for many (waitpid is i386's, recv arm's), and where a table lacks
// a name, that arch's section leaves it out, as runc and libseccomp do. A
// nil s (no filter) is valid.
func Check(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if _, err := actionValue(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction"); err != nil {
		return err
	}
	for i, a := range s.Architectures {
		if !knownArches[a] {
			return fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
	}
	for i, f := range s.Flags {
		if _, ok := flagValues[f]; !ok {
			return fmt.Errorf("linux.seccomp.flags[%d]: %q is not supported (only SECCOMP_FILTER_FLAG_TSYNC, _LOG and _SPEC_ALLOW: no seccomp agent)", i, f)
		}
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return fmt.Errorf("linux.seccomp.listenerPath: seccomp agents (SCMP_ACT_NOTIFY) are not supported")
	}
	for i, sc := range s.Syscalls {
		// where is written only for an error: the init checks each of
		// Docker's ~60 rules at every start.
		where := func() string { return fmt.Sprintf("linux.seccomp.syscalls[%d]", i) }
		if len(sc.Names) == 0 {
			return fmt.Errorf("%s.names: must not be empty", where())
		}
		for j, n := range sc.Names {
			if _, ok := x86_64.number(n); ok {
				continue
			}
			if _, ok := i386.number(n); ok || isOtherSyscall(n) {
				continue
			}
			return fmt.Errorf("%s.names[%d]: unknown syscall %q", where(), j, n)
		}
		if _, err := actionValue(sc.Action, sc.ErrnoRet, ""); err != nil {
			_, err = actionValue(sc.Action, sc.ErrnoRet, where()+".action")
			return err
		}
		for j, a := range sc.Args {
			if a.Index > 5 {
				return fmt.Errorf("%s.args[%d].index: %d, but a system call has 6 arguments (0-5)", where(), j, a.Index)
			}
			if !ops[a.Op] {
				return fmt.Errorf("%s.args[%d].op: unknown operator %q", where(), j, a.Op)
			}
		}
	}
	return nil
}
