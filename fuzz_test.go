// Fuzz targets for every parser of what a user types on minicontainer's
// command line: sizes (--memory), --pids, --cpus, CPU lists (--cpuset-cpus),
// ports (-p), subnets (--subnet), volumes (-v), container names (--name,
// --cgroup-parent), hostnames (--hostname), the environment (-e), the
// seccomp compiler (linux.seccomp, --security-opt seccomp=) and a bundle's
// config.json (FuzzConfig).
//
// They live in this test-only package at the module's root so that their
// seed corpus is the repository's top-level testdata/fuzz/FuzzXxx: go test
// reads a corpus only from the fuzzed package's own testdata/fuzz. Plain
// `go test ./...` (and so CI) runs every seed, from f.Add and from those
// files; `make fuzz` fuzzes each target in turn for FUZZTIME. An input that
// fails is written to testdata/fuzz/FuzzXxx/ by go test: it is committed
// with its fix and stays a seed.
//
// Each target checks properties the runtime relies on, not only "no
// panic": a value accepted is in range, reads back the same through its
// own formatting (parse(format(x)) == x), and agrees with an independent
// oracle where the rule is simple enough to state twice.
package minicontainer_test

import (
	"encoding/json"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/network"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// oneLine fails t when a refusal is not one line: minicontainer prints
// every error as one line (exit 125).
func oneLine(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), "\n") || err.Error() == "") {
		t.Fatalf("error is not one line: %q", err)
	}
}

// FuzzSize: --memory. An accepted size is the number times its binary unit,
// computed here without overflow (math/big), above 0, within an int64; it
// reads back from FormatSize; the flag refuses it exactly when it is under
// cgroup.MinMemory.
func FuzzSize(f *testing.F) {
	for _, s := range []string{"64m", "64M", "64MiB", "1g", "1gb", "6291456", "512k", "0", "-1", "1.5g", "99999999999t", "8191p", " 7m\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := cgroup.ParseSize(s)
		oneLine(t, err)
		l, ferr := cgroup.Flags{Memory: s}.Limits()
		oneLine(t, ferr)
		if err != nil {
			if ferr == nil && s != "" { // "" is the flag not given
				t.Fatalf("--memory %q accepted, ParseSize refused it: %v", s, err)
			}
			return
		}
		// The oracle: ASCII digits, then k, m, g or t, then b or ib
		// (any case), nothing else.
		lower := ""
		for _, r := range strings.TrimSpace(s) {
			if r > 127 {
				t.Fatalf("ParseSize(%q) = %d: accepted a non-ASCII character %q", s, n, r)
			}
			lower += strings.ToLower(string(r))
		}
		num := lower
		if strings.HasSuffix(num, "ib") {
			num = strings.TrimSuffix(num, "ib")
		} else {
			num = strings.TrimSuffix(num, "b")
		}
		shift := uint(0)
		if num != "" {
			if shift = map[byte]uint{'k': 10, 'm': 20, 'g': 30, 't': 40}[num[len(num)-1]]; shift != 0 {
				num = num[:len(num)-1]
			}
		}
		want, ok := new(big.Int).SetString(num, 10)
		if !ok || strings.Trim(num, "0123456789") != "" {
			t.Fatalf("ParseSize(%q) = %d: the number part %q is not decimal digits", s, n, num)
		}
		want.Lsh(want, shift)
		if !want.IsInt64() || want.Int64() != n {
			t.Fatalf("ParseSize(%q) = %d, want %s", s, n, want)
		}
		if n <= 0 {
			t.Fatalf("ParseSize(%q) = %d: a limit must be above 0", s, n)
		}
		if back, err := cgroup.ParseSize(cgroup.FormatSize(n)); err != nil || back != n {
			t.Fatalf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, cgroup.FormatSize(n), back, err)
		}
		if (n < cgroup.MinMemory) != (ferr != nil) {
			t.Fatalf("--memory %q (%d bytes, minimum %d): flag error %v", s, n, cgroup.MinMemory, ferr)
		}
		if ferr == nil && l.Memory != n {
			t.Fatalf("--memory %q: Limits.Memory %d, ParseSize %d", s, l.Memory, n)
		}
	})
}

