package seccomp

import (
	"cmp"
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

// rule is one entry of linux.seccomp.syscalls (syscalls[i]) for one
// system call: 12 bytes without pointers, where a copy of the entry's
// args slice made it 40 (the init's heap is fresh: each page it touches
// first is a page fault).
type rule struct {
	nr, i uint32
	ret   uint32
}

// Compile checks s (see Check) and builds its filter for an x86_64 kernel;
// the package comment describes the program. A nil s is no filter: nil,
// nil.
func Compile(s *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	raw, err := build(s)
	if raw == nil || err != nil {
		return nil, err
	}
	return instructions(raw), nil
}

// build is Compile's work: the program as seccomp(2) takes it.
func build(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
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
	acts := make([]uint32, len(s.Syscalls)) // each entry's return value
	names := 0
	for i, sc := range s.Syscalls {
		acts[i], _ = actionValue(sc.Action, sc.ErrnoRet, "")
		names += len(sc.Names)
	}

	// The native ABI always (libseccomp's filters always hold it too),
	// i386 when listed.
	sections := []*abi{x86_64}
	if slices.Contains(s.Architectures, specs.ArchX86) {
		sections = append(sections, i386)
	}

	// Docker's profile makes about 1200 ops (instructions, jumps and
	// labels) for x86_64 and i386: one allocation instead of a dozen
	// growths. The init's heap is fresh, and every page it touches first
	// is a page fault.
	p := &program{ops: make([]op, 0, 1280)}
	var rets []retLabel // one "ret V" per value V, at the end
	retTo := func(v uint32) label {
		for _, r := range rets {
			if r.v == v {
				return r.l
			}
		}
		rets = append(rets, retLabel{v, p.newLabel()})
		return rets[len(rets)-1].l
	}
	// An ABI the filter has no section for is killed, the whole process:
	// killing one thread (SECCOMP_RET_KILL_THREAD, libseccomp's default
	// for a bad arch) leaves the others running in a state nobody
	// expects (seccomp(2)).
	kill := retTo(unix.SECCOMP_RET_KILL_PROCESS)

	p.load(offArch)
	var starts [2]label
	for i, a := range sections {
		starts[i] = p.newLabel()
		next := p.newLabel()
		p.jif(jeq, a.audit, starts[i], next)
		p.place(next)
	}
	p.ja(kill)
	found := make([]rule, 0, names)
	rules := make([]rule, names)
	for i, a := range sections {
		p.place(starts[i])
		found = found[:0]
		for j, sc := range s.Syscalls {
			for _, n := range sc.Names {
				if nr, ok := a.number(n); ok {
					found = append(found, rule{nr, uint32(j), acts[j]})
				}
			}
		}
		// By number, a call's rules in the profile's order: a counting
		// sort, since numbers are small (a comparison sort of the rules
		// cost more than the rest of Compile).
		var count [maxNr + 2]int32
		for _, r := range found {
			count[r.nr+1]++
		}
		for nr := 1; nr < len(count); nr++ {
			count[nr] += count[nr-1]
		}
		for _, r := range found {
			rules[count[r.nr]] = r
			count[r.nr]++
		}
		section(p, a, s.Syscalls, rules[:len(found)], def, kill, retTo)
	}
	slices.SortFunc(rets, func(x, y retLabel) int { return cmp.Compare(x.v, y.v) })
	for _, r := range rets {
		p.place(r.l)
		p.ret(r.v)
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

type retLabel struct {
	v uint32
	l label
}

// section writes one ABI's part: the x32 check (x86_64), the ENOSYS
// check, the search, and the rules of each call. rules are the profile's
// rules (entries of syscalls) on a's numbers, sorted by number.
func section(p *program, a *abi, syscalls []specs.LinuxSyscall, rules []rule, def uint32, kill label, retTo func(uint32) label) {
	p.load(offNr)
	if a == x86_64 {
		// nr is an int: with jge, negative numbers are refused here too,
		// as libseccomp does.
		next := p.newLabel()
		p.jif(jge, x32Bit, kill, next)
		p.place(next)
	}
	if len(rules) > 0 && !allows(def) {
		next := p.newLabel()
		p.jif(jgt, rules[len(rules)-1].nr, retTo(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)), next)
		p.place(next)
	}
	// What each number leads to: a return value, or the body of a call
	// whose rules have conditions. Neighbouring numbers that lead to the
	// same place are one interval: Docker's profile allows most calls, and
	// its ~370 x86_64 calls make a few dozen intervals.
	segs := make([]segment, 0, 64)
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
	type bodyAt struct {
		rules []rule // one call's
		l     label
	}
	var bodies []bodyAt
	for i := 0; i < len(rules); {
		nr := rules[i].nr
		j := i + 1
		for j < len(rules) && rules[j].nr == nr {
			j++
		}
		t := target{ret: rules[i].ret}
		if len(syscalls[rules[i].i].Args) > 0 {
			l := p.newLabel()
			t = target{body: l}
			bodies = append(bodies, bodyAt{rules[i:j], l})
		}
		add(nr, t)
		if nr < ^uint32(0) {
			add(nr+1, deflt)
		}
		i = j
	}
	search(p, segs)
	for _, b := range bodies {
		p.place(b.l)
		body(p, syscalls, b.rules, a.wide, retTo(def), retTo)
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
	p.jif(jge, segs[mid].lo, right, left)
	p.place(left)
	search(p, segs[:mid])
	p.place(right)
	search(p, segs[mid:])
}

// body tries a call's rules in order: the first whose conditions all hold
// returns its action; after the last, the default.
func body(p *program, syscalls []specs.LinuxSyscall, rules []rule, wide bool, deflt label, retTo func(uint32) label) {
	for _, r := range rules {
		args := syscalls[r.i].Args
		if len(args) == 0 {
			p.ja(retTo(r.ret)) // later rules can never be reached
			return
		}
		next := p.newLabel()
		for i, a := range args {
			pass := retTo(r.ret)
			if i < len(args)-1 {
				pass = p.newLabel()
			}
			condition(p, a, wide, pass, next)
			if i < len(args)-1 {
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
	hiTest := func(test uint16, val uint32, t, f label) {
		switch {
		case wide:
			p.jif(test, val, t, f)
		case test == jeq && A == val, test == jgt && A > val:
			p.ja(t)
		default:
			p.ja(f)
		}
	}
	switch a.Op {
	case specs.OpEqualTo:
		loadHi()
		hiTest(jeq, vhi, c1, fail)
		p.place(c1)
		p.load(lo)
		p.jif(jeq, vlo, pass, fail)
	case specs.OpNotEqual:
		loadHi()
		hiTest(jeq, vhi, c1, pass)
		p.place(c1)
		p.load(lo)
		p.jif(jeq, vlo, fail, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		loadHi()
		hiTest(jgt, vhi, pass, c1)
		p.place(c1)
		hiTest(jeq, vhi, c2, fail)
		p.place(c2)
		p.load(lo)
		test := jgt
		if a.Op == specs.OpGreaterEqual {
			test = jge
		}
		p.jif(test, vlo, pass, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		loadHi()
		hiTest(jgt, vhi, fail, c1)
		p.place(c1)
		hiTest(jeq, vhi, c2, pass)
		p.place(c2)
		p.load(lo)
		test := jge // lo < v fails when lo >= v
		if a.Op == specs.OpLessEqual {
			test = jgt
		}
		p.jif(test, vlo, fail, pass)
	case specs.OpMaskedEqual:
		dhi, dlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		loadHi()
		if wide {
			p.emit(andK, vhi)
		}
		hiTest(jeq, dhi, c1, fail)
		p.place(c1)
		p.load(lo)
		p.emit(andK, vlo)
		p.jif(jeq, dlo, pass, fail)
	}
}
