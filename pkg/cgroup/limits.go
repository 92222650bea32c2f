package cgroup

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Limits are the resources a container may use. A zero field means "no
// limit": the cgroup is still created (for stats and to kill everything at
// the end) but that file is left as the kernel made it.
type Limits struct {
	Memory    int64   // bytes of RAM (and no swap): memory.max / memory.limit_in_bytes
	Pids      int64   // tasks (processes and threads): pids.max
	CPUs      float64 // cores' worth of CPU time per period: cpu.max / cpu.cfs_quota_us
	CPUWeight uint64  // relative share, 1..10000 (v2's unit): cpu.weight / cpu.shares
	// CPUShares is the same share in v1's unit, 2..262144, as a
	// config.json gives it (linux.resources.cpu.shares): written as it is
	// to cpu.shares, so that containerd's 1024 reads back 1024 (a trip
	// through a weight rounds it to 999); on v2 it becomes a weight
	// (SharesToWeight). CPUWeight wins when both are set.
	CPUShares uint64
	// CPUQuota and CPUPeriod are the same bandwidth as CPUs, in µs of CPU
	// time per period, as a config.json gives them
	// (linux.resources.cpu.quota, .period): written as they are, so that
	// a period other than CFSPeriod reads back as given (CPUs alone is
	// always CPUs×CFSPeriod per CFSPeriod). A quota wins over CPUs, which
	// stays set beside it for Check; a period of 0 is CFSPeriod.
	CPUQuota   int64
	CPUPeriod  uint64
	CpusetCPUs string // CPUs the tasks may run on, "0" or "0-1,3": cpuset.cpus
	// CpusetMems are the memory (NUMA) nodes they may allocate from, as
	// linux.resources.cpu.mems gives them: cpuset.mems.
	CpusetMems string
}

// Flags is the command-line face of Limits, meant to be embedded in a kong
// command. The values stay strings so that "--pids 0" and "--pids -1" can be
// told apart from "not given" and refused with a clear message.
type Flags struct {
	Memory     string `help:"Memory limit (RAM, no swap), like docker: 64m, 512k, 1g." placeholder:"SIZE"`
	Pids       string `help:"Most tasks (processes and threads) the container may have." placeholder:"N"`
	CPUs       string `name:"cpus" help:"CPU time, in cores (0.5 = half of one core)." placeholder:"N"`
	CPUWeight  string `name:"cpu-weight" help:"Relative CPU share under contention, 1..10000 (default 100)." placeholder:"W"`
	CpusetCPUs string `name:"cpuset-cpus" help:"CPUs the container may run on: 0, 0-1, 0,2." placeholder:"LIST"`
}

// CFSPeriod is the CPU bandwidth period runc and docker use: 100 ms, in
// microseconds. --cpus N becomes a quota of N×period per period.
const CFSPeriod = 100000

// MinMemory is the smallest --memory accepted: docker's minimum (moby's
// daemon/daemon_unix.go, linuxMinMemory, "Minimum memory limit allowed is
// 6MB"). A container's init, its command's first pages and the page cache
// of its root filesystem are charged to its memory cgroup from the start:
// below a few MiB the kernel OOM-kills it before the command runs
// (--memory 1 exited 137).
const MinMemory = 6 << 20

// MinPids is the smallest --pids accepted. pids.max counts threads too,
// and the container's init is this Go program started again: its runtime
// starts threads of its own (sysmon, one per blocking system call) before
// the command replaces it. At 4 the init failed to start 3 times in 100 on
// a loaded host ("runtime: failed to create new OS thread", a Go fatal
// error), at 1 or 2 half the time; at 5 it started 100 times in 100. The
// same on a pure v2 kernel, where CLONE_INTO_CGROUP counts every thread
// from the first (at 4: 9 in 15; at 5 and 6: 30 in 30). One more leaves
// the command a process of its own to start.
const MinPids = 6

// MaxPids is the largest value pids.max takes: PID_MAX_LIMIT, 4194304 on
// 64-bit (kernel/cgroup/pids.c refuses PIDS_MAX = PID_MAX_LIMIT+1 and up).
const MaxPids = 4 << 20

// MaxCPU is the highest CPU number accepted in a CPU list, and MaxCPU+1 the
// most cores --cpus takes: the kernel is built for at most 8192 CPUs
// (CONFIG_NR_CPUS on x86-64 with CONFIG_MAXSMP, arch/x86/Kconfig). The
// bound also keeps a list such as 0-99999999999 from being expanded into
// memory at all.
const MaxCPU = 8191