// FuzzPids: --pids. Accepted: a whole number from cgroup.MinPids to
// cgroup.MaxPids (pids.max takes no more), that reads back the same.
func FuzzPids(f *testing.F) {
	for _, s := range []string{"32", "6", "5", "1", "0", "-1", "+8", "4194304", "4194305", "ten", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := cgroup.Flags{Pids: s}.Limits()
		oneLine(t, err)
		if err != nil || s == "" && l.Pids == 0 { // "" is the flag not given
			return
		}
		if l.Pids < cgroup.MinPids || l.Pids > cgroup.MaxPids {
			t.Fatalf("--pids %q accepted as %d, outside %d..%d", s, l.Pids, cgroup.MinPids, cgroup.MaxPids)
		}
		if n, err := strconv.ParseInt(s, 10, 64); err != nil || n != l.Pids {
			t.Fatalf("--pids %q accepted as %d, but it reads as %d, %v", s, l.Pids, n, err)
		}
	})
}

// FuzzCPUs: --cpus. Accepted: a finite number of cores from 0.01 (a quota
// of 1 ms per 100 ms period, the kernel's minimum) to MaxCPU+1, so that
// the quota written to cpu.max is a sane int64; it reads back the same.
func FuzzCPUs(f *testing.F) {
	for _, s := range []string{"0.5", "2", "0.01", "0.001", "0", "-1", "NaN", "Inf", "1e300", "8192", "8192.5", "0x1p-2", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := cgroup.Flags{CPUs: s}.Limits()
		oneLine(t, err)
		if err != nil || s == "" && l.CPUs == 0 { // "" is the flag not given
			return
		}
		c := l.CPUs
		if math.IsNaN(c) || math.IsInf(c, 0) || c < 0.01 || c > cgroup.MaxCPU+1 {
			t.Fatalf("--cpus %q accepted as %g", s, c)
		}
		if q := int64(c * cgroup.CFSPeriod); q < 1000 || q > (cgroup.MaxCPU+1)*cgroup.CFSPeriod {
			t.Fatalf("--cpus %q: quota %d µs per %d µs", s, q, cgroup.CFSPeriod)
		}
		back, err := cgroup.Flags{CPUs: strconv.FormatFloat(c, 'g', -1, 64)}.Limits()
		if err != nil || back.CPUs != c {
			t.Fatalf("--cpus %q = %g does not read back: %g, %v", s, c, back.CPUs, err)
		}
	})
}

