package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

// TestFromRun checks each of run's flags lands in its field.
func TestFromRun(t *testing.T) {
	base := t.TempDir()
	lookup := func(k string) (string, bool) {
		return map[string]string{"HOSTVAR": "h", "TERM": "screen"}[k], k == "HOSTVAR" || k == "TERM"
	}
	s, err := FromRun(RunFlags{
		Rootfs: base, Name: "web", Hostname: "box", Env: []string{"A=1", "HOSTVAR", "A=2"}, Workdir: "/w",
		Volumes: []string{"/tmp:/data:ro"}, ReadOnly: true, Init: true, TTY: true, Net: "host",
		Resources: cgroup.Flags{Memory: "64m", Pids: "32", CPUs: "0.5", CPUWeight: "100", CpusetCPUs: "0"},
		Command:   []string{"echo", "hi"},
	}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(s, "/"); err != nil {
		t.Fatalf("run's Spec does not validate: %v", err)
	}
	p := s.Process
	wantEnv := []string{"PATH=" + DefaultPath, "HOME=/root", "HOSTNAME=box", "TERM=screen", "HOSTVAR=h", "A=2"}
	if !slices.Equal(p.Args, []string{"echo", "hi"}) || !slices.Equal(p.Env, wantEnv) || p.Cwd != "/w" || !p.Terminal || p.Rlimits != nil || p.Capabilities == nil {
		t.Errorf("process: %+v", p)
	}
	if s.Hostname != "box" || s.Root.Path != base || !s.Root.Readonly {
		t.Errorf("hostname %q root %+v", s.Hostname, s.Root)
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Destination != "/data" || last.Source != "/tmp" || last.Type != "bind" || !slices.Contains(last.Options, "ro") {
		t.Errorf("volume: %+v", last)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Errorf("--net host kept a network namespace")
		}
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 64<<20 || *r.Pids.Limit != 32 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != cgroup.WeightToShares(100) || r.CPU.Cpus != "0" {
		t.Errorf("resources: %+v %+v %+v", r.Memory, r.Pids, r.CPU)
	}
	if a := s.Annotations; a[AnnotationInit] != "true" || a[AnnotationName] != "web" || a[AnnotationNetwork] != "host" || a[AnnotationOverlay] != "true" {
		t.Errorf("annotations: %v", a)
	}
	if _, err := FromRun(RunFlags{Net: "wifi", Command: []string{"x"}}, lookup); err == nil {
		t.Error("--net wifi accepted")
	}
	if _, err := FromRun(RunFlags{Workdir: "rel", Command: []string{"x"}}, lookup); err == nil {
		t.Error("a relative workdir accepted")
	}
}

// TestFromRunRootless: maps put the Spec in a new user namespace (first),
// devpts keeps gid=5 only when gid 5 is mapped, and without a network
// namespace sysfs becomes a read-only bind of the host's /sys (only the
// owner of the network namespace may mount sysfs). The Spec validates.
func TestFromRunRootless(t *testing.T) {
	own := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	ranged := append(slices.Clone(own), specs.LinuxIDMapping{ContainerID: 1, HostID: 100000, Size: 65536})
	for _, c := range []struct {
		net      string
		gids     []specs.LinuxIDMapping
		gid5     bool
		sysfsSrc string
	}{
		{"none", own, false, "sysfs"},
		{"none", ranged, true, "sysfs"},
		{"host", ranged, true, "/sys"},
	} {
		s, err := FromRun(RunFlags{Rootfs: t.TempDir(), Net: c.net, UIDMappings: own, GIDMappings: c.gids, Command: []string{"true"}}, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(s, "/"); err != nil {
			t.Errorf("--net %s, gids %v: the Spec does not validate: %v", c.net, c.gids, err)
		}
		if s.Linux.Namespaces[0].Type != specs.UserNamespace || !slices.Equal(s.Linux.UIDMappings, own) || !slices.Equal(s.Linux.GIDMappings, c.gids) {
			t.Errorf("user namespace: %v %v %v", s.Linux.Namespaces, s.Linux.UIDMappings, s.Linux.GIDMappings)
		}
		for _, m := range s.Mounts {
			switch m.Destination {
			case "/dev/pts":
				if slices.Contains(m.Options, "gid=5") != c.gid5 {
					t.Errorf("gids %v: devpts options %v, want gid=5 %v", c.gids, m.Options, c.gid5)
				}
			case "/sys":
				if m.Source != c.sysfsSrc || c.sysfsSrc == "/sys" && (m.Type != "bind" || !slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rbind")) {
					t.Errorf("--net %s: /sys %+v, want source %s", c.net, m, c.sysfsSrc)
				}
			}
		}
	}
	s, _ := FromRun(RunFlags{Command: []string{"true"}}, func(string) (string, bool) { return "", false })
	if slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace }) {
		t.Error("no maps, yet a user namespace")
	}
}
