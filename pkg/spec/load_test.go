package spec

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// runcSpec is `runc spec`'s output (runc 1.1.5) with args and terminal
// changed: the config every engine starts from.
const runcSpec = `{
	"ociVersion": "1.0.2-dev",
	"process": {
		"user": {"uid": 0, "gid": 0},
		"args": ["sh"],
		"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "runc",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	"linux": {
		"resources": {"devices": [{"allow": false, "access": "rwm"}]},
		"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
		"maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
			"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	}
}`

// bundle makes a bundle directory with an empty rootfs and the config.
func bundle(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadRuncSpec(t *testing.T) {
	s, err := Load(bundle(t, runcSpec))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Process.Args; !reflect.DeepEqual(got, []string{"sh"}) {
		t.Errorf("process.args = %q", got)
	}
	if s.Hostname != "runc" || len(s.Mounts) != 7 || len(s.Linux.Namespaces) != 6 {
		t.Errorf("hostname %q, %d mounts, %d namespaces", s.Hostname, len(s.Mounts), len(s.Linux.Namespaces))
	}
}

// TestLoadRuncSpecLive runs the installed runc's `spec` and loads its output.
func TestLoadRuncSpecLive(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("no runc installed")
	}
	dir := bundle(t, "")
	os.Remove(filepath.Join(dir, ConfigName))
	cmd := exec.Command(runc, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDecodeErrors: a document that does not decode is refused in one
// line saying where: by JSON path for a wrong type, by line and column for
// a syntax error.
func TestLoadDecodeErrors(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{"ociVersion": "1.0.0", "process": {"args": [1]}}`, "config.json: process.args[0]: cannot be a number (want a string)"},
		{`{"ociVersion": "1.0.0", "process": {"args": ["a", "b", true]}}`, "config.json: process.args[2]: cannot be a boolean (want a string)"},
		{`{"ociVersion": "1.0.0", "process": "sh"}`, "config.json: process: cannot be a string (want an object)"},
		{`{"ociVersion": "1.0.0", "process": {"user": {"uid": -1}}}`, "config.json: process.user.uid: cannot be the number -1 (want a whole number from 0 to 4294967295)"},
		{`{"ociVersion": "1.0.0", "mounts": [{"destination": "/a"}, {"options": {}}]}`, "config.json: mounts[1].options: cannot be an object (want an array)"},
		{`{"ociVersion": "1.0.0", "linux": {"sysctl": {"net.core.somaxconn": 256}}}`, `config.json: linux.sysctl["net.core.somaxconn"]: cannot be a number (want a string)`},
		{`{"ociVersion": "1.0.0", "mounts": [{"destination": "/a", "options": ["x", {"y": [1]}]}, {"destination": "/b", "options": ["ro", 7]}]}`,
			"config.json: mounts[0].options[1]: cannot be an object (want a string)"},
		{`{"ociVersion": "1.0.0", "mounts": [{"destination": "/a", "options": ["x"], "extra": {"k": [[1], {}]}}, {"destination": "/b", "options": ["ro", 7]}]}`,
			"config.json: mounts[1].options[1]: cannot be a number (want a string)"},
		{`{"ociVersion": "1.0.0", "linux": {"namespaces": [{"type": "pid"}, {"type": "uts", "path": ""}, {"type": 3}]}}`,
			"config.json: linux.namespaces[2].type: cannot be a number (want a string)"},
		{`{"ociVersion": "1.0.0", "hooks": {"prestart": [{"path": "/x", "timeout": "5"}]}}`,
			"config.json: hooks.prestart[0].timeout: cannot be a string (want a whole number from -9223372036854775808 to 9223372036854775807)"},
		{`{"ociVersion": "1.0.0", "linux": {"resources": {"memory": {"limit": 1.5}}}}`,
			"config.json: linux.resources.memory.limit: cannot be the number 1.5 (want a whole number from -9223372036854775808 to 9223372036854775807)"},
		{`{"ociVersion": "1.0.0", "process": {"terminal": "yes"}}`, "config.json: process.terminal: cannot be a string (want true or false)"},
		{`{"ociVersion": "1.0.0", "process": {"args": {}}}`, "config.json: process.args: cannot be an object (want an array)"},
		{`{"ociVersion": "1.0.0", "annotations": {"a.b/c": 1}}`, `config.json: annotations["a.b/c"]: cannot be a number (want a string)`},
		{`[1, 2]`, "config.json: (top level): cannot be an array (want an object)"},
		{`{"ociVersion": 1}`, "config.json: ociVersion: cannot be a number (want a string)"},
		{"{\"ociVersion\": \"1.0.0\",\n  \"process\": {\"args\": [\"a\"}}", "config.json: line 2, column 27: invalid character '}' after array element"},
		{`{"ociVersion": "1.0.0"`, "config.json: line 1, column 23: unexpected end of JSON input"},
		{``, "config.json: line 1, column 1: unexpected end of JSON input"},
		{`{"ociVersion": "2.0.0"}`, `config.json: ociVersion: "2.0.0" is not supported (want 1.x)`},
		{`{}`, `config.json: ociVersion: "" is not supported (want 1.x)`},
	} {
		_, err := Load(bundle(t, c.config))
		if err == nil || err.Error() != c.want {
			t.Errorf("Load(%s):\n got %v\nwant %s", c.config, err, c.want)
		}
	}
}

func TestLoadNoConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	if err == nil || !strings.HasSuffix(err.Error(), "config.json: no such file or directory") {
		t.Fatalf("Load of an empty dir: %v", err)
	}
}

// TestLoadIgnoresUnknownFields: fields this build does not know, at any
// depth, are ignored as runc ignores them (a config written for a later
// 1.x must still run); the known ones beside them are read.
func TestLoadIgnoresUnknownFields(t *testing.T) {
	config := strings.Replace(runcSpec, `"hostname": "runc",`,
		`"hostname": "runc", "futureField": {"a": [1, {"b": null}]}, "process2": 7,`, 1)
	config = strings.Replace(config, `"cwd": "/",`, `"cwd": "/", "newKnob": true,`, 1)
	s, err := Load(bundle(t, config))
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "runc" || s.Process.Cwd != "/" {
		t.Errorf("hostname %q, cwd %q", s.Hostname, s.Process.Cwd)
	}
}