// FuzzCPUList: --cpuset-cpus and /sys/devices/system/cpu/online. Accepted:
// CPU numbers sorted, each once, each within 0..MaxCPU; the list reads
// back from FormatCPUList, and the flag keeps that canonical form (what
// the kernel reads back from cpuset.cpus).
func FuzzCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-1", "0,2", "0-1,3", "3,1,0,1-2", "1-0", "+1", "0,", "-1", "8191", "8192", "0-99999999999", "0-3\n", "0 ,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := cgroup.ParseCPUList(s)
		oneLine(t, err)
		l, ferr := cgroup.Flags{CpusetCPUs: s}.Limits()
		oneLine(t, ferr)
		if err != nil {
			if ferr == nil && strings.TrimSpace(s) != "" {
				t.Fatalf("--cpuset-cpus %q accepted, ParseCPUList refused it: %v", s, err)
			}
			return
		}
		if len(cpus) == 0 {
			t.Fatalf("ParseCPUList(%q): no CPUs and no error", s)
		}
		// Only what the kernel reads: digits, '-' and ',' (no sign: it
		// refuses "+1" with EINVAL), and the newline /sys ends a list with.
		if strings.Trim(strings.TrimSpace(s), "0123456789-,") != "" {
			t.Fatalf("ParseCPUList(%q) = %v: accepted a character the kernel refuses", s, cpus)
		}
		for i, c := range cpus {
			if c < 0 || c > cgroup.MaxCPU || i > 0 && c <= cpus[i-1] {
				t.Fatalf("ParseCPUList(%q) = %v: not sorted, distinct CPUs within 0..%d", s, cpus, cgroup.MaxCPU)
			}
		}
		// Every CPU named in the input is in the set.
		for _, field := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(field)
			if _, found := slices.BinarySearch(cpus, n); !found {
				t.Fatalf("ParseCPUList(%q) = %v: CPU %d is missing", s, cpus, n)
			}
		}
		canon := cgroup.FormatCPUList(cpus)
		back, err := cgroup.ParseCPUList(canon)
		if err != nil || !slices.Equal(back, cpus) {
			t.Fatalf("ParseCPUList(FormatCPUList(%v) = %q) = %v, %v", cpus, canon, back, err)
		}
		if ferr == nil && l.CpusetCPUs != canon {
			t.Fatalf("--cpuset-cpus %q kept as %q, want %q", s, l.CpusetCPUs, canon)
		}
	})
}

// FuzzPort: -p. Accepted: both ports 1..65535, tcp or udp, and
// ParsePort(p.String()) == p.
func FuzzPort(f *testing.F) {
	for _, s := range []string{"8080:80", "53:53/udp", "1:65535/tcp", "0:80", "80:0", "65536:80", "80", "80:80/sctp", "080:80", ":80", "80:", "+1:1", "1:1/tcp/udp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := network.ParsePort(s)
		oneLine(t, err)
		if err != nil {
			return
		}
		if p.Host == 0 || p.Container == 0 || p.Proto != "tcp" && p.Proto != "udp" {
			t.Fatalf("ParsePort(%q) = %+v", s, p)
		}
		if back, err := network.ParsePort(p.String()); err != nil || back != p {
			t.Fatalf("ParsePort(%q) = %+v; ParsePort(%q) = %+v, %v", s, p, p.String(), back, err)
		}
	})
}

// FuzzSubnet: --subnet. Accepted: an IPv4 network address (no host bits)
// with a prefix of /8 to /30, outside the special-purpose ranges, with room
// for the gateway and one container below the broadcast address; it reads
// back from its String.
func FuzzSubnet(f *testing.F) {
	for _, s := range []string{"172.30.0.0/16", "10.0.0.0/8", "192.168.1.0/30", "192.168.1.0/31", "10.0.0.1/24", "127.0.0.0/8", "224.0.0.0/4", "169.254.0.0/16", "240.0.0.0/8", "0.0.0.0/8", "::1/128", "::ffff:10.0.0.0/104", "10.0.0.0", "10.0.0.0/08", "fe80::/10"} {
		f.Add(s)
	}
	special := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("240.0.0.0/4"),
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := network.ParseSubnet(s)
		oneLine(t, err)
		if err != nil {
			return
		}
		if !p.Addr().Is4() || p.Masked() != p || p.Bits() < 8 || p.Bits() > 30 {
			t.Fatalf("ParseSubnet(%q) = %s", s, p)
		}
		for _, sp := range special {
			if sp.Overlaps(p) {
				t.Fatalf("ParseSubnet(%q) = %s, overlapping the special-purpose range %s", s, p, sp)
			}
		}
		gw := network.Gateway(p)
		first := gw.Next()
		b := p.Addr().As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 1 << (7 - i%8)
		}
		last := netip.AddrFrom4(b) // the broadcast address
		if !p.Contains(gw) || !p.Contains(first) || first.Compare(last) >= 0 {
			t.Fatalf("subnet %s: gateway %s, first container %s, broadcast %s", p, gw, first, last)
		}
		if back, err := network.ParseSubnet(p.String()); err != nil || back != p {
			t.Fatalf("ParseSubnet(%q) = %s; ParseSubnet(%q) = %s, %v", s, p, p.String(), back, err)
		}
	})
}

