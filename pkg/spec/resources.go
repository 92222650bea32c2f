package spec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

// The CPU bandwidth bounds (the kernel's Documentation/scheduler/
// sched-bwc.rst: "The minimum quota allowed for the quota period is 1ms.
// There is also an upper bound on the period length of 1s").
const (
	minCPUPeriod = 1000    // µs
	maxCPUPeriod = 1000000 // µs
	minCPUQuota  = 1000    // µs
	// cpu.shares' range in cgroup v1 (kernel/sched: MIN_SHARES 2,
	// MAX_SHARES 1<<18); v2's cpu.weight is derived from it.
	minShares = 2
	maxShares = 1 << 18
)

// checkResources: linux.resources, the cgroup limits, with the same
// minimums as run's flags (pkg/cgroup): a memory limit under
// cgroup.MinMemory or a pids limit under cgroup.MinPids would kill the
// container before its command runs. -1 means no limit, as in runc.
func checkResources(s *specs.Spec, _ string) error {
	r := linux(s).Resources
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		if l := m.Limit; l != nil && *l != -1 && *l < cgroup.MinMemory {
			return bad("linux.resources.memory.limit", "%d: the minimum is %d (%s, as docker's): below it the container is killed for lack of memory before its command runs; -1 is no limit",
				*l, cgroup.MinMemory, cgroup.FormatSize(cgroup.MinMemory))
		}
		// memory.swap is memory plus swap (runtime-spec). This build gives
		// a container no swap, so only swap == limit (no swap) is honoured.
		if sw := m.Swap; sw != nil {
			if m.Limit == nil || *sw != *m.Limit {
				return bad("linux.resources.memory.swap", "%d: swap is not supported yet; only memory.swap equal to memory.limit (no swap) is", *sw)
			}
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit != -1 {
		l := *p.Limit
		if l < cgroup.MinPids {
			return bad("linux.resources.pids.limit", "%d: the minimum is %d: the container's init is a Go program, and each of its threads counts as a task; -1 is no limit", l, cgroup.MinPids)
		}
		if l > cgroup.MaxPids {
			return bad("linux.resources.pids.limit", "%d: the kernel's pids.max stops at %d", l, cgroup.MaxPids)
		}
	}
	if c := r.CPU; c != nil {
		if sh := c.Shares; sh != nil && (*sh < minShares || *sh > maxShares) {
			return bad("linux.resources.cpu.shares", "%d is out of range (%d to %d)", *sh, minShares, maxShares)
		}
		if p := c.Period; p != nil && (*p < minCPUPeriod || *p > maxCPUPeriod) {
			return bad("linux.resources.cpu.period", "%d µs is out of range (%d to %d)", *p, minCPUPeriod, maxCPUPeriod)
		}
		if q := c.Quota; q != nil && *q != -1 && *q < minCPUQuota {
			return bad("linux.resources.cpu.quota", "%d µs: the smallest quota is %d µs; -1 is no limit", *q, minCPUQuota)
		}
		if q := c.Quota; q != nil && *q > int64(cgroup.MaxCPU+1)*maxCPUPeriod {
			return bad("linux.resources.cpu.quota", "%d µs is more than %d CPUs' worth of any period", *q, cgroup.MaxCPU+1)
		}
		for _, l := range []struct{ name, v string }{{"cpus", c.Cpus}, {"mems", c.Mems}} {
			if l.v == "" {
				continue
			}
			// cpuset.mems is a list of memory nodes, written as CPU lists
			// are (cpuset(7), "FORMATS").
			if _, err := cgroup.ParseCPUList(l.v); err != nil {
				return bad("linux.resources.cpu."+l.name, "%q: not a list (like 0, 0-1 or 0,2)", l.v)
			}
		}
	}
	return nil
}
