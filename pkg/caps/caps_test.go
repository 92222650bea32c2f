package caps

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		caps *specs.LinuxCapabilities
		want string // "" for no error
	}{
		{"nil", nil, ""},
		{"empty", &specs.LinuxCapabilities{}, ""},
		{"docker", &specs.LinuxCapabilities{Bounding: DockerDefault, Effective: DockerDefault, Permitted: DockerDefault}, ""},
		{"all known", &specs.LinuxCapabilities{Bounding: Known(), Ambient: Known()}, ""},
		{"unknown in bounding", &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_FOO"}},
			`process.capabilities.bounding[3]: unknown capability "CAP_FOO"`},
		{"no prefix", &specs.LinuxCapabilities{Effective: []string{"CHOWN"}},
			`process.capabilities.effective[0]: unknown capability "CHOWN"`},
		{"lower case", &specs.LinuxCapabilities{Permitted: []string{"cap_chown"}},
			`process.capabilities.permitted[0]: unknown capability "cap_chown"`},
		{"inheritable", &specs.LinuxCapabilities{Inheritable: []string{"CAP_KILL", ""}},
			`process.capabilities.inheritable[1]: unknown capability ""`},
		{"ambient", &specs.LinuxCapabilities{Ambient: []string{"CAP_TEST"}},
			`process.capabilities.ambient[0]: unknown capability "CAP_TEST"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.caps)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("Check: %q, want %q", got, c.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("not one line: %q", got)
			}
		})
	}
}

// The table agrees with the kernel headers' numbers, has no gap, and
// ends where x/sys/unix's CAP_LAST_CAP ends.
func TestNames(t *testing.T) {
	known := Known()
	if len(known) != unix.CAP_LAST_CAP+1 {
		t.Fatalf("%d names, want %d (CAP_LAST_CAP %d)", len(known), unix.CAP_LAST_CAP+1, unix.CAP_LAST_CAP)
	}
	for i, name := range known {
		if name == "" {
			t.Errorf("no name for capability %d", i)
		}
		if n, ok := Number(name); !ok || n != i {
			t.Errorf("Number(%q) = %d %v, want %d", name, n, ok, i)
		}
	}
	for name, n := range map[string]int{"CAP_CHOWN": 0, "CAP_SETPCAP": 8, "CAP_SYS_ADMIN": 21, "CAP_AUDIT_READ": 37, "CAP_CHECKPOINT_RESTORE": 40} {
		if got, _ := Number(name); got != n {
			t.Errorf("%s = %d, want %d (capabilities(7), <linux/capability.h>)", name, got, n)
		}
	}
	if Name(63) != "CAP_63" {
		t.Errorf("Name(63) = %q", Name(63))
	}
}

func TestDockerDefaultMask(t *testing.T) {
	s, skipped, err := Parse(DockerDefault, unix.CAP_LAST_CAP)
	if err != nil || len(skipped) != 0 {
		t.Fatal(err, skipped)
	}
	// The mask the confinement issue names: CapBnd inside a Docker container.
	if s != 0xa80425fb || len(DockerDefault) != 14 {
		t.Errorf("DockerDefault = %016x (%d names), want 00000000a80425fb (14)", uint64(s), len(DockerDefault))
	}
	if got := Set(1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL).String(); got != "CAP_CHOWN|CAP_KILL" {
		t.Errorf("String: %q", got)
	}
	if got := Set(0).String(); got != "0" {
		t.Errorf("empty String: %q", got)
	}
}

// A known name newer than the kernel is skipped, once, and reported.
func TestParseSkipsWhatTheKernelLacks(t *testing.T) {
	c := &specs.LinuxCapabilities{
		Bounding:  []string{"CAP_CHOWN", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"},
		Permitted: []string{"CAP_BPF"},
	}
	s, skipped, err := parseAll(c, unix.CAP_PERFMON) // a 5.8-less kernel: 0..38
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounding != 1 || s.Permitted != 0 {
		t.Errorf("sets %+v", s)
	}
	if strings.Join(skipped, " ") != "CAP_BPF CAP_CHECKPOINT_RESTORE" {
		t.Errorf("skipped %q", skipped)
	}
	if _, _, err := parseAll(&specs.LinuxCapabilities{Ambient: []string{"CAP_NOPE"}}, 40); err == nil ||
		err.Error() != `process.capabilities.ambient[0]: unknown capability "CAP_NOPE"` {
		t.Errorf("unknown name: %v", err)
	}
}

// Without /proc the kernel is asked: both ways give the same number.
func TestLastProbe(t *testing.T) {
	file, err := Last()
	if err != nil {
		t.Skip(err)
	}
	probed, err := probeLast()
	if err != nil || probed != file {
		t.Errorf("PR_CAPBSET_READ finds %d (%v), %s says %d", probed, err, lastCapFile, file)
	}
}
