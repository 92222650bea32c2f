package seccomp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values, spelled as the tests expect them.
const (
	allow   = unix.SECCOMP_RET_ALLOW
	eperm   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	killAll = unix.SECCOMP_RET_KILL_PROCESS
)

func compile(t *testing.T, s *specs.LinuxSeccomp) []bpf.Instruction {
	t.Helper()
	prog, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return prog
}

// call is one row: a system call on an ABI with its arguments, and what
// the filter must answer.
type call struct {
	what string
	arch uint32
	nr   uint32
	args []uint64
	want uint32
}

func (c call) check(t *testing.T, prog []bpf.Instruction) {
	t.Helper()
	d := Data{Nr: int32(c.nr), Arch: c.arch}
	copy(d.Args[:], c.args)
	got, err := Evaluate(prog, d)
	if err != nil {
		t.Fatalf("%s: %v", c.what, err)
	}
	if got != c.want {
		t.Errorf("%s: filter returns %s (%#x), want %s (%#x)", c.what, Action(got), got, Action(c.want), c.want)
	}
}

func nr(t *testing.T, arch specs.Arch, name string) uint32 {
	t.Helper()
	n, ok := SyscallNumber(arch, name)
	if !ok {
		t.Fatalf("no %s on %s", name, arch)
	}
	return n
}

const (
	x64 = unix.AUDIT_ARCH_X86_64
	x86 = unix.AUDIT_ARCH_I386
)

