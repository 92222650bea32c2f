package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FieldError is a problem with one field of config.json, named by its JSON
// path: `config.json: process.args: must not be empty`.
type FieldError struct {
	Path string // process.args[0], linux.sysctl["net.ipv4.ip_forward"]
	Msg  string
}

func (e *FieldError) Error() string { return ConfigName + ": " + e.Path + ": " + e.Msg }

func bad(path, format string, a ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)}
}

// Validate checks a Spec before anything is created, and returns the first
// problem as one line naming the field by its JSON path. Relative paths in
// it (root.path, bind mounts' sources) are relative to the bundle
// directory, as runtime-spec says; the host-side ones must exist.
//
// Validate refuses a field this build does not honour (Refused), rather
// than run a container without the confinement or setting its config asks
// for. Unknown JSON fields never reach it: Load ignores them, as runc does.
func Validate(s *specs.Spec, bundle string) error {
	if s == nil {
		return bad("(top level)", "no configuration")
	}
	if err := CheckVersion(s.Version); err != nil {
		return fmt.Errorf("%s: %w", ConfigName, err)
	}
	for _, r := range Refused {
		if r.set(s) {
			return bad(r.Path, "%s", r.Why)
		}
	}
	checks := []func(*specs.Spec, string) error{
		checkRoot, checkProcess,
	}
	for _, c := range checks {
		if err := c(s, bundle); err != nil {
			return err
		}
	}
	return nil
}

// checkRoot: root.path is the container's root filesystem on the host,
// "either an absolute path or a relative path to the bundle"
// (runtime-spec, config.md "Root").
func checkRoot(s *specs.Spec, bundle string) error {
	if s.Root == nil {
		return bad("root", "is required (the container's root filesystem)")
	}
	if s.Root.Path == "" {
		return bad("root.path", "must not be empty")
	}
	p := bundlePath(bundle, s.Root.Path)
	st, err := os.Stat(p)
	if err != nil {
		return bad("root.path", "%s: %v", p, unwrapPath(err))
	}
	if !st.IsDir() {
		return bad("root.path", "%s: not a directory", p)
	}
	if abs, _ := filepath.Abs(p); abs == "/" {
		return bad("root.path", "the host's own root cannot be a container's root filesystem")
	}
	return nil
}

// checkProcess: create needs a process (runtime-spec, config.md: process
// is "REQUIRED when start is called").
func checkProcess(s *specs.Spec, _ string) error {
	p := s.Process
	if p == nil {
		return bad("process", "is required: the command the container runs")
	}
	if len(p.Args) == 0 {
		return bad("process.args", "must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return bad("process.cwd", "%q must be an absolute path", p.Cwd)
	}
	return nil
}

// bundlePath resolves a host path given in config.json: relative ones are
// relative to the bundle directory.
func bundlePath(bundle, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(bundle, p)
}

// unwrapPath drops the operation and path os adds, when the message names
// the path already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// A Refusal is a field this build does not honour: set says whether a
// Spec uses it. Validate refuses it; Features reports its absence from the
// same table.
type Refusal struct {
	Path string
	Why  string
	set  func(*specs.Spec) bool
}

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

// Refused lists the fields no part of minicontainer honours yet. Running a
// container without the seccomp filter, id mapping or label its config
// asks for would be a silent downgrade: each is refused by name instead.
var Refused = []Refusal{
	{"linux.seccomp", "seccomp filters are not supported yet", func(s *specs.Spec) bool { return linux(s).Seccomp != nil }},
	{"linux.uidMappings", "user namespaces (id mappings) are not supported yet", func(s *specs.Spec) bool { return linux(s).UIDMappings != nil }},
	{"linux.gidMappings", "user namespaces (id mappings) are not supported yet", func(s *specs.Spec) bool { return linux(s).GIDMappings != nil }},
	{"process.apparmorProfile", "AppArmor is not supported", func(s *specs.Spec) bool { return process(s).ApparmorProfile != "" }},
	{"process.selinuxLabel", "SELinux is not supported", func(s *specs.Spec) bool { return process(s).SelinuxLabel != "" }},
	{"linux.mountLabel", "SELinux is not supported", func(s *specs.Spec) bool { return linux(s).MountLabel != "" }},
	{"linux.intelRdt", "Intel RDT is not supported", func(s *specs.Spec) bool { return linux(s).IntelRdt != nil }},
	{"linux.personality", "personality(2) is not supported yet", func(s *specs.Spec) bool { return linux(s).Personality != nil }},
	{"process.ioPriority", "I/O priorities are not supported yet", func(s *specs.Spec) bool { return process(s).IOPriority != nil }},
	{"process.scheduler", "scheduling policies are not supported yet", func(s *specs.Spec) bool { return process(s).Scheduler != nil }},
	{"linux.timeOffsets", "time namespaces are not supported yet", func(s *specs.Spec) bool { return linux(s).TimeOffsets != nil }},
}
