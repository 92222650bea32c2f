package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A program under construction, with symbolic jump targets. Classic BPF
// jumps only forward, a conditional jump at most 255 instructions (its
// offsets are 8 bits, filter(2)'s struct sock_filter), an unconditional
// one (BPF_JA) up to 2^32. resolve places labels and gives each side of a
// conditional jump whose target is too far a BPF_JA of its own, placed
// right after it; it repeats until nothing moves, since each such change
// moves what follows.
type program struct {
	ops    []op
	labels int
}

type label int

type op struct {
	ins   bpf.Instruction // a plain instruction, or nil
	mark  label           // label: the label placed here
	jump  bool            // BPF_JA to t
	cond  bool            // if A <test> val goto t else goto f
	test  bpf.JumpTest
	val   uint32
	t, f  label
	farT  bool // cond, with t too far: "jt 0" over a "ja t" that follows
	farF  bool // the same for f
	label bool // a place, no instruction

	elided bool // a jump to the very next instruction
}

func (p *program) newLabel() label { p.labels++; return label(p.labels) }

func (p *program) place(l label)            { p.ops = append(p.ops, op{mark: l, label: true}) }
func (p *program) emit(ins bpf.Instruction) { p.ops = append(p.ops, op{ins: ins}) }
func (p *program) ja(l label)               { p.ops = append(p.ops, op{jump: true, t: l}) }
func (p *program) load(off uint32)          { p.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }
func (p *program) ret(v uint32)             { p.emit(bpf.RetConstant{Val: v}) }
func (p *program) jif(test bpf.JumpTest, val uint32, t, f label) {
	p.ops = append(p.ops, op{cond: true, test: test, val: val, t: t, f: f})
}

func (o op) size() int {
	switch {
	case o.label, o.elided:
		return 0
	case o.cond && o.farT && o.farF:
		return 3
	case o.cond && (o.farT || o.farF):
		return 2
	}
	return 1
}

func (p *program) resolve() ([]bpf.Instruction, error) {
	// A ja whose label follows with nothing in between jumps nowhere.
	for i := range p.ops {
		if !p.ops[i].jump {
			continue
		}
		for _, next := range p.ops[i+1:] {
			if !next.label {
				break
			}
			if next.mark == p.ops[i].t {
				p.ops[i].elided = true
				break
			}
		}
	}
	at := make([]int, len(p.ops))
	where := make([]int, p.labels+1) // label -> place, -1: not placed
	for {
		for i := range where {
			where[i] = -1
		}
		n := 0
		for i, o := range p.ops {
			at[i] = n
			if o.label {
				where[o.mark] = n
			}
			n += o.size()
		}
		changed := false
		for i := range p.ops {
			o := &p.ops[i]
			if !o.cond {
				continue
			}
			// A near side's offset counts from the next instruction.
			if !o.farT && where[o.t]-at[i]-1 > 255 {
				o.farT, changed = true, true
			}
			if !o.farF && where[o.f]-at[i]-1 > 255 {
				o.farF, changed = true, true
			}
		}
		if changed {
			continue
		}
		out := make([]bpf.Instruction, 0, n)
		for i, o := range p.ops {
			skip := func(l label, from int) (int, error) {
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
			case o.label, o.elided:
			case o.jump:
				s, err := skip(o.t, at[i]+1)
				if err != nil {
					return nil, err
				}
				out = append(out, bpf.Jump{Skip: uint32(s)})
			case o.cond:
				// jt and jf count from the instruction after this one;
				// a far side jumps to its own ja, placed after it.
				after := at[i] + o.size()
				next := at[i] + 1
				var jt, jf int
				var longs []bpf.Instruction
				for _, side := range []struct {
					far bool
					l   label
					off *int
				}{{o.farT, o.t, &jt}, {o.farF, o.f, &jf}} {
					if side.far {
						*side.off = next + len(longs) - (at[i] + 1)
						s, err := skip(side.l, next+len(longs)+1)
						if err != nil {
							return nil, err
						}
						longs = append(longs, bpf.Jump{Skip: uint32(s)})
						continue
					}
					s, err := skip(side.l, after)
					if err != nil {
						return nil, err
					}
					*side.off = s + (after - (at[i] + 1))
				}
				out = append(out, bpf.JumpIf{Cond: o.test, Val: o.val, SkipTrue: uint8(jt), SkipFalse: uint8(jf)})
				out = append(out, longs...)
			default:
				out = append(out, o.ins)
			}
		}
		return out, nil
	}
}
