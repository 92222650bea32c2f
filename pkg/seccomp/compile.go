package seccomp

import (
	"fmt"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// MaxInstructions is BPF_MAXINSNS (include/uapi/linux/bpf_common.h): the
// kernel refuses a longer classic BPF program with EINVAL.
const MaxInstructions = 4096

// Offsets in struct seccomp_data (see the package comment). x86 is little
// endian: an argument's low 32 bits come first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// rule is one entry of linux.seccomp.syscalls, for one system call.
type rule struct {
	args []specs.LinuxSeccompArg
	ret  uint32
}

// Compile checks s (see Check) and builds its filter for an x86_64 kernel;
// the package comment describes the program. A nil s is no filter: nil,
// nil.
func Compile(s *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	if s == nil {
		return nil, nil
	}
	if err := Check(s); err != nil {
		return nil, err
	}
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("linux.seccomp: no system call table for %s (only x86_64 and its i386 ABI)", runtime.GOARCH)
	}
	def, _ := actionValue(s.DefaultAction, s.DefaultErrnoRet, "")

	// The native ABI always (libseccomp's filters always hold it too),
	// i386 when listed.
	sections := []*abi{x86_64}
	if slices.Contains(s.Architectures, specs.ArchX86) {
		sections = append(sections, i386)
	}

	// Docker's profile makes about 1200 ops (instructions, jumps and
	// labels) for x86_64 and i386: one allocation instead of a dozen
	// growths (340 KB allocated per Compile before, 228 KB now: the init's
	// heap is fresh, and every page it touches first is a page fault).
	p := &program{ops: make([]op, 0, 2048)}
	rets := map[uint32]label{} // one "ret V" per value V, at the end
	retTo := func(v uint32) label {
		if l, ok := rets[v]; ok {
			return l
		}
		rets[v] = p.newLabel()
		return rets[v]
	}
	// An ABI the filter has no section for is killed, the whole process:
	// killing one thread (SECCOMP_RET_KILL_THREAD, libseccomp's default
	// for a bad arch) leaves the others running in a state nobody
	// expects (seccomp(2)).
	kill := retTo(unix.SECCOMP_RET_KILL_PROCESS)

	p.load(offArch)
	starts := make([]label, len(sections))
	for i, a := range sections {
		starts[i] = p.newLabel()
		next := p.newLabel()
		p.jif(bpf.JumpEqual, a.audit, starts[i], next)
		p.place(next)
	}
	p.ja(kill)
	for i, a := range sections {
		p.place(starts[i])
		section(p, a, s, def, kill, retTo)
	}
	for _, v := range sortedNumbers(rets) {
		p.place(rets[v])
		p.ret(v)
	}
	prog, err := p.resolve()
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("linux.seccomp: the filter has %d instructions, more than the kernel's %d (BPF_MAXINSNS)", len(prog), MaxInstructions)
	}
	return prog, nil
}

// section writes one ABI's part: the x32 check (x86_64), the ENOSYS
// check, the search, and the rules of each call.
func section(p *program, a *abi, s *specs.LinuxSeccomp, def uint32, kill label, retTo func(uint32) label) {
	rules := make([][]rule, a.table[len(a.table)-1].nr+1) // by number
	for _, sc := range s.Syscalls {
		ret, _ := actionValue(sc.Action, sc.ErrnoRet, "")
		for _, n := range sc.Names {
			if nr, ok := a.number(n); ok {
				rules[nr] = append(rules[nr], rule{sc.Args, ret})
			}
		}
	}
	var nrs []uint32 // the numbers with rules, in order
	for nr, r := range rules {
		if len(r) > 0 {
			nrs = append(nrs, uint32(nr))
		}
	}

	p.load(offNr)
	if a == x86_64 {
		// nr is an int: with jge, negative numbers are refused here too,
		// as libseccomp does.
		next := p.newLabel()
		p.jif(bpf.JumpGreaterOrEqual, x32Bit, kill, next)
		p.place(next)
	}
	if len(nrs) > 0 && !allows(def) {
		next := p.newLabel()
		p.jif(bpf.JumpGreaterThan, nrs[len(nrs)-1], retTo(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)), next)
		p.place(next)
	}
	// What each number leads to: a return value, or the body of a call
	// whose rules have conditions. Neighbouring numbers that lead to the
	// same place are one interval: Docker's profile allows most calls, and
	// its ~370 x86_64 calls make a few dozen intervals.
	var segs []segment
	add := func(lo uint32, t target) {
		if n := len(segs); n > 0 && segs[n-1].lo == lo {
			segs = segs[:n-1] // nr+1's default, when nr+1 is listed
		}
		if n := len(segs); n > 0 && segs[n-1].to == t {
			return
		}
		segs = append(segs, segment{lo, t})
	}
	deflt := target{ret: def}
	add(0, deflt)
	var bodies []uint32
	labels := map[uint32]label{}
	for _, nr := range nrs {
		t := target{ret: rules[nr][0].ret}
		if len(rules[nr][0].args) > 0 {
			labels[nr] = p.newLabel()
			t = target{body: labels[nr]}
			bodies = append(bodies, nr)
		}
		add(nr, t)
		if nr < ^uint32(0) {
			add(nr+1, deflt)
		}
	}
	search(p, segs)
	for _, nr := range bodies {
		p.place(labels[nr])
		body(p, rules[nr], a.wide, retTo(def), retTo)
	}
}

