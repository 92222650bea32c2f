package seccomp

import (
	"encoding/binary"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Data is a struct seccomp_data: what the kernel hands the filter.
type Data struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// Evaluate runs prog on d in golang.org/x/net/bpf's VM and returns what the
// kernel would: SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|errno, and so on.
//
// The VM is a socket filter's: it loads words in network byte order. The
// kernel loads seccomp_data's words in the CPU's, and every load of a
// seccomp filter is one aligned word, so writing each 32-bit word big
// endian at its (little-endian x86) offset gives the VM the values the
// kernel's loads see.
func Evaluate(prog []bpf.Instruction, d Data) (uint32, error) {
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return 0, err
	}
	return run(vm, d)
}

// run is Evaluate on a VM made once.
func run(vm *bpf.VM, d Data) (uint32, error) {
	words := []uint32{uint32(d.Nr), d.Arch, uint32(d.IP), uint32(d.IP >> 32)}
	for _, a := range d.Args {
		words = append(words, uint32(a), uint32(a>>32))
	}
	in := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(in[4*i:], w)
	}
	ret, err := vm.Run(in)
	return uint32(ret), err
}

// Disasm writes prog one instruction a line, with absolute jump targets and
// what the constants mean: seccomp_data fields, AUDIT_ARCH_* values,
// system call names (on the ABI the instruction's section is for), return
// actions.
func Disasm(prog []bpf.Instruction) string {
	// The ABI of each instruction, following the jumps from the arch
	// check: a jeq #AUDIT_ARCH_X's true branch is in X's section.
	arch := make([]specs.Arch, len(prog)+1)
	var b strings.Builder
	for i, ins := range prog {
		var text, note string
		switch in := ins.(type) {
		case bpf.LoadAbsolute:
			text = fmt.Sprintf("ld [%d]", in.Off)
			note = field(in.Off)
		case bpf.ALUOpConstant:
			text = in.String()
			if in.Op == bpf.ALUOpAnd {
				text = fmt.Sprintf("and #%#x", in.Val)
			}
		case bpf.Jump:
			to := i + 1 + int(in.Skip)
			text = fmt.Sprintf("ja %d", to)
			inherit(arch, to, arch[i])
		case bpf.JumpIf:
			t, f := i+1+int(in.SkipTrue), i+1+int(in.SkipFalse)
			text = fmt.Sprintf("%s #%#x  -> %d, else %d", jumpName(in.Cond), in.Val, t, f)
			note = constant(prog, i, in.Val, arch[i])
			ta := arch[i]
			if a := archOf(in.Val); a != "" && in.Cond == bpf.JumpEqual && lastLoad(prog, i) == offArch {
				ta = a
			}
			inherit(arch, t, ta)
			inherit(arch, f, arch[i])
		case bpf.RetConstant:
			text = fmt.Sprintf("ret #%#x", in.Val)
			note = Action(in.Val)
		default:
			text = fmt.Sprint(ins)
		}
		if i+1 < len(prog) && arch[i+1] == "" && !ends(ins) {
			arch[i+1] = arch[i]
		}
		if note != "" {
			text = fmt.Sprintf("%-36s ; %s", text, note)
		}
		fmt.Fprintf(&b, "%4d: %s\n", i, text)
	}
	return b.String()
}

func inherit(arch []specs.Arch, to int, a specs.Arch) {
	if to < len(arch) && arch[to] == "" {
		arch[to] = a
	}
}

func ends(ins bpf.Instruction) bool {
	switch ins.(type) {
	case bpf.Jump, bpf.RetConstant, bpf.RetA:
		return true
	}
	return false
}

func jumpName(c bpf.JumpTest) string {
	return map[bpf.JumpTest]string{bpf.JumpEqual: "jeq", bpf.JumpNotEqual: "jne", bpf.JumpGreaterThan: "jgt",
		bpf.JumpLessThan: "jlt", bpf.JumpGreaterOrEqual: "jge", bpf.JumpLessOrEqual: "jle",
		bpf.JumpBitsSet: "jset", bpf.JumpBitsNotSet: "jnset"}[c]
}

func field(off uint32) string {
	switch {
	case off == offNr:
		return "nr"
	case off == offArch:
		return "arch"
	case off >= offArgs && off < offArgs+48:
		half := "low"
		if (off-offArgs)%8 == 4 {
			half = "high"
		}
		return fmt.Sprintf("args[%d] %s 32 bits", (off-offArgs)/8, half)
	}
	return ""
}

// lastLoad is the offset the most recent load before i read (the program
// is straight-line between a load and its tests).
func lastLoad(prog []bpf.Instruction, i int) uint32 {
	for ; i >= 0; i-- {
		if l, ok := prog[i].(bpf.LoadAbsolute); ok {
			return l.Off
		}
	}
	return ^uint32(0)
}

func archOf(v uint32) specs.Arch {
	for _, a := range abis {
		if a.audit == v {
			return a.arch
		}
	}
	return ""
}

func constant(prog []bpf.Instruction, i int, v uint32, a specs.Arch) string {
	switch lastLoad(prog, i) {
	case offArch:
		if x := archOf(v); x != "" {
			return "AUDIT_ARCH of " + string(x)
		}
	case offNr:
		if v == x32Bit {
			return "__X32_SYSCALL_BIT"
		}
		if n := SyscallName(a, v); n != "" {
			return n
		}
	}
	return ""
}

// Action spells a filter's return value: ALLOW, ERRNO(EPERM), KILL_PROCESS...
func Action(ret uint32) string {
	data := ret & unix.SECCOMP_RET_DATA
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return fmt.Sprintf("TRAP(%d)", data)
	case unix.SECCOMP_RET_ERRNO:
		if n := unix.ErrnoName(unix.Errno(data)); n != "" {
			return "ERRNO(" + n + ")"
		}
		return fmt.Sprintf("ERRNO(%d)", data)
	case unix.SECCOMP_RET_USER_NOTIF:
		return "USER_NOTIF"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", data)
	case unix.SECCOMP_RET_LOG:
		return "LOG"
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	}
	return fmt.Sprintf("%#x", ret)
}
