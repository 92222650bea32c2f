package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A program under construction, with symbolic jump targets. Classic BPF
// jumps only forward, a conditional jump at most 255 instructions (its
// offsets are 8 bits, filter(2)'s struct sock_filter), an unconditional
// one (BPF_JA) up to 2^32. resolve places labels and gives each side of a
// conditional jump whose target is too far a BPF_JA of its own, placed
// right after it; it repeats until nothing moves, since each such change
// moves what follows.
//
// The ops hold the kernel's encoding (struct sock_filter's code and k)
// rather than x/net/bpf's Instruction values, and resolve writes the
// struct sock_filter array seccomp(2) takes: an Instruction is an
// interface, so each one emitted was an allocation, and bpf.Assemble then
// converted the program once more (Compile still returns Instructions,
// for the VM and Disasm, decoded from that array).
type program struct {
	ops    []op
	labels int
}

type label int32

type opKind uint8

const (
	opIns   opKind = iota // a plain instruction: code, k
	opLabel               // a place, no instruction: label t is here
	opJump                // BPF_JA to t
	opCond                // if A <code> k goto t else goto f
	opNone                // an elided jump: to the very next instruction
)

// The instructions Compile writes (linux/bpf_common.h).
const (
	ldAbs uint16 = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS  // A = the 32-bit word at k
	andK  uint16 = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K // A &= k
	ja    uint16 = unix.BPF_JMP | unix.BPF_JA               // skip k
	jeq   uint16 = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K // A == k
	jgt   uint16 = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K // A > k
	jge   uint16 = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K // A >= k
	retK  uint16 = unix.BPF_RET | unix.BPF_K                // return k
)

// An op is 16 bytes: Docker's profile makes about 1200 of them.
type op struct {
	kind opKind
	far  uint8 // opCond: farT, farF (its target too far: a "ja" follows)
	code uint16
	k    uint32
	t, f label
}

// The bits of op.far: "jt 0" (or "jf") over a "ja t" that follows.
const (
	farT = 1 << iota
	farF
)

func (p *program) newLabel() label { p.labels++; return label(p.labels) }

func (p *program) place(l label) { p.ops = append(p.ops, op{kind: opLabel, t: l}) }
func (p *program) emit(code uint16, k uint32) {
	p.ops = append(p.ops, op{kind: opIns, code: code, k: k})
}
func (p *program) ja(l label)      { p.ops = append(p.ops, op{kind: opJump, t: l}) }
func (p *program) load(off uint32) { p.emit(ldAbs, off) }
func (p *program) ret(v uint32)    { p.emit(retK, v) }
func (p *program) jif(test uint16, val uint32, t, f label) {
	p.ops = append(p.ops, op{kind: opCond, code: test, k: val, t: t, f: f})
}

func (o op) size() int32 {
	switch {
	case o.kind == opLabel, o.kind == opNone:
		return 0
	case o.kind == opCond && o.far == farT|farF:
		return 3
	case o.kind == opCond && o.far != 0:
		return 2
	}
	return 1
}

func (p *program) resolve() ([]unix.SockFilter, error) {
	// A ja whose label follows with nothing in between jumps nowhere.
	for i := range p.ops {
		if p.ops[i].kind != opJump {
			continue
		}
		for _, next := range p.ops[i+1:] {
			if next.kind != opLabel {
				break
			}
			if next.t == p.ops[i].t {
				p.ops[i].kind = opNone
				break
			}
		}
	}
	at := make([]int32, len(p.ops))
	where := make([]int32, p.labels+1) // label -> place, -1: not placed
	for {
		for i := range where {
			where[i] = -1
		}
		var n int32
		for i, o := range p.ops {
			at[i] = n
			if o.kind == opLabel {
				where[o.t] = n
			}
			n += o.size()
		}
		changed := false
		for i := range p.ops {
			o := &p.ops[i]
			if o.kind != opCond {
				continue
			}
			// A near side's offset counts from the next instruction.
			if o.far&farT == 0 && where[o.t]-at[i]-1 > 255 {
				o.far, changed = o.far|farT, true
			}
			if o.far&farF == 0 && where[o.f]-at[i]-1 > 255 {
				o.far, changed = o.far|farF, true
			}
		}
		if changed {
			continue
		}
		out := make([]unix.SockFilter, 0, n)
		for i, o := range p.ops {
			// skip is the offset of label l counted from instruction from.
			skip := func(l label, from int32) (int32, error) {
				to := where[l]
				if to < 0 {
					return 0, fmt.Errorf("seccomp: internal error: label %d not placed", l)
				}
				if to < from {
					return 0, fmt.Errorf("seccomp: internal error: backward jump at %d", at[i])
				}
				return to - from, nil
			}
			switch {
			case o.kind == opLabel, o.kind == opNone:
			case o.kind == opJump:
				s, err := skip(o.t, at[i]+1)
				if err != nil {
					return nil, err
				}
				out = append(out, unix.SockFilter{Code: ja, K: uint32(s)})
			case o.kind == opCond:
				// jt and jf count from the instruction after this one; a
				// far side jumps to its own ja, placed after it (the true
				// side's first).
				after := at[i] + o.size()
				next := at[i] + 1
				var jt, jf int32
				var longs [2]unix.SockFilter
				nl := int32(0)
				for _, side := range [2]struct {
					far bool
					l   label
					off *int32
				}{{o.far&farT != 0, o.t, &jt}, {o.far&farF != 0, o.f, &jf}} {
					if side.far {
						*side.off = next + nl - (at[i] + 1)
						s, err := skip(side.l, next+nl+1)
						if err != nil {
							return nil, err
						}
						longs[nl] = unix.SockFilter{Code: ja, K: uint32(s)}
						nl++
						continue
					}
					s, err := skip(side.l, after)
					if err != nil {
						return nil, err
					}
					*side.off = s + (after - (at[i] + 1))
				}
				out = append(out, unix.SockFilter{Code: o.code, Jt: uint8(jt), Jf: uint8(jf), K: o.k})
				out = append(out, longs[:nl]...)
			default:
				out = append(out, unix.SockFilter{Code: o.code, K: o.k})
			}
		}
		return out, nil
	}
}

// instructions decodes a program resolve wrote into x/net/bpf's
// Instructions, the types Disasm and the VM take. Only the codes above
// occur.
func instructions(raw []unix.SockFilter) []bpf.Instruction {
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		switch r.Code {
		case ldAbs:
			prog[i] = bpf.LoadAbsolute{Off: r.K, Size: 4}
		case andK:
			prog[i] = bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: r.K}
		case ja:
			prog[i] = bpf.Jump{Skip: r.K}
		case jeq, jgt, jge:
			test := map[uint16]bpf.JumpTest{jeq: bpf.JumpEqual, jgt: bpf.JumpGreaterThan, jge: bpf.JumpGreaterOrEqual}[r.Code]
			prog[i] = bpf.JumpIf{Cond: test, Val: r.K, SkipTrue: r.Jt, SkipFalse: r.Jf}
		case retK:
			prog[i] = bpf.RetConstant{Val: r.K}
		default:
			prog[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}.Disassemble()
		}
	}
	return prog
}
