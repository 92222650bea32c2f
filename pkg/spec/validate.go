package spec

import (
	"errors"
	"fmt"
	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/ns"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
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
		if path := r.Used(s); path != "" {
			return bad(path, "%s", r.Why)
		}
	}
	for _, c := range []func(*specs.Spec, string) error{
		checkRoot, checkProcess, checkNamespaces, checkUserNamespace, checkHostname,
		checkMounts, checkHooks, checkLinux, checkSysctl, checkResources,
		checkAnnotations,
	} {
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
	if err := noNUL("root.path", s.Root.Path); err != nil {
		return err
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

// Rlimits are the resource names process.rlimits may set: getrlimit(2)'s
// RLIMIT_* (runtime-spec: "the runtime MUST generate an error for any
// values which cannot be mapped to a relevant kernel interface").
var Rlimits = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
	"RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
	"RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// noID is (uid_t)-1: setresuid(2) and setresgid(2) read it as "leave this
// id unchanged", so it cannot be a process's id.
const noID = math.MaxUint32

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
	if p.Args[0] == "" {
		return bad("process.args[0]", "the command must not be empty")
	}
	for i, a := range p.Args {
		// execve(2) takes C strings: a NUL would cut the argument short.
		if err := noNUL(fmt.Sprintf("process.args[%d]", i), a); err != nil {
			return err
		}
	}
	if err := noNUL("process.cwd", p.Cwd); err != nil {
		return err
	}
	// config.md: "This value MUST be an absolute path."
	if !filepath.IsAbs(p.Cwd) {
		return bad("process.cwd", "%q must be an absolute path", p.Cwd)
	}
	for i, e := range p.Env {
		path := fmt.Sprintf("process.env[%d]", i)
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return bad(path, "%q is not KEY=VALUE", e)
		}
		if err := noNUL(path, e); err != nil {
			return err
		}
	}
	if p.User.UID == noID {
		return bad("process.user.uid", "%d is (uid_t)-1, which setresuid(2) reads as \"no change\"", p.User.UID)
	}
	if p.User.GID == noID {
		return bad("process.user.gid", "%d is (gid_t)-1, which setresgid(2) reads as \"no change\"", p.User.GID)
	}
	for i, g := range p.User.AdditionalGids {
		if g == noID {
			return bad(fmt.Sprintf("process.user.additionalGids[%d]", i), "%d is (gid_t)-1, not a group", g)
		}
	}
	if p.User.Umask != nil && *p.User.Umask > 0o777 {
		return bad("process.user.umask", "%#o is more than the permission bits (0777)", *p.User.Umask)
	}
	if p.User.Username != "" {
		return bad("process.user.username", "is for Windows; on Linux give uid and gid")
	}
	seen := map[string]int{}
	for i, r := range p.Rlimits {
		path := fmt.Sprintf("process.rlimits[%d]", i)
		if !slices.Contains(Rlimits, r.Type) {
			return bad(path+".type", "%q is not a resource limit (want one of RLIMIT_NOFILE, RLIMIT_NPROC, ... as getrlimit(2) names them)", r.Type)
		}
		// config.md: "If rlimits contains duplicated entries with same
		// type, the runtime MUST generate an error."
		if j, ok := seen[r.Type]; ok {
			return bad(path+".type", "%s is already set by process.rlimits[%d]", r.Type, j)
		}
		seen[r.Type] = i
		// setrlimit(2): EINVAL when "rlim_cur was greater than rlim_max".
		if r.Soft > r.Hard {
			return bad(path+".soft", "%d is above the hard limit %d", r.Soft, r.Hard)
		}
	}
	// proc(5), /proc/pid/oom_score_adj: "from -1000 (OOM_SCORE_ADJ_MIN) to
	// +1000 (OOM_SCORE_ADJ_MAX)".
	if a := p.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
		return bad("process.oomScoreAdj", "%d is out of range (-1000 to 1000)", *a)
	}
	// process.consoleSize without a terminal sizes nothing: accepted, as
	// runc accepts it.
	return checkCapabilities(p.Capabilities)
}

// checkCapabilities: every name is one capabilities(7) lists (runtime-spec:
// a value that cannot be mapped to a kernel interface MUST be an error;
// runc 1.x only warns); pkg/caps holds the table and the rule (a known name
// newer than the running kernel is accepted, and skipped when applied).
func checkCapabilities(c *specs.LinuxCapabilities) error {
	return asFieldError(caps.Check(c))
}

