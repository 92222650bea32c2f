package cgroup

import (
	"fmt"
	"strings"
	"testing"
)

func TestFlagsLimits(t *testing.T) {
	good := []struct {
		f    Flags
		want Limits
	}{
		{Flags{}, Limits{}},
		{Flags{Memory: "64m"}, Limits{Memory: 64 << 20}},
		{Flags{Memory: "64M"}, Limits{Memory: 64 << 20}},
		{Flags{Memory: "64MiB"}, Limits{Memory: 64 << 20}},
		{Flags{Memory: "6144k"}, Limits{Memory: 6 << 20}},
		{Flags{Memory: "1g"}, Limits{Memory: 1 << 30}},
		{Flags{Memory: "1gb"}, Limits{Memory: 1 << 30}},
		{Flags{Memory: "6291456"}, Limits{Memory: MinMemory}},
		{Flags{Pids: "32"}, Limits{Pids: 32}},
		{Flags{Pids: "6"}, Limits{Pids: MinPids}},
		{Flags{Pids: "4194304"}, Limits{Pids: MaxPids}},
		{Flags{CPUs: "8192"}, Limits{CPUs: 8192}},
		{Flags{CPUs: "0.5"}, Limits{CPUs: 0.5}},
		{Flags{CPUs: "2"}, Limits{CPUs: 2}},
		{Flags{CPUWeight: "1"}, Limits{CPUWeight: 1}},
		{Flags{CPUWeight: "10000"}, Limits{CPUWeight: 10000}},
		{Flags{CpusetCPUs: "0"}, Limits{CpusetCPUs: "0"}},
		{Flags{CpusetCPUs: "0-1,3"}, Limits{CpusetCPUs: "0-1,3"}},
		// The kernel's form, as cpuset.cpus reads back.
		{Flags{CpusetCPUs: "3,1,0,1-2"}, Limits{CpusetCPUs: "0-3"}},
		{Flags{CpusetCPUs: "0,0"}, Limits{CpusetCPUs: "0"}},
		{Flags{CpusetCPUs: "007"}, Limits{CpusetCPUs: "7"}},
	}
	for _, g := range good {
		got, err := g.f.Limits()
		if err != nil || got != g.want {
			t.Errorf("%+v: got %+v, %v; want %+v", g.f, got, err, g.want)
		}
	}
	bad := []struct {
		f    Flags
		want string
	}{
		{Flags{Memory: "12q"}, `--memory "12q": not a size`},
		{Flags{Memory: "-1"}, `--memory "-1": not a size`},
		{Flags{Memory: "0"}, `--memory "0": a limit of 0 bytes`},
		{Flags{Memory: "1.5g"}, `--memory "1.5g": not a size`},
		{Flags{Memory: "99999999999t"}, `--memory "99999999999t": too large`},
		{Flags{Memory: "1"}, `--memory "1": the minimum is 6MiB`},
		{Flags{Memory: "6291455"}, `--memory "6291455": the minimum is 6MiB`},
		{Flags{Memory: "5m"}, `--memory "5m": the minimum is 6MiB`},
		{Flags{Pids: "0"}, `--pids "0": want a whole number above 0`},
		{Flags{Pids: "1"}, `--pids "1": the minimum is 6`},
		{Flags{Pids: "5"}, `--pids "5": the minimum is 6`},
		{Flags{Pids: "4194305"}, `--pids "4194305": the kernel's pids.max stops at 4194304`},
		{Flags{CPUs: "8192.5"}, `--cpus "8192.5": more than 8192`},
		{Flags{CPUs: "1e300"}, `--cpus "1e300": more than 8192`},
		{Flags{Pids: "-5"}, `--pids "-5": want a whole number above 0`},
		{Flags{Pids: "ten"}, `--pids "ten"`},
		{Flags{CPUs: "0"}, `--cpus "0": want a number of cores above 0`},
		{Flags{CPUs: "-0.5"}, `--cpus "-0.5"`},
		{Flags{CPUs: "NaN"}, `--cpus "NaN"`},
		{Flags{CPUs: "0.001"}, `the smallest CPU limit is 0.01`},
		{Flags{CPUWeight: "0"}, `--cpu-weight "0": want a whole number from 1 to 10000`},
		{Flags{CPUWeight: "10001"}, `--cpu-weight "10001"`},
		{Flags{CpusetCPUs: "1-0"}, `--cpuset-cpus "1-0": not a CPU list`},
		{Flags{CpusetCPUs: "a"}, `--cpuset-cpus "a"`},
		{Flags{CpusetCPUs: "+1"}, `--cpuset-cpus "+1": not a CPU list`},
		{Flags{CpusetCPUs: "0,"}, `--cpuset-cpus "0,": not a CPU list`},
		{Flags{CpusetCPUs: "8192"}, `--cpuset-cpus "8192": CPU 8192: CPU numbers stop at 8191`},
		{Flags{CpusetCPUs: "0-99999999999"}, `CPU numbers stop at 8191`},
	}
	for _, b := range bad {
		_, err := b.f.Limits()
		if err == nil || !strings.Contains(err.Error(), b.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: got %v, want one line containing %q", b.f, err, b.want)
		}
	}
}

