package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// base parses runcSpec afresh: every case changes its own copy.
func base(t *testing.T) *specs.Spec {
	t.Helper()
	var s specs.Spec
	if err := json.Unmarshal([]byte(runcSpec), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func ptr[T any](v T) *T { return &v }

// userNS adds a new user namespace, 0-65535 mapped to 100000-165535.
func userNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.UIDMappings, s.Linux.GIDMappings = m, slices.Clone(m)
}

// withoutNS drops namespace type typ.
func withoutNS(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var keep []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != typ {
			keep = append(keep, n)
		}
	}
	s.Linux.Namespaces = keep
}

// nsPath gives namespace type typ a path.
func nsPath(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			s.Linux.Namespaces[i].Path = path
		}
	}
}

// badConfigs: each change to runc's default config makes it invalid, and
// the error names the field by this JSON path. Every rule of Validate has
// at least one row.
var badConfigs = []struct {
	path   string
	change func(s *specs.Spec, bundle string)
}{
	// ociVersion
	{"ociVersion", func(s *specs.Spec, _ string) { s.Version = "0.9.0" }},
	// root
	{"root", func(s *specs.Spec, _ string) { s.Root = nil }},
	{"root.path", func(s *specs.Spec, _ string) { s.Root.Path = "" }},
	{"root.path", func(s *specs.Spec, _ string) { s.Root.Path = "missing" }},
	{"root.path", func(s *specs.Spec, b string) { s.Root.Path = ConfigName }},
	{"root.path", func(s *specs.Spec, _ string) { s.Root.Path = "/" }},
	{"root.path", func(s *specs.Spec, _ string) { s.Root.Path = "root\x00fs" }},
	// process
	{"process", func(s *specs.Spec, _ string) { s.Process = nil }},
	{"process.args", func(s *specs.Spec, _ string) { s.Process.Args = nil }},
	{"process.args[0]", func(s *specs.Spec, _ string) { s.Process.Args = []string{""} }},
	{"process.args[1]", func(s *specs.Spec, _ string) { s.Process.Args = []string{"sh", "a\x00b"} }},
	{"process.cwd", func(s *specs.Spec, _ string) { s.Process.Cwd = "" }},
	{"process.cwd", func(s *specs.Spec, _ string) { s.Process.Cwd = "home" }},
	{"process.env[1]", func(s *specs.Spec, _ string) { s.Process.Env[1] = "TERM" }},
	{"process.env[0]", func(s *specs.Spec, _ string) { s.Process.Env[0] = "=x" }},
	{"process.env[1]", func(s *specs.Spec, _ string) { s.Process.Env[1] = "A=1\x00" }},
	{"process.user.uid", func(s *specs.Spec, _ string) { s.Process.User.UID = 1<<32 - 1 }},
	{"process.user.gid", func(s *specs.Spec, _ string) { s.Process.User.GID = 1<<32 - 1 }},
	{"process.user.additionalGids[1]", func(s *specs.Spec, _ string) { s.Process.User.AdditionalGids = []uint32{5, 1<<32 - 1} }},
	{"process.user.umask", func(s *specs.Spec, _ string) { s.Process.User.Umask = ptr(uint32(0o1000)) }},
	{"process.user.username", func(s *specs.Spec, _ string) { s.Process.User.Username = "test" }},
	{"process.rlimits[0].type", func(s *specs.Spec, _ string) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }},
	{"process.rlimits[0].type", func(s *specs.Spec, _ string) { s.Process.Rlimits[0].Type = "nofile" }},
	{"process.rlimits[1].type", func(s *specs.Spec, _ string) {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 1, Soft: 1})
	}},
	{"process.rlimits[0].soft", func(s *specs.Spec, _ string) { s.Process.Rlimits[0].Soft = 2048 }},
	{"process.oomScoreAdj", func(s *specs.Spec, _ string) { s.Process.OOMScoreAdj = ptr(1001) }},
	{"process.oomScoreAdj", func(s *specs.Spec, _ string) { s.Process.OOMScoreAdj = ptr(-1001) }},
	{"process.capabilities.bounding[1]", func(s *specs.Spec, _ string) { s.Process.Capabilities.Bounding[1] = "CAP_FOO" }},
	{"process.capabilities.ambient[0]", func(s *specs.Spec, _ string) { s.Process.Capabilities.Ambient[0] = "kill" }},
	{"process.capabilities.effective[2]", func(s *specs.Spec, _ string) { s.Process.Capabilities.Effective[2] = "" }},
	{"process.capabilities.permitted[0]", func(s *specs.Spec, _ string) { s.Process.Capabilities.Permitted[0] = "CAP_KILL " }},
	{"process.capabilities.inheritable[0]", func(s *specs.Spec, _ string) { s.Process.Capabilities.Inheritable = []string{"CAP_NONE"} }},
	// hostname
	{"hostname", func(s *specs.Spec, _ string) { s.Hostname = "-bad" }},
	{"hostname", func(s *specs.Spec, _ string) { s.Hostname = strings.Repeat("h", 65) }},
	{"hostname", func(s *specs.Spec, _ string) { s.Hostname = "a_b" }},
	{"hostname", func(s *specs.Spec, _ string) { withoutNS(s, specs.UTSNamespace) }},
	// namespaces
	{"linux.namespaces[6].type", func(s *specs.Spec, _ string) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "net"})
	}},
	{"linux.namespaces[6].type", func(s *specs.Spec, _ string) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
	}},
	// user namespaces (checkUserNamespace)
	{"linux.uidMappings", func(s *specs.Spec, _ string) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	}},
	{"linux.gidMappings", func(s *specs.Spec, _ string) {
		userNS(s)
		s.Linux.GIDMappings = nil
	}},
	{"linux.uidMappings[1]", func(s *specs.Spec, _ string) {
		userNS(s)
		s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 100, HostID: 500000, Size: 1})
	}},
	{"linux.gidMappings[0]", func(s *specs.Spec, _ string) {
		userNS(s)
		s.Linux.GIDMappings[0].Size = 0
	}},
	{"linux.uidMappings", func(s *specs.Spec, _ string) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	}},
	{"linux.namespaces[6].path", func(s *specs.Spec, _ string) {
		userNS(s)
		s.Linux.Namespaces[6].Path = "/proc/self/ns/user"
	}},
	{"linux.namespaces[6].type", func(s *specs.Spec, _ string) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
	}},
	{"linux.namespaces[1].path", func(s *specs.Spec, _ string) { nsPath(s, "network", "proc/self/ns/net") }},
	{"linux.namespaces[1].path", func(s *specs.Spec, _ string) { nsPath(s, "network", "/nonexistent/ns") }},
	{"linux.namespaces[1].path", func(s *specs.Spec, _ string) { nsPath(s, "network", "/proc/self/ns/uts") }},
	{"linux.namespaces[1].path", func(s *specs.Spec, b string) { nsPath(s, "network", filepath.Join(b, ConfigName)) }},
	{"linux.namespaces[1].path", func(s *specs.Spec, b string) { nsPath(s, "network", b) }},
	// mounts
	{"mounts[2].destination", func(s *specs.Spec, _ string) { s.Mounts[2].Destination = "" }},
	{"mounts[2].destination", func(s *specs.Spec, _ string) { s.Mounts[2].Destination = "/" }},
	{"mounts[2].destination", func(s *specs.Spec, _ string) { s.Mounts[2].Destination = "a/../.." }},
	{"mounts[2].source", func(s *specs.Spec, _ string) { s.Mounts[2].Source = "dev\x00pts" }},
	{"mounts[1].options[3]", func(s *specs.Spec, _ string) { s.Mounts[1].Options[3] = "rro" }},
	{"mounts[1].options[0]", func(s *specs.Spec, _ string) { s.Mounts[1].Options[0] = "tmpcopyup" }},
	{"mounts[1].options[0]", func(s *specs.Spec, _ string) { s.Mounts[1].Options[0] = "rnosuid" }},
	{"mounts[7].source", func(s *specs.Spec, _ string) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "missing", Options: []string{"rbind"}})
	}},
	{"mounts[7].source", func(s *specs.Spec, _ string) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind"})
	}},
	{"mounts[7].type", func(s *specs.Spec, _ string) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "tmpfs"})
	}},
	{`annotations[""]`, func(s *specs.Spec, _ string) { s.Annotations = map[string]string{"": "x"} }},
	{"mounts[0].uidMappings", func(s *specs.Spec, _ string) {
		s.Mounts[0].UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	}},
	{"root.readonly", func(s *specs.Spec, _ string) {
		withoutNS(s, specs.MountNamespace)
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Mounts = nil, nil, nil
	}},
	{"linux.rootfsPropagation", func(s *specs.Spec, _ string) {
		withoutNS(s, specs.MountNamespace)
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Mounts, s.Root.Readonly = nil, nil, nil, false
		s.Linux.RootfsPropagation = "rprivate"
	}},
	// hooks
	{"hooks.prestart[0].path", func(s *specs.Spec, _ string) { s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "true"}}} }},
	{"hooks.poststop[1].timeout", func(s *specs.Spec, _ string) {
		s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: ptr(0)}}}
	}},
	{"hooks.createRuntime[0].env[0]", func(s *specs.Spec, _ string) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Env: []string{"NOEQUALS"}}}}
	}},
	// linux
	{"linux.rootfsPropagation", func(s *specs.Spec, _ string) { s.Linux.RootfsPropagation = "recursive" }},
	{"linux.cgroupsPath", func(s *specs.Spec, _ string) { s.Linux.CgroupsPath = "/a/../../etc" }},
	{"linux.devices[0].path", func(s *specs.Spec, _ string) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/etc/passwd", Type: "c", Major: 1, Minor: 3}}
	}},
	{"linux.devices[0].path", func(s *specs.Spec, _ string) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../etc/x", Type: "c", Major: 1, Minor: 3}}
	}},
	{"linux.devices[0].type", func(s *specs.Spec, _ string) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null2", Type: "x", Major: 1, Minor: 3}}
	}},
	{"linux.devices[0]", func(s *specs.Spec, _ string) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null2", Type: "c", Major: 4096, Minor: 3}}
	}},
	{"linux.devices[0].fileMode", func(s *specs.Spec, _ string) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null2", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.ModeSetuid | 0o666)}}
	}},
	{"linux.resources.devices[0].access", func(s *specs.Spec, _ string) { s.Linux.Resources.Devices[0].Access = "rwx" }},
	{"linux.resources.devices[0].type", func(s *specs.Spec, _ string) { s.Linux.Resources.Devices[0].Type = "p" }},
	{"linux.maskedPaths[0]", func(s *specs.Spec, _ string) { s.Linux.MaskedPaths[0] = "proc/acpi" }},
	{"linux.readonlyPaths[4]", func(s *specs.Spec, _ string) { s.Linux.ReadonlyPaths[4] = "sysrq" }},
	{"linux.maskedPaths", func(s *specs.Spec, _ string) {
		withoutNS(s, specs.MountNamespace)
		s.Mounts, s.Root.Readonly = nil, false
	}},
	// sysctl
	{`linux.sysctl["kernel.shmmax"]`, func(s *specs.Spec, _ string) {
		withoutNS(s, specs.IPCNamespace)
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
	}},
	{`linux.sysctl["fs.mqueue.msg_max"]`, func(s *specs.Spec, _ string) {
		withoutNS(s, specs.IPCNamespace)
		s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
	}},
	{`linux.sysctl["net.ipv4.ip_forward"]`, func(s *specs.Spec, _ string) {
		withoutNS(s, specs.NetworkNamespace)
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	}},
	{`linux.sysctl["net/ipv4/ip_forward"]`, func(s *specs.Spec, _ string) {
		nsPath(s, specs.NetworkNamespace, "/proc/self/ns/net") // the runtime's own
		s.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"}
	}},
	{`linux.sysctl["kernel.hostname"]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} }},
	{`linux.sysctl["kernel.domainname"]`, func(s *specs.Spec, _ string) {
		s.Hostname = ""
		withoutNS(s, specs.UTSNamespace)
		s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
	}},
	{`linux.sysctl["user.max_user_namespaces"]`, func(s *specs.Spec, _ string) {
		s.Linux.Sysctl = map[string]string{"user.max_user_namespaces": "0"}
	}},
	{`linux.sysctl["vm.overcommit_memory"]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"vm.overcommit_memory": "1"} }},
	{`linux.sysctl["kernel.pid_max"]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"kernel.pid_max": "100"} }},
	{`linux.sysctl["net.ipv4..ip_forward"]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"net.ipv4..ip_forward": "1"} }},
	{`linux.sysctl["net/../../kernel/pid_max"]`, func(s *specs.Spec, _ string) {
		s.Linux.Sysctl = map[string]string{"net/../../kernel/pid_max": "1"}
	}},
	{`linux.sysctl["net.core.somaxconn"]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1\x00"} }},
	{`linux.sysctl[""]`, func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"": "1"} }},
	// resources
	{"linux.resources.memory.limit", func(s *specs.Spec, _ string) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(6<<20 - 1))}
	}},
	{"linux.resources.memory.limit", func(s *specs.Spec, _ string) { s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(0))} }},
	{"linux.resources.memory.limit", func(s *specs.Spec, _ string) { s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(-2))} }},
	{"linux.resources.memory.swap", func(s *specs.Spec, _ string) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20))}
	}},
	{"linux.resources.memory.swap", func(s *specs.Spec, _ string) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Swap: ptr(int64(128 << 20))}
	}},
	{"linux.resources.pids.limit", func(s *specs.Spec, _ string) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(5))} }},
	{"linux.resources.pids.limit", func(s *specs.Spec, _ string) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(0))} }},
	{"linux.resources.pids.limit", func(s *specs.Spec, _ string) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(4<<20 + 1))} }},
	{"linux.resources.cpu.shares", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(1))} }},
	{"linux.resources.cpu.shares", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(1<<18 + 1))} }},
	{"linux.resources.cpu.period", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Period: ptr(uint64(999))} }},
	{"linux.resources.cpu.period", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Period: ptr(uint64(1000001))} }},
	{"linux.resources.cpu.quota", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(999))} }},
	{"linux.resources.cpu.quota", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(-5))} }},
	{"linux.resources.cpu.quota", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(1) << 62)} }},
	{"linux.resources.cpu.cpus", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "0-"} }},
	{"linux.resources.cpu.mems", func(s *specs.Spec, _ string) { s.Linux.Resources.CPU = &specs.LinuxCPU{Mems: "x"} }},
}

// TestValidateBadConfigs: every row is refused, in one line naming its
// JSON path, and runc's default config is accepted as it is.
func TestValidateBadConfigs(t *testing.T) {
	dir := bundle(t, runcSpec)
	if err := Validate(base(t), dir); err != nil {
		t.Fatalf("runc's default config: %v", err)
	}
	for i, c := range badConfigs {
		s := base(t)
		c.change(s, dir)
		err := Validate(s, dir)
		var fe *FieldError
		switch {
		case err == nil:
			t.Errorf("#%d (%s): accepted", i, c.path)
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("#%d (%s): not one line: %q", i, c.path, err)
		case c.path == "ociVersion":
			if !strings.HasPrefix(err.Error(), "config.json: ociVersion: ") {
				t.Errorf("#%d: %v", i, err)
			}
		case !errors.As(err, &fe) || fe.Path != c.path:
			t.Errorf("#%d (%s): %v", i, c.path, err)
		case !strings.HasPrefix(err.Error(), "config.json: "+c.path+": "):
			t.Errorf("#%d (%s): %v", i, c.path, err)
		default:
			t.Logf("#%d: %v", i, err)
		}
	}
}

// TestValidateRefused: every field of the Refused table is refused by
// name; the table has a row for each field interfaces.md lists.
func TestValidateRefused(t *testing.T) {
	dir := bundle(t, runcSpec)
	set := map[string]func(s *specs.Spec){
		"mounts[].uidMappings":                    func(s *specs.Spec) { s.Mounts[3].GIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"process.apparmorProfile":                 func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
		"process.selinuxLabel":                    func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" },
		"linux.mountLabel":                        func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" },
		"linux.intelRdt":                          func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} },
		"linux.personality":                       func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
		"linux.timeOffsets":                       func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}} },
		"linux.memoryPolicy":                      func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolLocal} },
		"linux.netDevices":                        func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}} },
		"process.ioPriority":                      func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE} },
		"process.scheduler":                       func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch} },
		"process.execCPUAffinity":                 func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} },
		"domainname":                              func(s *specs.Spec) { s.Domainname = "example.org" },
		"linux.resources.memory.reservation":      func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Reservation: ptr(int64(1 << 30))} },
		"linux.resources.memory.kernel":           func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Kernel: ptr(int64(1 << 30))} },
		"linux.resources.memory.kernelTCP":        func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{KernelTCP: ptr(int64(1 << 30))} },
		"linux.resources.memory.swappiness":       func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Swappiness: ptr(uint64(0))} },
		"linux.resources.memory.disableOOMKiller": func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{DisableOOMKiller: ptr(true)} },
		"linux.resources.cpu.burst":               func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{Burst: ptr(uint64(1))} },
		"linux.resources.cpu.realtimeRuntime":     func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1))} },
		"linux.resources.cpu.realtimePeriod":      func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimePeriod: ptr(uint64(1))} },
		"linux.resources.cpu.idle":                func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{Idle: ptr(int64(1))} },
		"linux.resources.blockIO":                 func(s *specs.Spec) { s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(10))} },
		"linux.resources.hugepageLimits":          func(s *specs.Spec) { s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB"}} },
		"linux.resources.network":                 func(s *specs.Spec) { s.Linux.Resources.Network = &specs.LinuxNetwork{ClassID: ptr(uint32(1))} },
		"linux.resources.rdma":                    func(s *specs.Spec) { s.Linux.Resources.Rdma = map[string]specs.LinuxRdma{"mlx": {}} },
		"linux.resources.unified":                 func(s *specs.Spec) { s.Linux.Resources.Unified = map[string]string{"memory.high": "1"} },
		"solaris":                                 func(s *specs.Spec) { s.Solaris = &specs.Solaris{} },
		"windows":                                 func(s *specs.Spec) { s.Windows = &specs.Windows{} },
		"vm":                                      func(s *specs.Spec) { s.VM = &specs.VM{} },
		"zos":                                     func(s *specs.Spec) { s.ZOS = &specs.ZOS{} },
		"freebsd":                                 func(s *specs.Spec) { s.FreeBSD = &specs.FreeBSD{} },
	}
	for _, f := range RefusedFields() {
		change, ok := set[f]
		if !ok {
			t.Errorf("Refused has %s, this test has no row for it", f)
			continue
		}
		s := base(t)
		change(s)
		err := Validate(s, dir)
		want := strings.ReplaceAll(f, "[]", "[3]")
		if f == "mounts[].uidMappings" {
			want = "mounts[3].gidMappings"
		}
		if err == nil || !strings.HasPrefix(err.Error(), "config.json: "+want+": ") {
			t.Errorf("%s: %v", f, err)
		}
	}
	for f := range set {
		if honoured(f) {
			t.Errorf("%s: honoured, but interfaces.md lists it as refused", f)
		}
	}
}

// TestValidateAccepts: what the rules must let through.
func TestValidateAccepts(t *testing.T) {
	dir := bundle(t, runcSpec)
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	for name, change := range map[string]func(s *specs.Spec){
		"relative mount destination (runc: relative to /)": func(s *specs.Spec) { s.Mounts[4].Destination = "dev/mqueue" },
		"bind source relative to the bundle": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "data", Options: []string{"rbind", "ro"}})
		},
		"filesystem options on a bind mount (ignored, as mount(2) does)": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "data", Options: []string{"rbind", "mode=755", "size=1k"}})
		},
		"net sysctl, new netns":  func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} },
		"slash-separated sysctl": func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/ipv4/conf/eth0.100/rp_filter": "1"} },
		"ipc sysctls, new ipc ns": func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}
		},
		"kernel.domainname with uts": func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"} },
		"join a namespace by path":   func(s *specs.Spec) { nsPath(s, specs.IPCNamespace, "/proc/self/ns/ipc") },
		"no limits (-1)": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(-1))}
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(-1))}
			s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(-1))}
		},
		"runtime-tools' cpu case": func(s *specs.Spec) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(1024)), Period: ptr(uint64(100000)), Quota: ptr(int64(50000)), Cpus: "0", Mems: "0"}
		},
		"memory with swap = limit (no swap)": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(64 << 20)), DisableOOMKiller: ptr(false)}
		},
		"limits at their minimums": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(6 << 20))}
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(6))}
		},
		"process_user's user": func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 10, GID: 10, AdditionalGids: []uint32{5}, Umask: ptr(uint32(0o2))}
		},
		"oomScoreAdj at its bounds": func(s *specs.Spec) { s.Process.OOMScoreAdj = ptr(-1000) },
		"terminal with a size": func(s *specs.Spec) {
			s.Process.Terminal = true
			s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
		},
		"a size without a terminal (runc accepts it)": func(s *specs.Spec) { s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80} },
		"bind by type, annotations": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp"})
			s.Annotations = map[string]string{"org.example.key": "v"}
		},
		"every rlimit once": func(s *specs.Spec) {
			s.Process.Rlimits = nil
			for _, r := range Rlimits {
				s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: r, Hard: 10, Soft: 10})
			}
		},
		"hooks": func(s *specs.Spec) {
			h := []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Env: []string{"A=1"}, Timeout: ptr(5)}}
			s.Hooks = &specs.Hooks{Prestart: h, CreateRuntime: h, CreateContainer: h, StartContainer: h, Poststart: h, Poststop: h}
		},
		"devices": func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o666))}, {Path: "/dev/fifo", Type: "p"}}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(229)), Access: "rw"})
		},
		"rootfsPropagation, cgroupsPath": func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "rslave"
			s.Linux.CgroupsPath = "/minicontainer/test"
		},
		"no mount namespace, nothing to mount": func(s *specs.Spec) {
			withoutNS(s, specs.MountNamespace)
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Mounts, s.Root.Readonly = nil, nil, nil, false
		},
		// Its mounts go below a private bind of its root (runtime-tools'
		// linux_ns_itype keeps the generator's /proc, /dev, /sys...).
		"no mount namespace, mounts": func(s *specs.Spec) {
			withoutNS(s, specs.MountNamespace)
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Root.Readonly = nil, nil, false
		},
		"no hostname, no uts": func(s *specs.Spec) {
			s.Hostname = ""
			withoutNS(s, specs.UTSNamespace)
		},
	} {
		s := base(t)
		change(s)
		if err := Validate(s, dir); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