// asFieldError turns a package's "json.path: problem" refusal (pkg/caps,
// pkg/seccomp name the field the same way) into a FieldError, so that every
// refusal of Validate reads "config.json: json.path: problem".
func asFieldError(err error) error {
	if err == nil {
		return nil
	}
	path, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok {
		return bad("(top level)", "%s", err)
	}
	return bad(path, "%s", msg)
}

// nsInfo is what checkNamespaces learnt: which namespaces the container
// gets, and whether each is new or joined by path.
type nsInfo map[specs.LinuxNamespaceType]string // type -> path ("" = new)

func namespacesOf(s *specs.Spec) nsInfo {
	m := nsInfo{}
	for _, n := range linux(s).Namespaces {
		m[n.Type] = n.Path
	}
	return m
}

// has says whether the container has a namespace of type t of its own: a
// new one, or one joined by path that is not the runtime's own (runc's
// rule for net.* sysctls: "host" means the current namespace).
func (m nsInfo) has(t specs.LinuxNamespaceType) bool {
	p, ok := m[t]
	if !ok {
		return false
	}
	if p == "" {
		return true
	}
	k, err := ns.ByName(string(t))
	if err != nil {
		return false
	}
	self, err := ns.Of(0, k)
	if err != nil {
		return true
	}
	id, err := ns.Identify(p)
	return err != nil || id.Dev != self.Dev || id.Ino != self.Ino
}

// checkNamespaces: linux.namespaces (config-linux.md "Namespaces"): a
// known type, at most once each, and a path that is absolute and names a
// namespace of that type.
func checkNamespaces(s *specs.Spec, _ string) error {
	seen := map[specs.LinuxNamespaceType]int{}
	for i, n := range linux(s).Namespaces {
		path := fmt.Sprintf("linux.namespaces[%d]", i)
		if !slices.Contains(Namespaces, n.Type) {
			if n.Type == specs.TimeNamespace {
				return bad(path+".type", "%q namespaces are not supported yet", n.Type)
			}
			return bad(path+".type", "%q is not a namespace type (want one of %s)", n.Type, strings.Join(NamespaceNames(), ", "))
		}
		// "If a namespaces field contains duplicated namespaces with same
		// type, the runtime MUST generate an error."
		if j, ok := seen[n.Type]; ok {
			return bad(path+".type", "%q is already given by linux.namespaces[%d]", n.Type, j)
		}
		seen[n.Type] = i
		if n.Path == "" {
			continue
		}
		path += ".path"
		if err := noNUL(path, n.Path); err != nil {
			return err
		}
		// "This value MUST be an absolute path in the runtime mount
		// namespace."
		if !filepath.IsAbs(n.Path) {
			return bad(path, "%q must be an absolute path", n.Path)
		}
		// Only a regular file is opened: nsfs files are, and opening a
		// FIFO or a device to ask its type could block or act.
		st, err := os.Stat(n.Path)
		if err != nil {
			return bad(path, "%s: %v", n.Path, unwrapPath(err))
		}
		if !st.Mode().IsRegular() {
			return bad(path, "%s is not a namespace file", n.Path)
		}
		// "The runtime MUST generate an error if path is not associated
		// with a namespace of type type."
		id, err := ns.Identify(n.Path)
		if errors.Is(err, fs.ErrPermission) {
			return bad(path, "%s: %v", n.Path, unwrapPath(err))
		}
		if err != nil {
			return bad(path, "%s is not a namespace file", n.Path)
		}
		if want, _ := ns.ByName(string(n.Type)); id.Kind.Flag != want.Flag {
			return bad(path, "%s is a %s namespace, not %s", n.Path, id.Kind.Name, n.Type)
		}
	}
	return nil
}

// checkHostname: a valid host name, set only in a UTS namespace of the
// container's: without one it would rename the host (runc refuses
// "unable to set hostname without a private UTS namespace").
func checkHostname(s *specs.Spec, _ string) error {
	if s.Hostname == "" {
		return nil
	}
	if err := rootfs.ValidateHostname(s.Hostname); err != nil {
		return bad("hostname", "%s", strings.TrimPrefix(err.Error(), "hostname "))
	}
	if _, ok := namespacesOf(s)[specs.UTSNamespace]; !ok {
		return bad("hostname", "needs a UTS namespace (linux.namespaces: {\"type\": \"uts\"}); it would rename the host")
	}
	return nil
}

