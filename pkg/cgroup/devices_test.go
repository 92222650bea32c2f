package cgroup

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/minicontainer/minicontainer/pkg/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func num(n int64) *int64 { return &n }

func mustRules(t *testing.T, rules []specs.LinuxDeviceCgroup) []DeviceRule {
	t.Helper()
	r, err := DeviceRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeviceRulesValidation(t *testing.T) {
	bad := []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{Type: "x", Access: "r"}, `linux.resources.devices[1].type: "x" is not a`},
		{specs.LinuxDeviceCgroup{Type: "cc", Access: "r"}, `linux.resources.devices[1].type: "cc"`},
		{specs.LinuxDeviceCgroup{Type: "c", Major: num(-1), Access: "r"}, `linux.resources.devices[1].major: -1 is out of range 0-4095`},
		{specs.LinuxDeviceCgroup{Type: "c", Major: num(4096), Access: "r"}, `linux.resources.devices[1].major: 4096`},
		{specs.LinuxDeviceCgroup{Type: "b", Minor: num(1 << 20), Access: "r"}, `linux.resources.devices[1].minor: 1048576 is out of range 0-1048575`},
		{specs.LinuxDeviceCgroup{Type: "c", Access: ""}, `linux.resources.devices[1].access: must not be empty`},
		{specs.LinuxDeviceCgroup{Type: "c", Access: "rx"}, `linux.resources.devices[1].access: "rx": only r (read), w (write) and m (mknod)`},
		{specs.LinuxDeviceCgroup{Type: "a", Major: num(1), Access: "rwm"}, `linux.resources.devices[1].type: type a means every device`},
		{specs.LinuxDeviceCgroup{Access: "m"}, `linux.resources.devices[1].access: "m": type a covers every access`},
	}
	for i, c := range bad {
		_, err := DeviceRules([]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "r"}, c.rule})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: got %v, want one line starting %q", i, err, c.want)
		}
	}
	got := mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"}, // no type: a, as runc reads it
		{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "mwr"},
		{Allow: true, Type: "b", Minor: num(0), Access: "mm"},
		{Allow: false, Type: "c", Major: num(4095), Minor: num(1<<20 - 1), Access: "w"},
	})
	want := []DeviceRule{
		{Allow: false, Type: 'a', Major: AnyNumber, Minor: AnyNumber, Access: "rwm"},
		{Allow: true, Type: 'c', Major: 1, Minor: 3, Access: "rwm"},
		{Allow: true, Type: 'b', Major: AnyNumber, Minor: 0, Access: "m"},
		{Allow: false, Type: 'c', Major: 4095, Minor: 1<<20 - 1, Access: "w"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DeviceRules:\n got %+v\nwant %+v", got, want)
	}
	var lines []string
	for _, r := range mustRules(t, DefaultDeviceRules) {
		lines = append(lines, r.String())
	}
	if s := strings.Join(lines, ", "); s != "a *:* rwm, c *:* m, b *:* m, c 1:3 rwm, c 1:8 rwm, c 1:7 rwm, c 5:0 rwm, c 1:5 rwm, c 1:9 rwm, c 136:* rwm, c 5:2 rwm, c 10:200 rwm" {
		t.Errorf("default rules: %s", s)
	}
}

// dev is one access to one device, and whether the v1 controller allows it.
type dev struct {
	typ          byte
	major, minor int64
	acc          string
	allow        bool
}

func (d dev) String() string { return fmt.Sprintf("%c %d:%d %s", d.typ, d.major, d.minor, d.acc) }

