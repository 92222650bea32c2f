package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
)

// TestExecPathChoice: which exec path a container gets, without root:
// the CLI's own thread (fast) under Docker's capabilities and profile;
// the read-only re-exec when a process there may hold CAP_SYS_PTRACE;
// the exec init for limits that would bind the CLI, a profile with flags,
// or a profile that refuses what the thread still calls.
func TestExecPathChoice(t *testing.T) {
	target := func(t *testing.T, p *specs.Process, sc *specs.LinuxSeccomp) *ExecTarget {
		s := &State{Root: t.TempDir(), ID: "c"}
		if err := os.MkdirAll(s.Dir(), 0o700); err != nil {
			t.Fatal(err)
		}
		tg := &ExecTarget{s: s}
		tg.cfg.Process = p
		tg.cfg.Linux = &struct {
			Namespaces []specs.LinuxNamespace `json:"namespaces,omitempty"`
			Seccomp    *specs.LinuxSeccomp    `json:"seccomp,omitempty"`
		}{Seccomp: sc}
		return tg
	}
	docker := func() *specs.Process {
		c := caps.DockerDefault
		return &specs.Process{Args: []string{"true"}, Capabilities: &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}}
	}
	compile := func(t *testing.T, sc *specs.LinuxSeccomp) *seccomp.Filter {
		f, err := seccomp.Prepare(sc)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	p := docker()
	tg := target(t, p, seccomp.Default())
	if why := ptraceReachable(tg, p); why != "" {
		t.Errorf("Docker's capabilities: ptraceReachable = %q, want none", why)
	}
	if why := fastRefused(tg, p, compile(t, seccomp.Default()), nil); why != "" {
		t.Errorf("Docker's capabilities and profile: fastRefused = %q, want the fast path", why)
	}

	// CAP_SYS_PTRACE in the container's bounding set.
	withPtrace := docker()
	withPtrace.Capabilities.Bounding = append(withPtrace.Capabilities.Bounding, "CAP_SYS_PTRACE")
	if why := ptraceReachable(target(t, withPtrace, nil), docker()); !strings.Contains(why, "CAP_SYS_PTRACE") {
		t.Errorf("bounding set with CAP_SYS_PTRACE: ptraceReachable = %q", why)
	}
	// An exec that gives it: recorded, and the next exec sees it.
	tg = target(t, docker(), nil)
	if why := ptraceReachable(tg, withPtrace); why != "" {
		t.Errorf("the first exec with CAP_SYS_PTRACE: ptraceReachable = %q, want none (its own process is not running yet)", why)
	}
	if _, err := os.Stat(filepath.Join(tg.s.Dir(), ptraceMark)); err != nil {
		t.Errorf("an exec with CAP_SYS_PTRACE left no mark: %v", err)
	}
	if why := ptraceReachable(tg, docker()); !strings.Contains(why, ptraceMark) {
		t.Errorf("after an exec with CAP_SYS_PTRACE: ptraceReachable = %q", why)
	}

	// Per-process limits, flags, a profile refusing clone.
	limited := docker()
	limited.Rlimits = append(limited.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Hard: 1 << 30, Soft: 1 << 30})
	if why := fastRefused(target(t, limited, nil), limited, nil, nil); !strings.Contains(why, "RLIMIT_AS") {
		t.Errorf("RLIMIT_AS: fastRefused = %q", why)
	}
	flagged := seccomp.Default()
	flagged.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}
	if why := fastRefused(target(t, docker(), flagged), docker(), compile(t, flagged), nil); !strings.Contains(why, "flags") {
		t.Errorf("a profile with TSYNC: fastRefused = %q", why)
	}
	noClone := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"clone"}, Action: specs.ActErrno}}}
	if why := fastRefused(target(t, docker(), noClone), docker(), compile(t, noClone), nil); !strings.Contains(why, "clone") {
		t.Errorf("a profile refusing clone: fastRefused = %q", why)
	}
}