// checkMounts: mounts (config.md "Mounts").
func checkMounts(s *specs.Spec, bundle string) error {
	// Without a mount namespace of the container's, the container shares
	// the runtime's: the host's. Its mounts are made below a private bind
	// of its root that delete removes (see pkg/rootfs/hostroot.go), but
	// the read-only remount of root and a propagation change would change
	// mounts the host uses (runc refuses the first too).
	if _, ok := namespacesOf(s)[specs.MountNamespace]; !ok {
		const why = "needs a mount namespace (linux.namespaces: {\"type\": \"mount\"}); it would change the host's mounts"
		switch {
		case s.Root != nil && s.Root.Readonly:
			return bad("root.readonly", why)
		case linux(s).RootfsPropagation != "":
			return bad("linux.rootfsPropagation", why)
		}
	}
	for i, m := range s.Mounts {
		path := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			return bad(path+".destination", "must not be empty")
		}
		// "For the Linux platform, this value SHOULD be an absolute path.
		// For compatibility with old tools and configurations, it MAY be a
		// relative path, in which case it MUST be interpreted as relative
		// to "/". Relative paths are deprecated." runc accepts them (with
		// a warning), and so does this build: the executor joins them to /.
		for _, f := range []struct{ name, v string }{{"destination", m.Destination}, {"source", m.Source}, {"type", m.Type}} {
			if err := noNUL(path+"."+f.name, f.v); err != nil {
				return err
			}
		}
		if filepath.Clean("/"+m.Destination) == "/" {
			return bad(path+".destination", "cannot be the container's root (that is root.path)")
		}
		pm, err := ParseMountOptions(m.Options)
		if err != nil {
			for j, o := range m.Options {
				if _, err1 := ParseMountOptions([]string{o}); err1 != nil {
					return bad(fmt.Sprintf("%s.options[%d]", path, j), "%v", err1)
				}
			}
			return bad(path+".options", "%v", err)
		}
		isBind := pm.Flags&bindFlag != 0 || m.Type == "bind"
		// mount(2) needs a filesystem type unless it binds: refused here
		// rather than fail half-way through create.
		if m.Type == "" && !isBind {
			return bad(path+".type", "needs a filesystem type (like tmpfs), or bind or rbind in options")
		}
		if isBind {
			// config.md: "Path values for bind mounts are either absolute
			// or relative to the bundle."
			if m.Source == "" {
				return bad(path+".source", "a bind mount needs a source")
			}
			src := bundlePath(bundle, m.Source)
			if _, err := os.Stat(src); err != nil {
				return bad(path+".source", "%s: %v", src, unwrapPath(err))
			}
			// Filesystem options on a bind mount (runtime-tools' mounts
			// file puts mode=755,size=1k on every mount) are accepted and
			// not used: mount(2) takes no data with MS_BIND, and
			// rootfs.SetupBundle passes none; runc 1.1 accepts them too.
		}
	}
	return nil
}

// checkHooks: hooks (config.md "POSIX-platform Hooks"): "path ... MUST be
// absolute"; "timeout ... MUST be greater than zero".
func checkHooks(s *specs.Spec, _ string) error {
	if s.Hooks == nil {
		return nil
	}
	h := s.Hooks
	for i, list := range [][]specs.Hook{h.Prestart, h.CreateRuntime, h.CreateContainer, h.StartContainer, h.Poststart, h.Poststop} {
		for j, hook := range list {
			path := fmt.Sprintf("hooks.%s[%d]", HookNames[i], j)
			if err := noNUL(path+".path", hook.Path); err != nil {
				return err
			}
			if !filepath.IsAbs(hook.Path) {
				return bad(path+".path", "%q must be an absolute path", hook.Path)
			}
			for k, e := range hook.Env {
				if key, _, ok := strings.Cut(e, "="); !ok || key == "" {
					return bad(fmt.Sprintf("%s.env[%d]", path, k), "%q is not KEY=VALUE", e)
				}
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return bad(path+".timeout", "%d must be greater than zero (seconds)", *hook.Timeout)
			}
		}
	}
	return nil
}