// The model of the v1 controller against what devices.rst and
// security/device_cgroup.c say a few sequences of writes leave.
func TestDeviceStateLikeV1(t *testing.T) {
	cases := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		list  []string
		devs  []dev
	}{
		{"default", DefaultDeviceRules,
			[]string{"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"},
			[]dev{{'c', 1, 3, "rw", true}, {'c', 1, 11, "r", false}, {'c', 1, 11, "m", true}, {'c', 1, 11, "rm", false},
				{'b', 8, 0, "r", false}, {'b', 8, 0, "m", true}, {'c', 136, 7, "rw", true}, {'c', 10, 200, "rw", true},
				{'c', 5, 1, "r", false}, {'c', 5, 2, "rwm", true}, {'b', 1, 3, "r", false}, {'c', 10, 229, "rw", false}}},
		{"privileged", PrivilegedDeviceRules, []string{"a *:* rwm"},
			[]dev{{'c', 1, 11, "rw", true}, {'b', 8, 0, "rwm", true}}},
		{"nothing: a fresh cgroup allows all", nil, []string{"a *:* rwm"},
			[]dev{{'b', 8, 0, "w", true}}},
		{"accesses of the same device merge; a deny under deny-all takes access away",
			[]specs.LinuxDeviceCgroup{{Access: "rwm"}, devAllow("c", 1, 3, "r"), devAllow("c", 1, 3, "w"), devAllow("c", 1, 5, "rw"), {Type: "c", Major: num(1), Minor: num(5), Access: "w"}},
			[]string{"c 1:3 rw", "c 1:5 r"},
			[]dev{{'c', 1, 3, "rw", true}, {'c', 1, 3, "m", false}, {'c', 1, 5, "r", true}, {'c', 1, 5, "w", false}}},
		{"one exception must grant every access asked for",
			[]specs.LinuxDeviceCgroup{{Access: "rwm"}, devAllow("c", 1, 3, "r"), devAllow("c", 1, AnyNumber, "w")},
			[]string{"c 1:3 r", "c 1:* w"},
			[]dev{{'c', 1, 3, "r", true}, {'c', 1, 3, "w", true}, {'c', 1, 3, "rw", false}}},
		{"a deny does not punch a hole in a wider allow",
			[]specs.LinuxDeviceCgroup{{Access: "rwm"}, devAllow("c", 1, AnyNumber, "rw"), {Type: "c", Major: num(1), Minor: num(3), Access: "rw"}},
			[]string{"c 1:* rw"},
			[]dev{{'c', 1, 3, "r", true}}},
		{"allow-all with deny exceptions: any access named refuses",
			[]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, {Type: "c", Major: num(1), Minor: num(11), Access: "r"}, {Type: "b", Access: "w"}},
			[]string{"a *:* rwm"},
			[]dev{{'c', 1, 11, "r", false}, {'c', 1, 11, "rw", false}, {'c', 1, 11, "w", true}, {'b', 8, 0, "r", true}, {'b', 8, 0, "rw", false}}},
		{"an allow under allow-all removes a deny exception",
			[]specs.LinuxDeviceCgroup{{Type: "c", Major: num(1), Minor: num(11), Access: "rw"}, devAllow("c", 1, 11, "r")},
			[]string{"a *:* rwm"},
			[]dev{{'c', 1, 11, "r", true}, {'c', 1, 11, "w", false}}},
		{"a later a resets the list", append(append([]specs.LinuxDeviceCgroup{}, DefaultDeviceRules...), PrivilegedDeviceRules...),
			[]string{"a *:* rwm"}, []dev{{'c', 1, 11, "r", true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := stateOf(mustRules(t, c.rules))
			if !reflect.DeepEqual(s.list(), c.list) {
				t.Errorf("devices.list:\n got %q\nwant %q", s.list(), c.list)
			}
			for _, d := range c.devs {
				if got := s.allows(d.typ, d.major, d.minor, parseAccess(d.acc)); got != d.allow {
					t.Errorf("%s: allowed %v, want %v", d, got, d.allow)
				}
			}
		})
	}
}

// runDeviceProgram interprets the instructions DeviceProgram emits — the
// kernel cannot run a cgroup device program outside a cgroup
// (BPF_PROG_TEST_RUN does not support the type) — on a
// bpf_cgroup_dev_ctx. Any other instruction fails the test.
func runDeviceProgram(t *testing.T, p asm.Instructions, typ byte, major, minor int64, acc accessBits) bool {
	t.Helper()
	ctx := make([]byte, 12)
	devType := uint32(devcgDevChar)
	if typ == 'b' {
		devType = devcgDevBlock
	}
	binary.NativeEndian.PutUint32(ctx[0:], uint32(acc)<<16|devType)
	binary.NativeEndian.PutUint32(ctx[4:], uint32(major))
	binary.NativeEndian.PutUint32(ctx[8:], uint32(minor))
	labels := map[string]int{}
	for i, ins := range p {
		if s := ins.Symbol(); s != "" {
			labels[s] = i
		}
	}
	var reg [11]uint64
	for pc, steps := 0, 0; pc < len(p); steps++ {
		if steps > len(p) {
			t.Fatalf("program loops")
		}
		ins := p[pc]
		op := ins.OpCode
		pc++
		switch {
		case op.Class() == asm.LdXClass && op.Mode() == asm.MemMode && op.Size() == asm.Word && ins.Src == asm.R1:
			reg[ins.Dst] = uint64(binary.NativeEndian.Uint32(ctx[ins.Offset:]))
		case op.Class().IsALU():
			v := uint64(ins.Constant)
			if op.Source() == asm.RegSource {
				v = reg[ins.Src]
			}
			switch op.ALUOp() {
			case asm.Mov:
				reg[ins.Dst] = v
			case asm.And:
				reg[ins.Dst] &= v
			case asm.RSh:
				reg[ins.Dst] >>= v
			default:
				t.Fatalf("unexpected instruction %v", ins)
			}
			if op.Class() == asm.ALUClass {
				reg[ins.Dst] = uint64(uint32(reg[ins.Dst]))
			}
		case op.JumpOp() == asm.Exit:
			if reg[0] > 1 {
				t.Fatalf("returns %d", reg[0])
			}
			return reg[0] == 1
		case op.JumpOp() == asm.JNE || op.JumpOp() == asm.JEq:
			target, ok := labels[ins.Reference()]
			if !ok || target < pc || op.Source() != asm.ImmSource {
				t.Fatalf("bad jump %v", ins)
			}
			if (reg[ins.Dst] != uint64(ins.Constant)) == (op.JumpOp() == asm.JNE) {
				pc = target
			}
		default:
			t.Fatalf("unexpected instruction %v", ins)
		}
	}
	t.Fatal("ran off the end")
	return false
}

