package cgroup

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"golang.org/x/sys/unix"
)

// On cgroup v2 there is no devices.allow: the kernel asks a BPF program of
// type BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup, at every open
// and mknod of a device file by a process in it (and its children). The
// program gets a struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h):
//
//	offset 0: u32 access_type  (access << 16) | type
//	            type:   BPF_DEVCG_DEV_BLOCK 1, BPF_DEVCG_DEV_CHAR 2
//	            access: BPF_DEVCG_ACC_MKNOD 1, _READ 2, _WRITE 4
//	offset 4: u32 major
//	offset 8: u32 minor
//
// and returns 1 to allow, 0 to refuse (the open or mknod fails with EPERM).
// See the kernel's Documentation/admin-guide/cgroup-v2.rst, "Device
// controller". runc builds the same kind of program (its devicefilter).

const (
	devcgDevBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devcgDevChar  = 2 // BPF_DEVCG_DEV_CHAR
)

// The registers the program keeps the request in.
const (
	regType   = asm.R2
	regAccess = asm.R3
	regMajor  = asm.R4
	regMinor  = asm.R5
	regTmp    = asm.R6
)

// DeviceProgram builds the device program for rules: the request is
// loaded into registers, then the exceptions of the state the rules leave
// (see deviceState) are tried in order, the first one that matches
// decides, and the default decides when none does. A list that starts
// with "deny a" (DefaultDeviceRules) is deny by default with one block per
// allowed device.
func DeviceProgram(rules []DeviceRule) asm.Instructions {
	s := stateOf(rules)
	verdict := func(allow bool) int32 {
		if allow {
			return 1
		}
		return 0
	}
	p := asm.Instructions{
		asm.LoadMem(regType, asm.R1, 0, asm.Word),
		asm.And.Imm(regType, 0xffff),
		asm.LoadMem(regAccess, asm.R1, 0, asm.Word),
		asm.RSh.Imm(regAccess, 16),
		asm.LoadMem(regMajor, asm.R1, 4, asm.Word),
		asm.LoadMem(regMinor, asm.R1, 8, asm.Word),
	}
	for i, e := range s.exceptions {
		next := fmt.Sprintf("rule-%d", i+1)
		var block asm.Instructions
		typ := int32(devcgDevChar)
		if e.Type == 'b' {
			typ = devcgDevBlock
		}
		block = append(block, asm.JNE.Imm(regType, typ, next))
		if acc := parseAccess(e.Access); acc != accAll {
			block = append(block, asm.Mov.Reg(regTmp, regAccess))
			if s.allowAll {
				// A deny exception refuses a request with any of its
				// accesses (match_exception_partial): skip if none.
				block = append(block, asm.And.Imm(regTmp, int32(acc)), asm.JEq.Imm(regTmp, 0, next))
			} else {
				// An allow exception grants a request only if it covers
				// every access asked for (match_exception).
				block = append(block, asm.And.Imm(regTmp, int32(accAll&^acc)), asm.JNE.Imm(regTmp, 0, next))
			}
		}
		if e.Major != AnyNumber {
			block = append(block, asm.JNE.Imm(regMajor, int32(e.Major), next))
		}
		if e.Minor != AnyNumber {
			block = append(block, asm.JNE.Imm(regMinor, int32(e.Minor), next))
		}
		block = append(block, asm.Mov.Imm32(asm.R0, verdict(!s.allowAll)), asm.Return())
		if i > 0 {
			block[0] = block[0].WithSymbol(fmt.Sprintf("rule-%d", i))
		}
		p = append(p, block...)
	}
	last := asm.Instructions{asm.Mov.Imm32(asm.R0, verdict(s.allowAll)), asm.Return()}
	if n := len(s.exceptions); n > 0 {
		last[0] = last[0].WithSymbol(fmt.Sprintf("rule-%d", n))
	}
	return append(p, last...)
}

// describeDevices is the program's rules in words, for the narration.
func describeDevices(rules []DeviceRule) string {
	s := stateOf(rules)
	def := "deny"
	if s.allowAll {
		def = "allow"
	}
	var ex []string
	for _, e := range s.exceptions {
		ex = append(ex, e.String())
	}
	if len(ex) == 0 {
		return def + " every device"
	}
	verb := "allow"
	if s.allowAll {
		verb = "deny"
	}
	return fmt.Sprintf("%s by default; %s %s", def, verb, strings.Join(ex, ", "))
}

// SetDevices loads the device program and attaches it to the cgroup with
// bpf(BPF_PROG_ATTACH) — not with a bpf_link, which the kernel detaches
// when its last descriptor closes (here: when minicontainer exits, while
// the container runs on). An attached program stays until it is detached
// or the cgroup is removed; the cgroup holds its own reference, so the
// program's descriptor is closed at once. BPF_F_ALLOW_MULTI, as runc
// uses: the programs of the cgroup and of its ancestors all run, and an
// access needs every one of them to allow it, so a container below a
// restricted --cgroup-parent stays as restricted as its parent. On a
// hybrid host used through its cgroup2 (--cgroup2) the container is also
// in a v1 devices cgroup; it gets the same rules there.
func (c *v2) SetDevices(rules []DeviceRule, x *explain.Narrator) error {
	insns := DeviceProgram(rules)
	x.Note("device program for %s: %s (%d instructions)", c.dir, describeDevices(rules), len(insns))
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:         "mc_devices",
		Type:         ebpf.CGroupDevice,
		Instructions: insns,
		License:      "MIT",
	}, ebpf.ProgramOptions{})
	x.Call("bpf(2)", fmt.Sprintf("bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=%d, license=\"MIT\", prog_name=\"mc_devices\"})", len(insns)), progFD(prog), bpfErr(err))
	if err != nil {
		return fmt.Errorf("loading the device program (BPF_PROG_TYPE_CGROUP_DEVICE): %s", oneLine(err))
	}
	defer prog.Close()
	dir, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		x.Call("open(2)", fmt.Sprintf("open(%q, O_RDONLY|O_DIRECTORY)", c.dir), nil, err)
		return fmt.Errorf("open %s: %w", c.dir, err)
	}
	defer unix.Close(dir)
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  dir,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	})
	x.Call("bpf(2)", fmt.Sprintf("bpf(BPF_PROG_ATTACH, {target_fd=%d /* %s */, attach_bpf_fd=%d, attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI})", dir, c.dir, prog.FD()), nil, bpfErr(err))
	if err != nil {
		return fmt.Errorf("attaching the device program to %s: %s", c.dir, oneLine(err))
	}
	if c.legacy != nil && c.legacy.devicesDir() != "" {
		return c.legacy.SetDevices(rules, x)
	}
	return nil
}

func progFD(p *ebpf.Program) any {
	if p == nil {
		return nil
	}
	return p.FD()
}

// bpfErr is the errno inside one of cilium/ebpf's wrapped errors, for the
// narration's strace-like "-1 EPERM (...)".
func bpfErr(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// oneLine keeps the first line of an error: a refused program comes with
// the verifier's log.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