// devDir is where linux.devices may create device nodes.
const devDir = "/dev/"

// bindFlag is MS_BIND, which "bind" and "rbind" set.
const bindFlag = unix.MS_BIND

// checkLinux: the rest of linux: rootfsPropagation, cgroupsPath, devices,
// maskedPaths and readonlyPaths.
func checkLinux(s *specs.Spec, _ string) error {
	l := linux(s)
	// The seccomp profile is compiled now, on the host: a bad one is
	// refused before anything exists (pkg/seccomp names the field).
	if err := asFieldError(seccomp.Check(l.Seccomp)); err != nil {
		return err
	}
	if p := l.RootfsPropagation; p != "" {
		if _, ok := Propagations[p]; !ok {
			return bad("linux.rootfsPropagation", "%q is not a propagation type (want one of shared, slave, private, unbindable, or their r-forms)", p)
		}
	}
	if c := l.CgroupsPath; c != "" {
		if err := noNUL("linux.cgroupsPath", c); err != nil {
			return err
		}
		// The path is taken under the cgroup mount: a ".." would reach out
		// of the hierarchy minicontainer manages.
		for _, part := range strings.Split(c, "/") {
			if part == ".." || part == "." {
				return bad("linux.cgroupsPath", "%q: no . or .. components", c)
			}
		}
	}
	nss := namespacesOf(s)
	for i, d := range l.Devices {
		path := fmt.Sprintf("linux.devices[%d]", i)
		if err := noNUL(path+".path", d.Path); err != nil {
			return err
		}
		if !filepath.IsAbs(d.Path) || filepath.Clean(d.Path) != d.Path || !strings.HasPrefix(d.Path, devDir) {
			return bad(path+".path", "%q must be a clean absolute path under /dev", d.Path)
		}
		switch d.Type {
		case "c", "b", "u":
			// mknod(2): the device number is 12 bits major, 20 minor.
			if d.Major < 0 || d.Major > 0xfff || d.Minor < 0 || d.Minor > 0xfffff {
				return bad(path, "major %d, minor %d: out of range (0-4095, 0-1048575)", d.Major, d.Minor)
			}
		case "p":
		default:
			return bad(path+".type", "%q is not a device type (want c, b, u or p)", d.Type)
		}
		if d.FileMode != nil && *d.FileMode&^os.ModePerm != 0 {
			return bad(path+".fileMode", "%#o: only permission bits", uint32(*d.FileMode))
		}
	}
	for i, d := range resources(s).Devices {
		path := fmt.Sprintf("linux.resources.devices[%d]", i)
		if d.Type != "" && d.Type != "a" && d.Type != "c" && d.Type != "b" {
			return bad(path+".type", "%q is not a device type (want a, c or b)", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return bad(path+".access", "%q: want letters of rwm", d.Access)
		}
	}
	for _, list := range []struct {
		name  string
		paths []string
	}{{"maskedPaths", l.MaskedPaths}, {"readonlyPaths", l.ReadonlyPaths}} {
		for i, p := range list.paths {
			path := fmt.Sprintf("linux.%s[%d]", list.name, i)
			if err := noNUL(path, p); err != nil {
				return err
			}
			if !filepath.IsAbs(p) {
				return bad(path, "%q must be an absolute path", p)
			}
		}
		// runc: "unable to restrict sys entries without a private MNT
		// namespace" -- the mounts would land on the host.
		if _, ok := nss[specs.MountNamespace]; len(list.paths) > 0 && !ok {
			return bad("linux."+list.name, "needs a mount namespace (linux.namespaces: {\"type\": \"mount\"})")
		}
	}
	return nil
}

// noNUL refuses a string with a NUL byte: every string here ends up as a
// C string in a system call, where the NUL would cut it short.
func noNUL(path, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return bad(path, "%q contains a NUL byte", v)
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

// checkAnnotations: config.md "Annotations": "Keys MUST NOT be an empty
// string."
func checkAnnotations(s *specs.Spec, _ string) error {
	if _, ok := s.Annotations[""]; ok {
		return bad(`annotations[""]`, "a key must not be empty")
	}
	return nil
}