// TestDockerDefault runs Docker's default profile, for Docker's default
// capabilities, in the VM.
func TestDockerDefault(t *testing.T) {
	prog := compile(t, Default())
	X := func(name string) uint32 { return nr(t, specs.ArchX86_64, name) }
	I := func(name string) uint32 { return nr(t, specs.ArchX86, name) }
	nsFlags := uint64(unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP)
	thread := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS)
	for _, c := range []call{
		{"read", x64, X("read"), nil, allow},
		{"getpid", x64, X("getpid"), nil, allow},
		{"execve", x64, X("execve"), nil, allow},
		{"mount (CAP_SYS_ADMIN's)", x64, X("mount"), nil, eperm},
		{"unshare", x64, X("unshare"), []uint64{unix.CLONE_NEWUSER}, eperm},
		{"reboot", x64, X("reboot"), nil, eperm},
		{"kexec_load, listed nowhere", x64, X("kexec_load"), nil, eperm},
		{"open_by_handle_at (CAP_DAC_READ_SEARCH's)", x64, X("open_by_handle_at"), nil, eperm},
		{"clone3: ENOSYS so glibc falls back to clone", x64, X("clone3"), nil, enosys},
		{"a number above the highest known", x64, 1000, nil, enosys},
		{"the largest number under the x32 bit", x64, 0x3fffffff, nil, enosys},
		{"clone(SIGCHLD), fork", x64, X("clone"), []uint64{uint64(unix.SIGCHLD)}, allow},
		{"clone of a thread", x64, X("clone"), []uint64{thread}, allow},
		{"clone(CLONE_NEWUSER)", x64, X("clone"), []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone(CLONE_NEWNET)", x64, X("clone"), []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone with every namespace", x64, X("clone"), []uint64{nsFlags}, eperm},
		{"clone, flags' high half set (outside the mask)", x64, X("clone"), []uint64{1<<32 | uint64(unix.SIGCHLD)}, allow},
		{"personality(PER_LINUX)", x64, X("personality"), []uint64{0}, allow},
		{"personality(PER_LINUX32)", x64, X("personality"), []uint64{8}, allow},
		{"personality(UNAME26)", x64, X("personality"), []uint64{0x20000}, allow},
		{"personality(UNAME26|PER_LINUX32)", x64, X("personality"), []uint64{0x20008}, allow},
		{"personality(0xffffffff), the query", x64, X("personality"), []uint64{0xffffffff}, allow},
		{"personality(ADDR_NO_RANDOMIZE)", x64, X("personality"), []uint64{0x0040000}, eperm},
		{"personality: low half 0, high half 1", x64, X("personality"), []uint64{1 << 32}, eperm},
		{"personality: low half 0xffffffff, high half set", x64, X("personality"), []uint64{0xffffffff_ffffffff}, eperm},
		{"socket(AF_UNIX)", x64, X("socket"), []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"socket(AF_INET)", x64, X("socket"), []uint64{unix.AF_INET, unix.SOCK_DGRAM}, allow},
		{"socket(AF_NETLINK)", x64, X("socket"), []uint64{unix.AF_NETLINK}, allow},
		{"socket(AF_VSOCK), host/guest", x64, X("socket"), []uint64{unix.AF_VSOCK}, eperm},
		{"socket(AF_ALG), kernel crypto", x64, X("socket"), []uint64{unix.AF_ALG}, eperm},
		{"socket(AF_INET + 1<<32)", x64, X("socket"), []uint64{1<<32 | unix.AF_INET}, eperm},
		{"x32 read (bit 30 set)", x64, 0x40000000 | X("read"), nil, killAll},
		{"x32 write", x64, 0x40000000 | 1, nil, killAll},
		{"a negative number", x64, 0xffffffff, nil, killAll},
		{"AArch64 read: no section", unix.AUDIT_ARCH_AARCH64, 63, nil, killAll},
		{"ARM", unix.AUDIT_ARCH_ARM, 3, nil, killAll},
		{"i386 read", x86, I("read"), nil, allow},
		{"i386 execve is 11 (munmap on x86_64)", x86, 11, nil, allow},
		{"i386 getpid", x86, I("getpid"), nil, allow},
		{"i386 waitpid (no x86_64 call)", x86, I("waitpid"), nil, allow},
		{"i386 mount", x86, I("mount"), nil, eperm},
		{"i386 clone3", x86, I("clone3"), nil, enosys},
		{"i386 above the highest", x86, 1000, nil, enosys},
		{"i386 clone(CLONE_NEWUSER)", x86, I("clone"), []uint64{unix.CLONE_NEWUSER}, eperm},
		{"i386 clone(SIGCHLD)", x86, I("clone"), []uint64{uint64(unix.SIGCHLD)}, allow},
		{"i386 personality(0), the register's upper half not 0", x86, I("personality"), []uint64{1 << 32}, allow},
		{"i386 personality(ADDR_NO_RANDOMIZE)", x86, I("personality"), []uint64{0x0040000}, eperm},
		{"i386 socket(AF_INET), upper half not 0", x86, I("socket"), []uint64{0xffffffff_00000000 | unix.AF_INET}, allow},
	} {
		c.check(t, prog)
	}
}

// TestDefaultForSysAdmin: with CAP_SYS_ADMIN the gated block is in and the
// clone rules that exclude it are out.
func TestDefaultForSysAdmin(t *testing.T) {
	prog := compile(t, DefaultFor([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}))
	X := func(name string) uint32 { return nr(t, specs.ArchX86_64, name) }
	for _, c := range []call{
		{"mount", x64, X("mount"), nil, allow},
		{"unshare", x64, X("unshare"), nil, allow},
		{"clone(CLONE_NEWUSER)", x64, X("clone"), []uint64{unix.CLONE_NEWUSER}, allow},
		{"clone3", x64, X("clone3"), nil, allow},
		{"ptrace", x64, X("ptrace"), nil, allow},
		{"reboot still (CAP_SYS_BOOT's)", x64, X("reboot"), nil, eperm},
	} {
		c.check(t, prog)
	}
}

func ptr(v uint) *uint { return &v }