// FuzzVolume: -v HOST:CTR[:ro|:rw]. Accepted: an absolute, clean host path
// and container path, the container path not "/", no NUL byte; read-only
// exactly for ":ro"; and ParseVolume(v.String()) == v.
func FuzzVolume(f *testing.F) {
	for _, s := range []string{"/tmp:/data", "/tmp:/data:ro", "/tmp:/data:rw", "data:/data", "/tmp:/", "/tmp:/a/../..", "/tmp:relative", "/tmp:/data:xx", ":/data", "/tmp:", "a:b:c:d", "/tmp:/data/./x/", "/t\x00mp:/data", "..:/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := rootfs.ParseVolume(s)
		oneLine(t, err)
		if err != nil {
			return
		}
		for _, p := range []string{v.Host, v.Container} {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, "\x00:") {
				t.Fatalf("ParseVolume(%q) = %+v: path %q is not absolute and clean", s, v, p)
			}
		}
		if v.Container == "/" {
			t.Fatalf("ParseVolume(%q) = %+v: mounts over the container's root", s, v)
		}
		if v.ReadOnly != strings.HasSuffix(s, ":ro") {
			t.Fatalf("ParseVolume(%q) = %+v: read-only is %v", s, v, v.ReadOnly)
		}
		if back, err := rootfs.ParseVolume(v.String()); err != nil || back != v {
			t.Fatalf("ParseVolume(%q) = %+v; ParseVolume(%q) = %+v, %v", s, v, v.String(), back, err)
		}
	})
}

// FuzzName: --name and --cgroup-parent, against docker's rule written as a
// regular expression.
func FuzzName(f *testing.F) {
	for _, s := range []string{"web", "web-1", "a.b_c", "_x", "-x", ".x", "", "a/b", "é", "a b", "A9", "x\x00"} {
		f.Add(s)
	}
	rule := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := container.ValidName(s), rule.MatchString(s); got != want {
			t.Fatalf("ValidName(%q) = %v, docker's rule says %v", s, got, want)
		}
	})
}

// FuzzHostname: --hostname. Accepted: 1 to HOST_NAME_MAX bytes of ASCII
// letters, digits, '-' and '.', starting with a letter or digit: nothing
// that could break the /etc/hosts and /etc/hostname lines it is written to.
func FuzzHostname(f *testing.F) {
	for _, s := range []string{"minicontainer", "box-1.example", "-x", ".x", "", "a b", "a\nb", strings.Repeat("h", 64), strings.Repeat("h", 65), "é", "x\x00"} {
		f.Add(s)
	}
	rule := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.-]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		err := rootfs.ValidateHostname(s)
		oneLine(t, err)
		want := rule.MatchString(s) && len(s) <= rootfs.HostNameMax
		if (err == nil) != want {
			t.Fatalf("ValidateHostname(%q) = %v, want accepted=%v", s, err, want)
		}
	})
}

