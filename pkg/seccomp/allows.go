package seccomp

import "golang.org/x/net/bpf"

// Call is one system call of this ABI, with the arguments that matter.
type Call struct {
	Name string
	Nr   uintptr
	Args []uint64
}

// Refused returns the name of the first of calls that f does not let
// through (anything but SECCOMP_RET_ALLOW or _LOG), "" when all pass, by
// running the compiled program in x/net/bpf's VM (Evaluate). A nil f
// refuses nothing. A runtime that goes on working on the thread it loaded
// f on (exec's fast path forks the command from there) asks first, since
// a refused call would fail or kill that thread halfway.
func (f *Filter) Refused(calls []Call) string {
	if f == nil {
		return ""
	}
	raw := make([]bpf.RawInstruction, len(f.filter))
	for i, s := range f.filter {
		raw[i] = bpf.RawInstruction{Op: s.Code, Jt: s.Jt, Jf: s.Jf, K: s.K}
	}
	prog, ok := bpf.Disassemble(raw)
	audit, known := AuditArch(specArch)
	if !ok || !known {
		return "(the filter cannot be evaluated here)"
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return "(the filter cannot be evaluated here)"
	}
	for _, c := range calls {
		d := Data{Nr: int32(c.Nr), Arch: audit}
		copy(d.Args[:], c.Args)
		ret, err := run(vm, d)
		if err != nil || !allows(ret) {
			return c.Name
		}
	}
	return ""
}
