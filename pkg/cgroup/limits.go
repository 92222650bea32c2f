package cgroup

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Limits are the resources a container may use. A zero field means "no
// limit": the cgroup is still created (for stats and to kill everything at
// the end) but that file is left as the kernel made it.
type Limits struct {
	Memory     int64   // bytes of RAM (and no swap): memory.max / memory.limit_in_bytes
	Pids       int64   // tasks (processes and threads): pids.max
	CPUs       float64 // cores' worth of CPU time per period: cpu.max / cpu.cfs_quota_us
	CPUWeight  uint64  // relative share, 1..10000 (v2's unit): cpu.weight / cpu.shares
	CpusetCPUs string  // CPUs the tasks may run on, "0" or "0-1,3": cpuset.cpus
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

// Limits parses the flags. Every error is one line naming the flag.
func (f Flags) Limits() (Limits, error) {
	var l Limits
	var err error
	if f.Memory != "" {
		if l.Memory, err = ParseSize(f.Memory); err != nil {
			return Limits{}, fmt.Errorf("--memory %q: %w", f.Memory, err)
		}
	}
	if f.Pids != "" {
		n, err := strconv.ParseInt(f.Pids, 10, 64)
		if err != nil || n <= 0 {
			return Limits{}, fmt.Errorf("--pids %q: want a whole number above 0", f.Pids)
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
		if _, err := ParseCPUList(f.CpusetCPUs); err != nil {
			return Limits{}, fmt.Errorf("--cpuset-cpus %q: %w", f.CpusetCPUs, err)
		}
		l.CpusetCPUs = f.CpusetCPUs
	}
	return l, nil
}

var sizeRE = regexp.MustCompile(`^([0-9]+)([kmgt]?)(i?b)?$`)

// ParseSize reads a size the way docker's --memory does: a whole number of
// bytes with an optional binary suffix k, m, g or t (also kb, kib, ...),
// case-insensitive. "64m" is 67108864.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
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
// "0", "0-3", "0,2-3". It returns the CPU numbers.
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("not a CPU list (like 0, 0-1 or 0,2)")
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
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
	if l.CPUs != 0 || l.CPUWeight != 0 {
		c = append(c, "cpu")
	}
	if l.CpusetCPUs != "" {
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