// The v2 program answers every access as the v1 controller would after the
// same rules, over devices and accesses that each rule set treats
// differently.
func TestDeviceProgramMatchesV1(t *testing.T) {
	sets := map[string][]specs.LinuxDeviceCgroup{
		"default":    DefaultDeviceRules,
		"privileged": PrivilegedDeviceRules,
		"none":       nil,
		"deny-all":   {{Access: "rwm"}},
		"partial":    {{Access: "rwm"}, devAllow("c", 1, 3, "r"), devAllow("c", 1, AnyNumber, "w"), devAllow("b", AnyNumber, 0, "rm"), devAllow("c", AnyNumber, 11, "m")},
		"allow-all":  {{Allow: true, Access: "rwm"}, {Type: "c", Major: num(1), Minor: num(11), Access: "r"}, {Type: "b", Access: "w"}, {Type: "c", Major: num(136), Access: "rwm"}},
	}
	majors := []int64{0, 1, 5, 8, 10, 136, 4095}
	minors := []int64{0, 1, 2, 3, 5, 7, 8, 9, 11, 200, 1<<20 - 1}
	for name, rules := range sets {
		r := mustRules(t, rules)
		s, p := stateOf(r), DeviceProgram(r)
		n := 0
		for _, typ := range []byte{'c', 'b'} {
			for _, ma := range majors {
				for _, mi := range minors {
					for acc := accessBits(1); acc <= accAll; acc++ {
						want := s.allows(typ, ma, mi, acc)
						if got := runDeviceProgram(t, p, typ, ma, mi, acc); got != want {
							t.Errorf("%s: %c %d:%d %s: program says %v, v1 model %v", name, typ, ma, mi, acc, got, want)
						}
						n++
					}
				}
			}
		}
		t.Logf("%s: %d instructions agree with the v1 model on %d accesses", name, len(p), n)
	}
	// The default program: 6 loads, a block per allowed device, the
	// default "r0 = 0; exit".
	p := DeviceProgram(mustRules(t, DefaultDeviceRules))
	if last := p[len(p)-2:]; last[0].Constant != 0 || last[1].OpCode.JumpOp() != asm.Exit {
		t.Errorf("default program does not end in deny: %v", last)
	}
	if len(p) < 6+11*2+2 {
		t.Errorf("default program has only %d instructions:\n%v", len(p), p)
	}
}

// addDevicesFiles gives the fake tree's devices hierarchy the controller's
// files, with the kernel's initial devices.list.
func addDevicesFiles(t *testing.T, h *Host) {
	inner := h.fs.(fakeFS)
	h.fs = fakeFS{t: t, files: func(dir string) map[string]string {
		m := inner.files(dir)
		if strings.HasPrefix(dir, h.V1["devices"]+"/") {
			m["devices.allow"], m["devices.deny"], m["devices.list"] = "", "", "a *:* rwm\n"
		}
		return m
	}}
}

// On v1 the rules are written one by one, in order, into devices.deny and
// devices.allow of the container's devices cgroup, and narrated.
func TestV1FakeTreeDevices(t *testing.T) {
	h := fakeV1(t)
	addDevicesFiles(t, h)
	var narration bytes.Buffer
	cg, err := New(h, Parent, "ab12", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(); err != nil {
		t.Fatal(err)
	}
	if err := cg.SetDevices(mustRules(t, DefaultDeviceRules), explain.New(&narration, true)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.V1["devices"], Parent, "ab12")
	var want []string
	for i, r := range mustRules(t, DefaultDeviceRules) {
		file, line := "devices.allow", r.String()
		if i == 0 {
			file, line = "devices.deny", "a"
		}
		want = append(want, fmt.Sprintf("write(%q, %q) = %d", filepath.Join(dir, file), line, len(line)))
	}
	var got []string
	for _, l := range strings.Split(narration.String(), "\n") {
		if strings.HasPrefix(l, "write(") {
			got = append(got, strings.Split(l, "   [")[0])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A host without a devices hierarchy: one line, no write.
	h2 := fakeV1(t)
	cg2, _ := New(h2, Parent, "cd34", nil)
	if err := cg2.Create(); err != nil {
		t.Fatal(err)
	}
	err = cg2.SetDevices(mustRules(t, DefaultDeviceRules), nil)
	if err == nil || !strings.Contains(err.Error(), "no devices cgroup controller") {
		t.Errorf("without a devices hierarchy: %v", err)
	}
}
