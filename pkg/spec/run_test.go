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