// A target is where a number leads: a return value, or a body (label > 0).
type target struct {
	ret  uint32
	body label
}

// A segment is the numbers from lo up to the next segment's lo.
type segment struct {
	lo uint32
	to target
}

// search is a binary search on A (the number) over the segments, sorted:
// each call costs about log2(len(segs)) comparisons. A leaf returns its
// value at once, or jumps to the body of its call.
func search(p *program, segs []segment) {
	if len(segs) == 1 {
		if t := segs[0].to; t.body != 0 {
			p.ja(t.body)
		} else {
			p.ret(t.ret)
		}
		return
	}
	mid := len(segs) / 2
	left, right := p.newLabel(), p.newLabel()
	p.jif(bpf.JumpGreaterOrEqual, segs[mid].lo, right, left)
	p.place(left)
	search(p, segs[:mid])
	p.place(right)
	search(p, segs[mid:])
}

// body tries a call's rules in order: the first whose conditions all hold
// returns its action; after the last, the default.
func body(p *program, rules []rule, wide bool, deflt label, retTo func(uint32) label) {
	for _, r := range rules {
		if len(r.args) == 0 {
			p.ja(retTo(r.ret)) // later rules can never be reached
			return
		}
		next := p.newLabel()
		for i, a := range r.args {
			pass := retTo(r.ret)
			if i < len(r.args)-1 {
				pass = p.newLabel()
			}
			condition(p, a, wide, pass, next)
			if i < len(r.args)-1 {
				p.place(pass)
			}
		}
		p.place(next)
	}
	p.ja(deflt)
}

// condition jumps to pass when args[a.Index] <op> a.Value holds, as an
// unsigned 64-bit comparison made of 32-bit ones: the high halves decide
// unless they are equal, then the low halves do. For SCMP_CMP_MASKED_EQ
// Value is the mask and ValueTwo the value: (arg & Value) == ValueTwo,
// each half masked on its own.
//
// On a 32-bit ABI (i386, !wide) an argument is 32 bits: its high half is
// 0, whatever the upper half of the register held (libseccomp compares
// only the low word there too), so the high-half tests are decided here,
// with 0, and only the low half is loaded.
func condition(p *program, a specs.LinuxSeccompArg, wide bool, pass, fail label) {
	lo := uint32(offArgs + 8*a.Index)
	hi := lo + 4
	vhi, vlo := uint32(a.Value>>32), uint32(a.Value)
	c1, c2 := p.newLabel(), p.newLabel()
	var A uint32 // the high half on a 32-bit ABI
	loadHi := func() {
		if wide {
			p.load(hi)
		}
	}
	hiTest := func(test bpf.JumpTest, val uint32, t, f label) {
		switch {
		case wide:
			p.jif(test, val, t, f)
		case test == bpf.JumpEqual && A == val, test == bpf.JumpGreaterThan && A > val:
			p.ja(t)
		default:
			p.ja(f)
		}
	}
	switch a.Op {
	case specs.OpEqualTo:
		loadHi()
		hiTest(bpf.JumpEqual, vhi, c1, fail)
		p.place(c1)
		p.load(lo)
		p.jif(bpf.JumpEqual, vlo, pass, fail)
	case specs.OpNotEqual:
		loadHi()
		hiTest(bpf.JumpEqual, vhi, c1, pass)
		p.place(c1)
		p.load(lo)
		p.jif(bpf.JumpEqual, vlo, fail, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		loadHi()
		hiTest(bpf.JumpGreaterThan, vhi, pass, c1)
		p.place(c1)
		hiTest(bpf.JumpEqual, vhi, c2, fail)
		p.place(c2)
		p.load(lo)
		test := bpf.JumpGreaterThan
		if a.Op == specs.OpGreaterEqual {
			test = bpf.JumpGreaterOrEqual
		}
		p.jif(test, vlo, pass, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		loadHi()
		hiTest(bpf.JumpGreaterThan, vhi, fail, c1)
		p.place(c1)
		hiTest(bpf.JumpEqual, vhi, c2, pass)
		p.place(c2)
		p.load(lo)
		test := bpf.JumpGreaterOrEqual // lo < v fails when lo >= v
		if a.Op == specs.OpLessEqual {
			test = bpf.JumpGreaterThan
		}
		p.jif(test, vlo, fail, pass)
	case specs.OpMaskedEqual:
		dhi, dlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		loadHi()
		if wide {
			p.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vhi})
		}
		hiTest(bpf.JumpEqual, dhi, c1, fail)
		p.place(c1)
		p.load(lo)
		p.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vlo})
		p.jif(bpf.JumpEqual, dlo, pass, fail)
	}
}