// FuzzEnv: -e, one entry per line of the input. CheckEnv accepts exactly
// the entries with a key and no NUL byte; MergeEnv then gives each key
// once, with the value of its last setting (KEY alone: the host's value,
// here from a fake lookup, or no entry), and keeps the defaults nobody set.
func FuzzEnv(f *testing.F) {
	for _, s := range []string{"A=1\nB=2\nA=3", "PATH=/bin", "HOST_X\nNOPE", "=x", "A", "A=", "A==b", "A=1\x00", "HOME=/x\nHOME", "K=v=w\nK"} {
		f.Add(s)
	}
	base := []string{"PATH=" + rootfs.DefaultPath, "HOME=/root", "HOSTNAME=box"}
	lookup := func(k string) (string, bool) {
		if strings.HasPrefix(k, "H") {
			return "host-" + k, true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, s string) {
		var entries []string
		want := map[string]string{}
		for _, e := range base {
			k, v, _ := strings.Cut(e, "=")
			want[k] = v
		}
		for _, e := range strings.Split(s, "\n") {
			err := container.CheckEnv(e)
			oneLine(t, err)
			k, v, hasValue := strings.Cut(e, "=")
			if ok := k != "" && !strings.Contains(e, "\x00"); (err == nil) != ok {
				t.Fatalf("CheckEnv(%q) = %v", e, err)
			}
			if err != nil {
				continue
			}
			entries = append(entries, e)
			if !hasValue {
				var found bool
				if v, found = lookup(k); !found {
					continue
				}
			}
			want[k] = v
		}
		env := container.MergeEnv(base, entries, lookup)
		got := map[string]string{}
		for _, e := range env {
			k, v, ok := strings.Cut(e, "=")
			if !ok || k == "" || strings.Contains(e, "\x00") {
				t.Fatalf("MergeEnv gave %q in %q", e, env)
			}
			if _, dup := got[k]; dup {
				t.Fatalf("MergeEnv gave %s twice: %q", k, env)
			}
			got[k] = v
		}
		if len(got) != len(want) {
			t.Fatalf("MergeEnv(%q) = %q, want the keys of %v", entries, env, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("MergeEnv(%q): %s=%q, want %q", entries, k, got[k], v)
			}
		}
	})
}