// TestOperators: each comparison on 64-bit arguments, where the halves
// disagree.
func TestOperators(t *testing.T) {
	const big = 0x00000001_00000005 // high 1, low 5
	rule := func(op specs.LinuxSeccompOperator, v, v2 uint64) []specs.LinuxSyscall {
		return []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 2, Value: v, ValueTwo: v2, Op: op}}}}
	}
	for _, tc := range []struct {
		op      specs.LinuxSeccompOperator
		v, v2   uint64
		yes, no []uint64 // arg 2 values that match, and that do not
	}{
		{specs.OpEqualTo, big, 0, []uint64{big}, []uint64{5, 1 << 32, big + 1, big - 1<<32 + 1<<33}},
		{specs.OpNotEqual, big, 0, []uint64{5, 1 << 32, 0}, []uint64{big}},
		{specs.OpGreaterThan, big, 0, []uint64{big + 1, 2 << 32, 1<<32 | 6}, []uint64{big, 6, 0xffffffff, 1 << 32}},
		{specs.OpGreaterEqual, big, 0, []uint64{big, big + 1, 2 << 32}, []uint64{big - 1, 0xffffffff, 7}},
		{specs.OpLessThan, big, 0, []uint64{big - 1, 0xffffffff, 1 << 32, 6}, []uint64{big, big + 1, 2 << 32}},
		{specs.OpLessEqual, big, 0, []uint64{big, 0xffffffff}, []uint64{big + 1, 2<<32 | 0}},
		{specs.OpMaskedEqual, 0x000000ff_000000f0, 0x00000001_00000010, []uint64{0x00000001_00000010, 0x0000ff01_ff00001f}, []uint64{0x10, 0x00000001_00000020, 0x00000002_00000010, 0x00000001_00000000}},
		{specs.OpGreaterThan, 0, 0, []uint64{1, 1 << 32}, []uint64{0}},
		{specs.OpLessThan, ^uint64(0), 0, []uint64{0, ^uint64(0) - 1}, []uint64{^uint64(0)}},
	} {
		prog := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: rule(tc.op, tc.v, tc.v2)})
		for _, a := range tc.yes {
			call{string(tc.op) + " yes", x64, 0, []uint64{0, 0, a}, allow}.check(t, prog)
		}
		for _, a := range tc.no {
			call{string(tc.op) + " no", x64, 0, []uint64{0, 0, a}, eperm}.check(t, prog)
		}
	}
}

// TestRules: actions, errno values, the order of rules, conditions ANDed,
// the ENOSYS rule only for a denying default.
func TestRules(t *testing.T) {
	X := func(name string) uint32 { return nr(t, specs.ArchX86_64, name) }
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: ptr(uint(unix.EACCES)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX32, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(unix.EBADF)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 2, Op: specs.OpEqualTo}}},
			{Names: []string{"write", "read"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 10, Op: specs.OpLessThan}, {Index: 1, Value: 0, Op: specs.OpNotEqual}}},
			{Names: []string{"write"}, Action: specs.ActLog},
			{Names: []string{"write"}, Action: specs.ActKill}, // never reached
			{Names: []string{"getpid"}, Action: specs.ActTrap},
			{Names: []string{"getppid"}, Action: specs.ActTrace, ErrnoRet: ptr(7)},
			{Names: []string{"gettid"}, Action: specs.ActKillThread},
			{Names: []string{"kill"}, Action: specs.ActKillProcess},
			{Names: []string{"tkill"}, Action: specs.ActErrno},
			{Names: []string{"waitpid", "recv"}, Action: specs.ActAllow}, // neither on x86_64
		},
	}
	prog := compile(t, s)
	eacces := unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
	for _, c := range []call{
		{"write(2, ...): the first rule", x64, X("write"), []uint64{2, 1}, unix.SECCOMP_RET_ERRNO | uint32(unix.EBADF)},
		{"write(3, buf): the second, both conditions", x64, X("write"), []uint64{3, 1}, allow},
		{"write(3, NULL): second fails its second condition, third", x64, X("write"), []uint64{3, 0}, unix.SECCOMP_RET_LOG},
		{"write(11, buf): third", x64, X("write"), []uint64{11, 1}, unix.SECCOMP_RET_LOG},
		{"read(3, buf)", x64, X("read"), []uint64{3, 1}, allow},
		{"read(11, buf): the default, defaultErrnoRet", x64, X("read"), []uint64{11, 1}, eacces},
		{"getpid: TRAP", x64, X("getpid"), nil, unix.SECCOMP_RET_TRAP},
		{"getppid: TRACE(7)", x64, X("getppid"), nil, unix.SECCOMP_RET_TRACE | 7},
		{"gettid: KILL_THREAD", x64, X("gettid"), nil, unix.SECCOMP_RET_KILL_THREAD},
		{"kill: KILL_PROCESS", x64, X("kill"), nil, unix.SECCOMP_RET_KILL_PROCESS},
		{"tkill: ERRNO without errnoRet is EPERM", x64, X("tkill"), nil, eperm},
		{"open: not listed", x64, X("open"), nil, eacces},
		{"above tkill, the highest listed", x64, X("tkill") + 1, nil, enosys},
		{"i386 not listed: killed", x86, 3, nil, killAll},
		{"x32 listed: still killed, no table", x64, 0x40000000, nil, killAll},
	} {
		c.check(t, prog)
	}

	// A default that allows lets newer calls through: no ENOSYS.
	s = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}}
	prog = compile(t, s)
	call{"allow-default: above mount", x64, X("mount") + 1, nil, allow}.check(t, prog)
	call{"allow-default: mount", x64, X("mount"), nil, eperm}.check(t, prog)
	call{"allow-default: 1000", x64, 1000, nil, allow}.check(t, prog)

	// No rule at all: no ENOSYS either (no "highest known").
	prog = compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno})
	call{"empty profile: read", x64, 0, nil, eperm}.check(t, prog)
	call{"empty profile: 1000", x64, 1000, nil, eperm}.check(t, prog)
}