func TestCheckAgainstHost(t *testing.T) {
	h := &Host{Mode: Hybrid, V1: map[string]string{"memory": "/m", "cpu": "/c", "cpuset": "/s"}, OnlineCPUs: []int{0, 1}}
	for _, c := range []struct {
		l    Limits
		want string // "" = accepted
	}{
		{Limits{Memory: 1 << 20, CPUs: 2, CpusetCPUs: "0-1"}, ""},
		{Limits{CPUs: 2.5}, "--cpus 2.5: this host has only 2 CPUs"},
		{Limits{CpusetCPUs: "2"}, `--cpuset-cpus "2": CPU 2 is not online`},
		{Limits{Pids: 10}, "this host has no pids cgroup controller"},
	} {
		err := c.l.Check(h)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64MiB", 1 << 30: "1GiB", 512 << 10: "512KiB", 1000: "1000B", 3 << 19: "1536KiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %s, want %s", n, got, want)
		}
	}
}

// runc maps shares to weight with 1 + (shares-2)*9999/262142; our mapping
// must bring every weight back to itself through it.
func TestWeightToSharesInvertsRunc(t *testing.T) {
	for w := uint64(1); w <= 10000; w++ {
		s := WeightToShares(w)
		if s < 2 || s > 262144 {
			t.Fatalf("weight %d → shares %d out of range", w, s)
		}
		if back := 1 + (s-2)*9999/262142; back != w {
			t.Fatalf("weight %d → shares %d → weight %d", w, s, back)
		}
	}
	if WeightToShares(100) != 2598 || WeightToShares(10000) != 262144 || WeightToShares(1) != 2 {
		t.Errorf("ends/default: %d %d %d", WeightToShares(1), WeightToShares(100), WeightToShares(10000))
	}
}

func TestParseMountinfo(t *testing.T) {
	hybrid := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	legacy := `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
`
	unified := `35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	h, err := ParseMountinfo(strings.NewReader(hybrid))
	if err != nil || h.Mode != Hybrid || h.Unified != "/sys/fs/cgroup/unified" || h.V1["memory"] != "/sys/fs/cgroup/memory" || h.V1["cpuacct"] != "/sys/fs/cgroup/cpuacct" || len(h.V1) != 5 {
		t.Errorf("hybrid: %+v %v", h, err)
	}
	h, err = ParseMountinfo(strings.NewReader(legacy))
	if err != nil || h.Mode != Legacy || h.V1["cpu"] != "/sys/fs/cgroup/cpu,cpuacct" || h.V1["cpuacct"] != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("legacy: %+v %v", h, err)
	}
	h, err = ParseMountinfo(strings.NewReader(unified))
	if err != nil || h.Mode != Unified || h.Unified != "/sys/fs/cgroup" || len(h.V1) != 0 {
		t.Errorf("unified: %+v %v", h, err)
	}
	h, err = ParseMountinfo(strings.NewReader("22 1 0:21 / /sys rw - sysfs sysfs rw\n"))
	if err != nil || h.Mode != 0 {
		t.Errorf("none: %+v %v", h, err)
	}
	if got := unescape(`/mnt/a\040b`); got != "/mnt/a b" {
		t.Errorf("unescape: %q", got)
	}
}

// Detect on the machine running the tests: whatever it finds must be
// consistent with what is mounted.
func TestDetectThisHost(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Skipf("no cgroups here: %v", err)
	}
	t.Logf("mode: %s; controllers: %v; online CPUs: %v", h.Mode, h.Controllers(), h.OnlineCPUs)
	if len(h.OnlineCPUs) == 0 {
		t.Error("no online CPUs found")
	}
	if h.Mode != Unified {
		for c, dir := range h.V1 {
			if !exists(dir + "/cgroup.procs") {
				t.Errorf("v1 %s at %s has no cgroup.procs", c, dir)
			}
		}
	}
}

func TestContainerMounts(t *testing.T) {
	hybrid := `34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	h, _ := ParseMountinfo(strings.NewReader(hybrid))
	var got []string
	for _, m := range h.ContainerMounts() {
		got = append(got, fmt.Sprintf("%s %s %s %#x %s", m.Source, m.Target, m.FSType, m.Flags, m.Data))
	}
	want := []string{
		"tmpfs /sys/fs/cgroup tmpfs 0xe mode=755",
		"cgroup /sys/fs/cgroup/memory cgroup 0xf memory",
		"cgroup /sys/fs/cgroup/cpu,cpuacct cgroup 0xf cpu,cpuacct",
		"cgroup /sys/fs/cgroup/systemd cgroup 0xf name=systemd",
		"cgroup2 /sys/fs/cgroup/unified cgroup2 0xf ",
		" /sys/fs/cgroup  0x2f mode=755",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hybrid mounts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	u := &Host{Mode: Unified, Unified: "/sys/fs/cgroup"}
	if m := u.ContainerMounts(); len(m) != 1 || m[0].FSType != "cgroup2" || m[0].Target != "/sys/fs/cgroup" || m[0].Flags&1 == 0 {
		t.Errorf("unified mounts: %+v", m)
	}
}

func TestFormatCPUList(t *testing.T) {
	for want, cpus := range map[string][]int{
		"": nil, "0": {0}, "0-1": {0, 1}, "0-2,5": {0, 1, 2, 5}, "1,3,5-6": {1, 3, 5, 6},
	} {
		if got := FormatCPUList(cpus); got != want {
			t.Errorf("FormatCPUList(%v) = %q, want %q", cpus, got, want)
		}
	}
}
