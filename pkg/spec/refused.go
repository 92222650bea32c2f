package spec

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A Refusal is a config.json field this build does not honour. Used
// returns the JSON path of the first use of it in a Spec, or "".
// Validate refuses such a Spec, naming the field; Features reports the
// feature as absent from the same table.
type Refusal struct {
	Field string // the field as Features and the docs name it
	Why   string
	Used  func(*specs.Spec) string
}

// Refused lists the fields no part of minicontainer honours yet. An empty
// list or map is no use of a field: it asks for nothing, and encoding it
// again drops it (omitempty), so the verdict survives a Save and Load. Running a
// container without the seccomp filter, id mapping, label or limit its
// config asks for would be a silent downgrade: each is refused by name.
var Refused = []Refusal{
	{"mounts[].uidMappings", "id-mapped mounts are not supported yet", func(s *specs.Spec) string {
		for i, m := range s.Mounts {
			if len(m.UIDMappings) > 0 {
				return fmt.Sprintf("mounts[%d].uidMappings", i)
			}
			if len(m.GIDMappings) > 0 {
				return fmt.Sprintf("mounts[%d].gidMappings", i)
			}
		}
		return ""
	}},
	{"process.apparmorProfile", "AppArmor is not supported",
		func(s *specs.Spec) string { return ifSet(process(s).ApparmorProfile != "", "process.apparmorProfile") }},
	{"process.selinuxLabel", "SELinux is not supported",
		func(s *specs.Spec) string { return ifSet(process(s).SelinuxLabel != "", "process.selinuxLabel") }},
	{"linux.mountLabel", "SELinux is not supported",
		func(s *specs.Spec) string { return ifSet(linux(s).MountLabel != "", "linux.mountLabel") }},
	{"linux.intelRdt", "Intel RDT is not supported",
		func(s *specs.Spec) string { return ifSet(linux(s).IntelRdt != nil, "linux.intelRdt") }},
	{"linux.personality", "personality(2) is not supported yet",
		func(s *specs.Spec) string { return ifSet(linux(s).Personality != nil, "linux.personality") }},
	{"linux.timeOffsets", "time namespaces are not supported yet",
		func(s *specs.Spec) string { return ifSet(len(linux(s).TimeOffsets) > 0, "linux.timeOffsets") }},
	{"linux.memoryPolicy", "NUMA memory policies are not supported yet",
		func(s *specs.Spec) string { return ifSet(linux(s).MemoryPolicy != nil, "linux.memoryPolicy") }},
	{"linux.netDevices", "moving network devices into the container is not supported yet",
		func(s *specs.Spec) string { return ifSet(len(linux(s).NetDevices) > 0, "linux.netDevices") }},
	{"process.ioPriority", "I/O priorities are not supported yet",
		func(s *specs.Spec) string { return ifSet(process(s).IOPriority != nil, "process.ioPriority") }},
	{"process.scheduler", "scheduling policies are not supported yet",
		func(s *specs.Spec) string { return ifSet(process(s).Scheduler != nil, "process.scheduler") }},
	{"process.execCPUAffinity", "CPU affinity is not supported yet",
		func(s *specs.Spec) string { return ifSet(process(s).ExecCPUAffinity != nil, "process.execCPUAffinity") }},
	{"domainname", "setting the NIS domain name is not supported yet",
		func(s *specs.Spec) string { return ifSet(s.Domainname != "", "domainname") }},

	// Resources the cgroup drivers (pkg/cgroup) do not set: memory.max,
	// pids.max, cpu.max, cpu.weight, cpuset.cpus and cpuset.mems are all.
	{"linux.resources.memory.reservation", "a memory reservation (soft limit) is not supported yet",
		func(s *specs.Spec) string {
			return ifSet(memory(s).Reservation != nil, "linux.resources.memory.reservation")
		}},
	{"linux.resources.memory.kernel", "kernel memory limits are obsolete (Linux 5.4) and not supported",
		func(s *specs.Spec) string { return ifSet(memory(s).Kernel != nil, "linux.resources.memory.kernel") }},
	{"linux.resources.memory.kernelTCP", "kernel TCP memory limits are not supported",
		func(s *specs.Spec) string {
			return ifSet(memory(s).KernelTCP != nil, "linux.resources.memory.kernelTCP")
		}},
	{"linux.resources.memory.swappiness", "swappiness is not supported yet",
		func(s *specs.Spec) string {
			return ifSet(memory(s).Swappiness != nil, "linux.resources.memory.swappiness")
		}},
	{"linux.resources.memory.disableOOMKiller", "disabling the OOM killer is not supported",
		func(s *specs.Spec) string {
			d := memory(s).DisableOOMKiller
			return ifSet(d != nil && *d, "linux.resources.memory.disableOOMKiller")
		}},
	{"linux.resources.cpu.burst", "CPU burst is not supported yet",
		func(s *specs.Spec) string { return ifSet(cpu(s).Burst != nil, "linux.resources.cpu.burst") }},
	{"linux.resources.cpu.realtimeRuntime", "real-time CPU limits are not supported",
		func(s *specs.Spec) string {
			return ifSet(cpu(s).RealtimeRuntime != nil, "linux.resources.cpu.realtimeRuntime")
		}},
	{"linux.resources.cpu.realtimePeriod", "real-time CPU limits are not supported",
		func(s *specs.Spec) string {
			return ifSet(cpu(s).RealtimePeriod != nil, "linux.resources.cpu.realtimePeriod")
		}},
	{"linux.resources.cpu.idle", "SCHED_IDLE cgroups are not supported yet",
		func(s *specs.Spec) string { return ifSet(cpu(s).Idle != nil, "linux.resources.cpu.idle") }},
	{"linux.resources.blockIO", "block I/O limits are not supported yet",
		func(s *specs.Spec) string { return ifSet(resources(s).BlockIO != nil, "linux.resources.blockIO") }},
	{"linux.resources.hugepageLimits", "huge page limits are not supported yet",
		func(s *specs.Spec) string {
			return ifSet(len(resources(s).HugepageLimits) > 0, "linux.resources.hugepageLimits")
		}},
	{"linux.resources.network", "net_cls and net_prio are not supported",
		func(s *specs.Spec) string { return ifSet(resources(s).Network != nil, "linux.resources.network") }},
	{"linux.resources.rdma", "RDMA limits are not supported",
		func(s *specs.Spec) string { return ifSet(len(resources(s).Rdma) > 0, "linux.resources.rdma") }},
	{"linux.resources.unified", "raw cgroup v2 files are not supported yet",
		func(s *specs.Spec) string { return ifSet(len(resources(s).Unified) > 0, "linux.resources.unified") }},

	// Sections for other platforms: a Linux runtime cannot honour them,
	// and a config that has one was not written for a Linux container.
	{"solaris", "is for Solaris", func(s *specs.Spec) string { return ifSet(s.Solaris != nil, "solaris") }},
	{"windows", "is for Windows", func(s *specs.Spec) string { return ifSet(s.Windows != nil, "windows") }},
	{"vm", "is for virtual-machine runtimes", func(s *specs.Spec) string { return ifSet(s.VM != nil, "vm") }},
	{"zos", "is for z/OS", func(s *specs.Spec) string { return ifSet(s.ZOS != nil, "zos") }},
	{"freebsd", "is for FreeBSD", func(s *specs.Spec) string { return ifSet(s.FreeBSD != nil, "freebsd") }},
}

// RefusedFields lists Refused's fields, in table order.
func RefusedFields() []string {
	var f []string
	for _, r := range Refused {
		f = append(f, r.Field)
	}
	return f
}

// honoured says whether a field is not in Refused.
func honoured(field string) bool { return !slices.Contains(RefusedFields(), field) }

func ifSet(set bool, path string) string {
	if set {
		return path
	}
	return ""
}

// Nil-safe views of the optional sections, so that each rule reads one
// condition.

func linux(s *specs.Spec) *specs.Linux {
	if s.Linux == nil {
		return &specs.Linux{}
	}
	return s.Linux
}

func process(s *specs.Spec) *specs.Process {
	if s.Process == nil {
		return &specs.Process{}
	}
	return s.Process
}

func resources(s *specs.Spec) *specs.LinuxResources {
	if r := linux(s).Resources; r != nil {
		return r
	}
	return &specs.LinuxResources{}
}

func memory(s *specs.Spec) *specs.LinuxMemory {
	if m := resources(s).Memory; m != nil {
		return m
	}
	return &specs.LinuxMemory{}
}

func cpu(s *specs.Spec) *specs.LinuxCPU {
	if c := resources(s).CPU; c != nil {
		return c
	}
	return &specs.LinuxCPU{}
}