// TestFarJumps: more rules than a conditional jump can cross (255), so
// resolve must route them through BPF_JA.
func TestFarJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i := 0; i < 200; i++ {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(i + 1)),
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(i) << 20, Op: specs.OpEqualTo}}})
	}
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read", "write"}, Action: specs.ActAllow})
	prog := compile(t, s)
	if len(prog) < 1000 {
		t.Fatalf("only %d instructions: the test does not reach far", len(prog))
	}
	ioctl := nr(t, specs.ArchX86_64, "ioctl")
	for _, i := range []int{0, 1, 100, 199} {
		call{"ioctl rule", x64, ioctl, []uint64{0, uint64(i) << 20}, unix.SECCOMP_RET_ERRNO | uint32(i+1)}.check(t, prog)
	}
	call{"ioctl no rule", x64, ioctl, []uint64{0, 200 << 20}, eperm}.check(t, prog)
	call{"read", x64, 0, nil, allow}.check(t, prog)
	call{"write", x64, 1, nil, allow}.check(t, prog)
	call{"x32", x64, 0x40000001, nil, killAll}.check(t, prog)
}

func TestCheck(t *testing.T) {
	ok := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActAllow},
			{Names: []string{"close"}, Action: specs.ActAllow},
			{Names: []string{"waitpid", "recv", "foo"}, Action: specs.ActAllow},
		}}
	}
	for _, tc := range []struct {
		change func(*specs.LinuxSeccomp)
		want   string
	}{
		{func(*specs.LinuxSeccomp) {}, `linux.seccomp.syscalls[3].names[2]: unknown syscall "foo"`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }, "linux.seccomp.defaultAction: missing"},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "SCMP_ACT_NOPE" }, `linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = ptr(5000) }, "linux.seccomp.defaultAction: errnoRet 5000 out of range"},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = specs.ActNotify }, "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY needs a seccomp agent"},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = ptr(1) }, "linux.seccomp.syscalls[0].action: errnoRet is for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[2].Names = nil }, "linux.seccomp.syscalls[2].names: must not be empty"},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}
		}, "linux.seccomp.syscalls[0].args[0].index: 6"},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}, {Index: 1, Op: "SCMP_CMP_BETWEEN"}}
		}, `linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_BETWEEN"`},
		{func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{specs.ArchX86, "SCMP_ARCH_Z80"} }, `linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{func(s *specs.LinuxSeccomp) {
			s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
		}, `linux.seccomp.flags[0]: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" is not supported`},
		{func(s *specs.LinuxSeccomp) { s.ListenerPath = "/run/agent.sock" }, "linux.seccomp.listenerPath: seccomp agents"},
	} {
		s := ok()
		tc.change(s)
		if tc.want != `linux.seccomp.syscalls[3].names[2]: unknown syscall "foo"` {
			s.Syscalls[3].Names = s.Syscalls[3].Names[:2]
		}
		err := Check(s)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Check: %v, want one line starting %q", err, tc.want)
		}
		if _, cerr := Compile(s); cerr == nil || cerr.Error() != err.Error() {
			t.Errorf("Compile: %v, want Check's error", cerr)
		}
	}
	s := ok()
	s.Syscalls[3].Names = s.Syscalls[3].Names[:2]
	s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	if err := Check(s); err != nil {
		t.Errorf("Check(valid): %v", err)
	}
	for _, d := range []*specs.LinuxSeccomp{nil, Default(), DefaultFor(nil), DefaultFor([]string{"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_BPF", "CAP_SYSLOG"})} {
		if err := Check(d); err != nil {
			t.Errorf("Check(Docker's default): %v", err)
		}
	}
}