// FuzzConfig: a bundle's config.json, as create reads it (spec.Parse, then
// spec.Validate against a bundle with a rootfs). Every refusal is one line
// starting "config.json: "; an accepted document encodes and decodes to
// the same bytes (what Save writes, Load reads back); and Validate gives
// the decoded copy the same verdict, word for word, so that a config
// spec writes and create reads is judged once. Seeds: testdata/fuzz/
// FuzzConfig, among them `runc spec`'s output.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"ociVersion": "1.0.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}`))
	f.Add([]byte(`{"ociVersion": "1.0.0", "process": {"args": [1]}}`))
	bundle := f.TempDir()
	for _, d := range []string{"rootfs", "data"} {
		if err := os.Mkdir(filepath.Join(bundle, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse(data)
		refusal := func(err error) {
			t.Helper()
			oneLine(t, err)
			if err != nil && !strings.HasPrefix(err.Error(), spec.ConfigName+": ") {
				t.Fatalf("refusal does not name config.json: %q", err)
			}
		}
		refusal(err)
		if err != nil {
			return
		}
		verdict := spec.Validate(s, bundle)
		refusal(verdict)
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a parsed config does not encode: %v", err)
		}
		again, err := spec.Parse(enc)
		if err != nil {
			t.Fatalf("a parsed config, encoded, does not parse: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(again)
		if string(enc) != string(enc2) {
			t.Fatalf("decode(encode(s)) differs:\n%s\n%s", enc, enc2)
		}
		if v2 := spec.Validate(again, bundle); (v2 == nil) != (verdict == nil) || v2 != nil && v2.Error() != verdict.Error() {
			t.Fatalf("Validate changed its verdict over a round trip: %v, then %v\n%s", verdict, v2, enc)
		}
	})
}

// FuzzSeccomp: linux.seccomp (--security-opt seccomp=, config.json). The
// filter Compile builds, run in golang.org/x/net/bpf's VM on a struct
// seccomp_data, answers what a direct reading of the profile says, for a
// random call (ABI, number, two arguments) on Docker's default profile
// (with Docker's capabilities, and with all of them) or on a profile made
// from the input: one rule with a random operator and values on a call,
// then the same call unconditionally with another action, a random
// default and maybe i386. The oracle below reads the profile with Go's
// 64-bit comparisons and seccomp.h's return values, written here again.
func FuzzSeccomp(f *testing.F) {
	for _, s := range []struct {
		which, abi uint8
		nr         uint32
		a0, a1     uint64
		op         uint8
		v1, v2     uint64
	}{
		{0, 0, 0, 0, 0, 0, 0, 0},                   // Docker's: read
		{0, 0, 56, unix.CLONE_NEWUSER, 0, 0, 0, 0}, // clone(CLONE_NEWUSER)
		{0, 0, 135, 1 << 32, 0, 0, 0, 0},           // personality, high half
		{0, 0, 41, unix.AF_VSOCK, 0, 0, 0, 0},      // socket(AF_VSOCK)
		{0, 0, 1000, 0, 0, 0, 0, 0},                // above the highest
		{0, 2, 0, 0, 0, 0, 0, 0},                   // x32 read
		{0, 1, 11, 0, 0, 0, 0, 0},                  // i386 execve
		{0, 3, 63, 0, 0, 0, 0, 0},                  // aarch64
		{1, 0, 165, 0, 0, 0, 0, 0},                 // mount with every capability
		{2, 0, 0, 1<<32 | 5, 0, 2, 1<<32 | 4, 0},   // GT on halves
		{6, 1, 3, 7, 0x10, 13, 0xf0, 0x10},         // i386 MASKED_EQ on args[1]
		{0x8a, 0, 0x40000000 | 59, 0, 0, 3, 0, 0},  // raw number
	} {
		f.Add(s.which, s.abi, s.nr, s.a0, s.a1, s.op, s.v1, s.v2)
	}
	progs := map[int][]bpf.Instruction{}
	profiles := map[int]*specs.LinuxSeccomp{0: seccomp.Default(), 1: seccomp.DefaultFor(caps.Known())}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	actions := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap,
		specs.ActLog, specs.ActTrace, specs.ActKill, specs.ActKillThread}
	defaults := []specs.LinuxSeccompAction{specs.ActErrno, specs.ActAllow, specs.ActKillProcess, specs.ActLog}

	f.Fuzz(func(t *testing.T, which, abi uint8, nr uint32, a0, a1 uint64, op uint8, v1, v2 uint64) {
		if which&0x80 == 0 {
			nr %= 1024 // most numbers a random uint32 gives are above every table
		}
		var s *specs.LinuxSeccomp
		var prog []bpf.Instruction
		if k := int(which & 3); k < 2 {
			s, prog = profiles[k], progs[k]
			if prog == nil {
				var err error
				if prog, err = seccomp.Compile(s); err != nil {
					t.Fatalf("Compile(Docker's default): %v", err)
				}
				progs[k] = prog
			}
		} else {
			// A rule on the call being made (when it has a name), on
			// args[op%2]; then the same call, unconditional.
			name := seccomp.SyscallName(specs.ArchX86_64, nr%512)
			if name == "" {
				name = "read"
			}
			errno := uint(v2 % 4096)
			s = &specs.LinuxSeccomp{
				DefaultAction: defaults[(which>>2)&3],
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{name, "getpid"}, Action: actions[op/7%8], Args: []specs.LinuxSeccompArg{{Index: uint(op % 2), Value: v1, ValueTwo: v2, Op: ops[op%7]}}},
					{Names: []string{name}, Action: actions[(op/7+1)%8]},
				},
			}
			if k == 3 { // two conditions: both must hold
				s.Syscalls[0].Args = append(s.Syscalls[0].Args, specs.LinuxSeccompArg{Index: 1 - uint(op%2), Value: v2, ValueTwo: v1, Op: ops[(op+3)%7]})
			}
			if a := s.Syscalls[0].Action; a == specs.ActErrno || a == specs.ActTrace {
				s.Syscalls[0].ErrnoRet = &errno
			}
			if s.DefaultAction == specs.ActErrno && which&0x40 != 0 {
				s.DefaultErrnoRet = &errno
			}
			if which&0x20 != 0 {
				s.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86}
			}
			var err error
			if prog, err = seccomp.Compile(s); err != nil {
				t.Fatalf("Compile(%+v): %v", s, err)
			}
		}
		arch := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_AARCH64}[abi%4]
		if abi%4 == 2 {
			nr |= 0x40000000 // x32
		}
		d := seccomp.Data{Nr: int32(nr), Arch: arch, Args: [6]uint64{a0, a1}}
		got, err := seccomp.Evaluate(prog, d)
		if err != nil {
			t.Fatalf("VM: %v", err)
		}
		if want := seccompOracle(s, d); got != want {
			t.Fatalf("%+v on %+v: filter returns %#x (%s), the profile says %#x (%s)\n%s",
				d, s, got, seccomp.Action(got), want, seccomp.Action(want), seccomp.Disasm(prog))
		}
	})
}

