package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseAndFormat(t *testing.T) {
	m, err := Parse("0:100000:65536, 65536:1000:1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Format(m), "0 100000 65536\n65536 1000 1\n"; got != want {
		t.Errorf("Format(Parse) = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "0:1", "0:1:2:3", "a:1:1", "0:-1:1", "0:4294967296:1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	ok := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	if err := Check("linux.uidMappings", ok); err != nil {
		t.Errorf("Check(%v) = %v", ok, err)
	}
	many := make([]specs.LinuxIDMapping, MaxMaps+1)
	for i := range many {
		many[i] = specs.LinuxIDMapping{ContainerID: uint32(i), HostID: uint32(1000 + i), Size: 1}
	}
	for _, c := range []struct {
		maps []specs.LinuxIDMapping
		want string
	}{
		{nil, "no map"},
		{many, "at most 340"},
		{[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 0}}, "[0]: size 0"},
		{[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 4294967290, Size: 6}}, "reaches 4294967295"},
		{[]specs.LinuxIDMapping{{ContainerID: 4294967295, HostID: 0, Size: 1}}, "reaches 4294967295"},
		{[]specs.LinuxIDMapping{{ContainerID: 10, HostID: 1000, Size: 10}, {ContainerID: 0, HostID: 5000, Size: 11}},
			"[1]: overlaps [0] inside the container (10-19 and 0-10)"},
		{[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 10}, {ContainerID: 20, HostID: 100009, Size: 1}},
			"[2]: overlaps [1] on the host (100000-100009 and 100009-100009)"},
	} {
		err := Check("linux.uidMappings", c.maps)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%v) = %v, want %q", c.maps, err, c.want)
		}
	}
	// Adjacent ranges share no id.
	adj := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100, Size: 10}, {ContainerID: 10, HostID: 110, Size: 10}}
	if err := Check("m", adj); err != nil {
		t.Errorf("Check(%v) = %v", adj, err)
	}
}

func TestToHost(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	for in, want := range map[uint32]uint32{0: 1000, 1: 100000, 1000: 100999, 65536: 165535} {
		if got, ok := ToHost(m, in); !ok || got != want {
			t.Errorf("ToHost(%d) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := ToHost(m, 65537); ok {
		t.Error("ToHost(65537) mapped an id no range covers")
	}
}

func TestSubIDs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(file, []byte("# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\n\nalice:400000:5\n"), 0o644)
	got, err := SubIDs(file, "alice", 1000)
	if err != nil || len(got) != 2 || got[0] != (Range{100000, 65536}) || got[1] != (Range{400000, 5}) {
		t.Errorf("SubIDs(alice) = %v, %v", got, err)
	}
	got, err = SubIDs(file, "carol", 1001) // by uid
	if err != nil || len(got) != 1 || got[0] != (Range{300000, 10}) {
		t.Errorf("SubIDs(1001) = %v, %v", got, err)
	}
	if got, err := SubIDs(filepath.Join(t.TempDir(), "none"), "alice", 1000); err != nil || got != nil {
		t.Errorf("SubIDs(missing file) = %v, %v", got, err)
	}
	os.WriteFile(file, []byte("alice:100000:65536\nalice:x:1\n"), 0o644)
	if _, err := SubIDs(file, "alice", 1000); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("SubIDs(malformed line 2) = %v", err)
	}
}

func TestRootlessAndAllowed(t *testing.T) {
	ranges := []Range{{100000, 65536}}
	m := Rootless(1000, ranges)
	if got, want := Format(m), "0 1000 1\n1 100000 65536\n"; got != want {
		t.Errorf("Rootless = %q, want %q", got, want)
	}
	if err := Allowed("uid", SubUIDFile, m, 1000, ranges); err != nil {
		t.Errorf("Allowed(Rootless) = %v", err)
	}
	if got := Format(Rootless(1000, nil)); got != "0 1000 1\n" {
		t.Errorf("Rootless without a range = %q", got)
	}
	big := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65537}}
	err := Allowed("linux.uidMappings", SubUIDFile, big, 1000, ranges)
	if err == nil || !strings.Contains(err.Error(), "linux.uidMappings[1]: host ids 100000-165536 are neither yours (1000) nor in a range /etc/subuid gives you (100000-165535)") {
		t.Errorf("Allowed(a range too small) = %v", err)
	}
	if err := Allowed("m", SubUIDFile, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}, 1000, nil); err == nil {
		t.Error("Allowed(host root, no range) = nil")
	}
}

func TestForbidden(t *testing.T) {
	sys := func(files map[string]string) string {
		dir := t.TempDir()
		for f, v := range files {
			p := filepath.Join(dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(v+"\n"), 0o644)
		}
		return dir
	}
	for _, c := range []struct {
		files      map[string]string
		privileged bool
		want       string // "" when allowed
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"user/max_user_namespaces": "15000", "kernel/apparmor_restrict_unprivileged_userns": "0"}, false, ""},
		{map[string]string{"user/max_user_namespaces": "0"}, true, "user.max_user_namespaces is 0"},
		{map[string]string{"user/max_user_namespaces": "0"}, false, "sysctl -w user.max_user_namespaces=15000"},
		{map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, false, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, true, ""},
		{map[string]string{"kernel/unprivileged_userns_clone": "0"}, false, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{map[string]string{"kernel/unprivileged_userns_clone": "0"}, true, ""},
	} {
		err := Forbidden(sys(c.files), c.privileged)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Forbidden(%v, privileged %v) = %v", c.files, c.privileged, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Forbidden(%v, privileged %v) = %v, want %q", c.files, c.privileged, err, c.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("Forbidden: more than one line: %q", err)
		}
	}
	// This machine's own knobs, as the tests below need them.
	if err := Forbidden(ProcSys, false); err != nil {
		t.Logf("here: %v", err)
	}
}

func TestHelperMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Helper("newnosuchmap")
	if err == nil || !strings.Contains(err.Error(), "newnosuchmap not found: install the Debian package uidmap") {
		t.Errorf("Helper(missing) = %v", err)
	}
	if _, err := Writer("uid", []specs.LinuxIDMapping{{ContainerID: 0, HostID: 7, Size: 1}}, 7, false); err != nil {
		t.Errorf("Writer(own id only) = %v, want direct", err)
	}
}