// TestTables: the generated tables agree with the numbers this build's
// golang.org/x/sys knows, and ztables.go is what mktables.go writes now.
func TestTables(t *testing.T) {
	for _, c := range []struct {
		name string
		want uint32
	}{{"read", 0}, {"execve", 59}, {"clone3", 435}, {"_sysctl", 156}, {"newfstatat", 262}} {
		if got, _ := SyscallNumber(specs.ArchX86_64, c.name); got != c.want {
			t.Errorf("x86_64 %s = %d, want %d", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		want uint32
	}{{"restart_syscall", 0}, {"execve", 11}, {"_llseek", 140}, {"socketcall", 102}, {"clone3", 435}} {
		if got, _ := SyscallNumber(specs.ArchX86, c.name); got != c.want {
			t.Errorf("i386 %s = %d, want %d", c.name, got, c.want)
		}
	}
	if SyscallName(specs.ArchX86_64, unix.SYS_PIDFD_OPEN) != "pidfd_open" || SyscallName(specs.ArchX86_64, unix.SYS_OPENAT2) != "openat2" {
		t.Errorf("x86_64 names disagree with unix.SYS_*")
	}
	// The hash index finds every entry of each table, and nothing else.
	for _, a := range abis {
		for _, e := range a.table {
			if nr, ok := a.number(e.name); !ok || nr != e.nr {
				t.Errorf("%s: number(%q) = %d, %v; want %d", a.arch, e.name, nr, ok, e.nr)
			}
			if n := a.name(e.nr); n != e.name {
				t.Errorf("%s: name(%d) = %q, want %q", a.arch, e.nr, n, e.name)
			}
		}
		for _, n := range []string{"", "waitpid_", "READ", "recv", "riscv_hwprobe"} {
			if nr, ok := a.number(n); ok {
				t.Errorf("%s: number(%q) = %d, want none", a.arch, n, nr)
			}
		}
	}
	if testing.Short() {
		return
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to run mktables.go")
	}
	out := filepath.Join(t.TempDir(), "ztables.go")
	if b, err := exec.Command("go", "run", "mktables.go", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run mktables.go: %v\n%s", err, b)
	}
	now, _ := os.ReadFile(out)
	was, _ := os.ReadFile("ztables.go")
	if !bytes.Equal(now, was) {
		t.Errorf("ztables.go is stale: run go generate ./pkg/seccomp")
	}
}

func TestDisasm(t *testing.T) {
	prog := compile(t, Default())
	text := Disasm(prog)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != len(prog) {
		t.Fatalf("%d lines for %d instructions", len(lines), len(prog))
	}
	for _, want := range []string{
		"   0: ld [4]", "; AUDIT_ARCH of SCMP_ARCH_X86_64", "; __X32_SYSCALL_BIT", "; ERRNO(ENOSYS)", "; ALLOW",
		"; KILL_PROCESS", "; args[0] low 32 bits", "and #0x7e020000", "; clone3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Disasm has no %q", want)
		}
	}
	// Each section names its own ABI's calls: with only read allowed, the
	// x86_64 search splits at 1 (write there) and the i386 one at 3 (read)
	// and 4 (write).
	small := Disasm(compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}}))
	for _, want := range []string{"jge #0x1  -> ", "jge #0x3  -> ", "jge #0x4  -> "} {
		i := strings.Index(small, want)
		if i < 0 {
			t.Fatalf("no %q in\n%s", want, small)
		}
		line := small[i:]
		line = line[:strings.IndexByte(line, '\n')]
		if name := map[string]string{"jge #0x1  -> ": "; write", "jge #0x3  -> ": "; read", "jge #0x4  -> ": "; write"}[want]; !strings.HasSuffix(line, name) {
			t.Errorf("%q: want it named %q", line, name)
		}
	}
}