// seccompOracle reads profile s for call d: the arch (x86_64 without the
// x32 bit; i386 only when listed, its arguments 32 bits), ENOSYS above the highest number the
// profile names on that ABI unless the default lets calls run, then the
// first rule naming the call whose conditions all hold, else the default.
func seccompOracle(s *specs.LinuxSeccomp, d seccomp.Data) uint32 {
	const kill = 0x80000000 // SECCOMP_RET_KILL_PROCESS
	value := func(a specs.LinuxSeccompAction, errnoRet *uint) uint32 {
		data := uint32(1) // EPERM
		if errnoRet != nil {
			data = uint32(*errnoRet)
		}
		switch a {
		case specs.ActKill, specs.ActKillThread:
			return 0
		case specs.ActKillProcess:
			return kill
		case specs.ActTrap:
			return 0x00030000
		case specs.ActErrno:
			return 0x00050000 | data
		case specs.ActTrace:
			return 0x7ff00000 | data
		case specs.ActLog:
			return 0x7ffc0000
		case specs.ActAllow:
			return 0x7fff0000
		}
		panic("oracle: action " + a)
	}
	nr := uint32(d.Nr)
	var abi specs.Arch
	switch {
	case d.Arch == unix.AUDIT_ARCH_X86_64 && nr < 0x40000000:
		abi = specs.ArchX86_64
	case d.Arch == unix.AUDIT_ARCH_I386 && slices.Contains(s.Architectures, specs.ArchX86):
		abi = specs.ArchX86
		for i := range d.Args {
			d.Args[i] = uint64(uint32(d.Args[i])) // i386's arguments are 32 bits
		}
	default:
		return kill
	}
	def := value(s.DefaultAction, s.DefaultErrnoRet)
	highest := int64(-1)
	for _, r := range s.Syscalls {
		for _, n := range r.Names {
			if x, ok := seccomp.SyscallNumber(abi, n); ok && int64(x) > highest {
				highest = int64(x)
			}
		}
	}
	if highest >= 0 && int64(nr) > highest && s.DefaultAction != specs.ActAllow && s.DefaultAction != specs.ActLog {
		return 0x00050000 | uint32(unix.ENOSYS)
	}
	name := seccomp.SyscallName(abi, nr)
	for _, r := range s.Syscalls {
		if name == "" || !slices.Contains(r.Names, name) {
			continue
		}
		holds := true
		for _, c := range r.Args {
			a := d.Args[c.Index]
			switch c.Op {
			case specs.OpEqualTo:
				holds = holds && a == c.Value
			case specs.OpNotEqual:
				holds = holds && a != c.Value
			case specs.OpLessThan:
				holds = holds && a < c.Value
			case specs.OpLessEqual:
				holds = holds && a <= c.Value
			case specs.OpGreaterThan:
				holds = holds && a > c.Value
			case specs.OpGreaterEqual:
				holds = holds && a >= c.Value
			case specs.OpMaskedEqual:
				holds = holds && a&c.Value == c.ValueTwo
			}
		}
		if holds {
			return value(r.Action, r.ErrnoRet)
		}
	}
	return def
}