// Limits parses the flags. Every error is one line naming the flag.
func (f Flags) Limits() (Limits, error) {
	var l Limits
	var err error
	if f.Memory != "" {
		if l.Memory, err = ParseSize(f.Memory); err != nil {
			return Limits{}, fmt.Errorf("--memory %q: %w", f.Memory, err)
		}
		if l.Memory < MinMemory {
			return Limits{}, fmt.Errorf("--memory %q: the minimum is %s (as docker's): below it the container is killed for lack of memory before its command runs",
				f.Memory, FormatSize(MinMemory))
		}
	}
	if f.Pids != "" {
		n, err := strconv.ParseInt(f.Pids, 10, 64)
		if err != nil || n <= 0 {
			return Limits{}, fmt.Errorf("--pids %q: want a whole number above 0", f.Pids)
		}
		if n < MinPids {
			return Limits{}, fmt.Errorf("--pids %q: the minimum is %d: the container's init is a Go program, and each of its threads counts as a task", f.Pids, MinPids)
		}
		if n > MaxPids {
			return Limits{}, fmt.Errorf("--pids %q: the kernel's pids.max stops at %d", f.Pids, MaxPids)
		}
		l.Pids = n
	}
	if f.CPUs != "" {
		c, err := strconv.ParseFloat(f.CPUs, 64)
		if err != nil || math.IsNaN(c) || math.IsInf(c, 0) || c <= 0 {
			return Limits{}, fmt.Errorf("--cpus %q: want a number of cores above 0, like 0.5", f.CPUs)
		}
		// The kernel refuses a quota under 1 ms (see the kernel's
		// Documentation/scheduler/sched-bwc.rst), i.e. 0.01 of a core.
		if c*CFSPeriod < 1000 {
			return Limits{}, fmt.Errorf("--cpus %q: the smallest CPU limit is 0.01", f.CPUs)
		}
		// Also keeps the quota, c×CFSPeriod, far inside an int64.
		if c > MaxCPU+1 {
			return Limits{}, fmt.Errorf("--cpus %q: more than %d, the most CPUs a Linux kernel supports", f.CPUs, MaxCPU+1)
		}
		l.CPUs = c
	}
	if f.CPUWeight != "" {
		w, err := strconv.ParseUint(f.CPUWeight, 10, 64)
		if err != nil || w < 1 || w > 10000 {
			return Limits{}, fmt.Errorf("--cpu-weight %q: want a whole number from 1 to 10000", f.CPUWeight)
		}
		l.CPUWeight = w
	}
	if f.CpusetCPUs != "" {
		cpus, err := ParseCPUList(f.CpusetCPUs)
		if err != nil {
			return Limits{}, fmt.Errorf("--cpuset-cpus %q: %w", f.CpusetCPUs, err)
		}
		// The kernel's own form of the list, as cpuset.cpus reads back
		// ("1,0" becomes "0-1"): what is written is what stats shows.
		l.CpusetCPUs = FormatCPUList(cpus)
	}
	return l, nil
}