func TestFromDocker(t *testing.T) {
	profile := `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
			{"name": "getpid", "action": "SCMP_ACT_ALLOW"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
			{"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
			{"names": ["kexec_load"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}}
		]
	}`
	s, err := FromDocker([]byte(profile), []string{"CAP_CHOWN"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join([]string{string(s.Architectures[0]), string(s.Architectures[1]), string(s.Architectures[2])}, " "); len(s.Architectures) != 3 || got != "SCMP_ARCH_X86_64 SCMP_ARCH_X86 SCMP_ARCH_X32" {
		t.Errorf("architectures %v", s.Architectures)
	}
	var names []string
	for _, r := range s.Syscalls {
		names = append(names, strings.Join(r.Names, ","))
	}
	if got := strings.Join(names, " "); got != "read,write getpid clone3 arch_prctl ptrace" {
		t.Errorf("rules %q", got)
	}
	s, _ = FromDocker([]byte(profile), []string{"CAP_SYS_ADMIN"})
	names = nil
	for _, r := range s.Syscalls {
		names = append(names, strings.Join(r.Names, ","))
	}
	if got := strings.Join(names, " "); got != "read,write getpid mount arch_prctl ptrace" {
		t.Errorf("with CAP_SYS_ADMIN: rules %q", got)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}`, `seccomp profile: linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_MAYBE"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["nosuchcall"], "action": "SCMP_ACT_ALLOW"}]}`, `seccomp profile: linux.seccomp.syscalls[0].names[0]: unknown syscall "nosuchcall"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`, "seccomp profile: both architectures and archMap"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "seccomp profile: syscalls[0]: both name and names"},
		{`{"defaultAction": `, "seccomp profile: unexpected end of JSON input"},
		{`{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}`, "seccomp profile: invalid kernel version"},
	} {
		_, err := FromDocker([]byte(bad.json), nil)
		if err == nil || !strings.HasPrefix(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("FromDocker(%s): %v, want one line starting %q", bad.json, err, bad.want)
		}
	}
}

// BenchmarkDefault: what a container start pays for its filter: Docker's
// profile resolved for a bounding set, then compiled.
func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(DefaultFor([]string{"CAP_CHOWN", "CAP_KILL"})); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck: what validating a config.json's linux.seccomp costs.
func BenchmarkCheck(b *testing.B) {
	s := Default()
	for b.Loop() {
		if err := Check(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileDefault: what the init pays for Docker's profile before
// it can load it (the confinement's largest step, issue 10's figures):
// Prepare, the check, the compile and the struct sock_filter array.
func BenchmarkCompileDefault(b *testing.B) {
	s := Default()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Prepare(s); err != nil {
			b.Fatal(err)
		}
	}
}