// sizeRE is compiled on first use, not at package initialisation: every
// container init is this binary started again, and runs every package's
// initialisation, though it never parses a size.
var sizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)([kmgt]?)(i?b)?$`) })

// ParseSize reads a size the way docker's --memory does: a whole number of
// bytes with an optional binary suffix k, m, g or t (also kb, kib, ...),
// case-insensitive. "64m" is 67108864.
func ParseSize(s string) (int64, error) {
	// ASCII letters only: strings.ToLower would also turn the Kelvin sign
	// U+212A into a 'k' and let "1\u212a" pass for 1024.
	lower := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
	m := sizeRE().FindStringSubmatch(lower)
	if m == nil {
		return 0, fmt.Errorf("not a size (use a number with an optional k, m or g suffix, like 64m)")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("too large")
	}
	if n == 0 {
		return 0, fmt.Errorf("a limit of 0 bytes would kill the container at once")
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m[2]]
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("too large")
	}
	return n << shift, nil
}

// FormatSize writes bytes in the largest binary unit that divides them:
// 67108864 is "64MiB", 1000 is "1000B".
func FormatSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// ParseCPUList reads the kernel's CPU list format (see cpuset(7), "FORMATS"):
// "0", "0-3", "0,2-3". It returns the CPU numbers, sorted, each once (the
// kernel takes "1,0" and "0-2,1" too). A number is decimal digits only
// (no sign: the kernel refuses "+1") and at most MaxCPU.
func ParseCPUList(s string) ([]int, error) {
	bad := fmt.Errorf("not a CPU list (like 0, 0-1 or 0,2)")
	cpu := func(s string) (int, error) {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return 0, bad
		}
		n, err := strconv.Atoi(s)
		if err != nil || n > MaxCPU {
			return 0, fmt.Errorf("CPU %s: CPU numbers stop at %d", s, MaxCPU)
		}
		return n, nil
	}
	// A set, not a list: "0-8191,0-8191,..." costs no memory.
	var set [MaxCPU + 1]bool
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := cpu(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = cpu(hi); err != nil {
				return nil, err
			}
		}
		if b < a {
			return nil, bad
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	var cpus []int
	for c, in := range set {
		if in {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// FormatCPUList writes sorted, distinct CPU numbers in the kernel's CPU list
// format, runs as ranges: [0 1 2 5] is "0-2,5".
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// bandwidth is the CPU quota and period to write, in µs (ok is false when
// there is no CPU time limit).
func (l Limits) bandwidth() (quota int64, period uint64, ok bool) {
	if l.CPUQuota > 0 {
		if l.CPUPeriod == 0 {
			return l.CPUQuota, CFSPeriod, true
		}
		return l.CPUQuota, l.CPUPeriod, true
	}
	if l.CPUs != 0 {
		return int64(l.CPUs * CFSPeriod), CFSPeriod, true
	}
	return 0, 0, false
}

// Controllers lists the controllers these limits need, so a host lacking
// one is refused before anything is created.
func (l Limits) Controllers() []string {
	var c []string
	if l.Memory != 0 {
		c = append(c, "memory")
	}
	if l.Pids != 0 {
		c = append(c, "pids")
	}
	if l.CPUs != 0 || l.CPUQuota != 0 || l.CPUWeight != 0 || l.CPUShares != 0 {
		c = append(c, "cpu")
	}
	if l.CpusetCPUs != "" || l.CpusetMems != "" {
		c = append(c, "cpuset")
	}
	return c
}

// Check refuses limits this host cannot apply: a controller it does not
// have, more CPUs than it has, a CPU that is not online. It creates nothing.
func (l Limits) Check(h *Host) error {
	for _, c := range l.Controllers() {
		if !h.Has(c) {
			return fmt.Errorf("this host has no %s cgroup controller (%s); cannot apply the %s limit", c, h.Mode, c)
		}
	}
	if n := len(h.OnlineCPUs); l.CPUs > float64(n) && n > 0 {
		return fmt.Errorf("--cpus %g: this host has only %d CPUs", l.CPUs, n)
	}
	if l.CpusetCPUs != "" {
		want, err := ParseCPUList(l.CpusetCPUs)
		if err != nil {
			return fmt.Errorf("--cpuset-cpus %q: %w", l.CpusetCPUs, err)
		}
		online := map[int]bool{}
		for _, c := range h.OnlineCPUs {
			online[c] = true
		}
		for _, c := range want {
			if !online[c] {
				return fmt.Errorf("--cpuset-cpus %q: CPU %d is not online on this host", l.CpusetCPUs, c)
			}
		}
	}
	if l.CpusetMems != "" {
		want, err := ParseCPUList(l.CpusetMems)
		if err != nil {
			return fmt.Errorf("cpuset mems %q: %w", l.CpusetMems, err)
		}
		// The online memory nodes (sysfs-devices-node(5)); a kernel without
		// NUMA has only node 0 and may not have the file.
		online := map[int]bool{0: true}
		if data, err := os.ReadFile("/sys/devices/system/node/online"); err == nil {
			if nodes, err := ParseCPUList(strings.TrimSpace(string(data))); err == nil {
				online = map[int]bool{}
				for _, n := range nodes {
					online[n] = true
				}
			}
		}
		for _, n := range want {
			if !online[n] {
				return fmt.Errorf("cpuset mems %q: memory node %d is not online on this host", l.CpusetMems, n)
			}
		}
	}
	return nil
}

// WeightToShares maps a v2 cpu.weight (1..10000, default 100) to a v1
// cpu.shares (2..262144, default 1024). It inverts the linear mapping runc
// uses the other way (libcontainer/cgroups, ConvertCPUSharesToCgroupV2Value):
// weight = 1 + (shares-2)×9999/262142, so the ends match (1↔2, 10000↔262144)
// but the defaults do not: weight 100 becomes shares 2598, and runc turns
// docker's default 1024 shares into weight 39. Rounded up, so that runc's
// formula maps the result back to the same weight.
func WeightToShares(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	return 2 + ((w-1)*262142+9998)/9999
}

// SharesToWeight is runc's mapping of a v1 cpu.shares onto a v2
// cpu.weight (ConvertCPUSharesToCgroupV2Value): 2..262144 onto 1..10000,
// linearly; out-of-range shares are clamped to the ends.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}
