// Package container is minicontainer's lifecycle: the configuration a user
// gives, the parent (host) side that prepares and cleans up, the init side
// that becomes PID 1 in the new namespaces, and the state kept on disk so
// `ps` can list containers and `gc` can reclaim what a killed run left.
//
// How `minicontainer run` flows (see docs/06-minicontainer.md): a bundle's
// road (bundle.go) in one process.
//
//  1. Validate the whole Config; nothing is created on bad input. Its Spec
//     is spec.FromRun's (what `minicontainer spec` prints).
//  2. Create the host-side resources (state dir with the Spec, overlay
//     scratch dir, cgroup), each with its undo registered at once and
//     recorded in state.json.
//  3. Start /proc/self/exe as the container's bundle init with Cloneflags
//     for the Spec's namespaces, connected by a socketpair (the sync
//     channel) and given the exec fifo.
//  4. While the init waits on the socket, run hostSteps (cgroup placement,
//     veth...: what only the host can do), then send the init its Spec.
//  5. The init: hostname, lo up, rootfs.SetupBundle (mounts, pivot_root),
//     "ready"; it blocks on the exec fifo until run opens it (start), execs.
//  6. Forward signals, wait, map the exit status, undo in reverse order.
package container

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/spec"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// Config is what a user asks for on the command line.
type Config struct {
	Rootfs      string     // base root filesystem; "" means the built-in image's layer (BuiltinRootfs), made on first use
	Layers      []string   // more read-only lower dirs over Rootfs, bottom first (an image's upper layers)
	Name        string     // optional unique name
	Hostname    string     // "" means DefaultHostname
	Env         []string   // K=V added to (or replacing) the default environment; K alone copies the host's value
	Workdir     string     // working directory inside the container; "" means /
	User        specs.User // process.user (an image's User, resolved to ids); zero: root
	Volumes     []string   // HOST:CONTAINER[:ro]
	ReadOnly    bool       // mount the root filesystem read-only
	Chroot      bool       // chroot(2) instead of pivot_root(2): the article's way, escapable
	Init        bool       // run a tiny init as PID 1 that reaps zombies and forwards signals
	Interactive bool       // keep stdin attached to the pseudo-terminal (-i)
	TTY         bool       // give the command a pseudo-terminal inside the container (-t)
	Command     []string   // the command and its arguments
	StateRoot   string     // "" means DefaultStateRoot
	// Resources are the cgroup limits as given (--memory 64m, --pids 32,
	// --cpus 0.5, --cpu-weight, --cpuset-cpus), parsed by validateCgroup.
	Resources cgroup.Flags
	// CgroupParent is the directory under each cgroup hierarchy that holds
	// this container's cgroup; "" means DefaultCgroupParent.
	CgroupParent string
	// CgroupV2 uses a hybrid host's cgroup2 hierarchy (no controllers, so
	// no limits) instead of the v1 ones: see cgroup.Host.UseUnified.
	CgroupV2 bool

	Net    string   // network mode: "bridge" (the default when ""), "none" or "host"
	Subnet string   // the bridge's subnet (--subnet); "" means the bridge's current one or network.DefaultSubnet
	Ports  []string // published ports, HOSTPORT:CTRPORT[/tcp|/udp] (-p)

	// The confinement beyond Docker's defaults (spec.Default): see
	// pkg/spec/confine.go and docs/10-confinement.md.
	CapAdd      []string // --cap-add NAME, CAP_NAME or ALL
	CapDrop     []string // --cap-drop NAME, CAP_NAME or ALL
	Privileged  bool     // --privileged: host root (every capability and device, no seccomp, no masks)
	SecurityOpt []string // --security-opt seccomp=unconfined|PROFILE.json, no-new-privileges

	// Userns is --userns: "" or "host" (the host's), "remap" (root only:
	// a user namespace onto "minicontainer"'s subordinate ids, remap.go).
	Userns string `json:",omitempty"`

	// Detached is the monitor's part in a `run -d` (monitor.go); nil for
	// a foreground run.
	Detached *Detached `json:"-"`

	// Timing is --timing: the start's phases, marked as Run takes them,
	// the init's included (it sends its own); nil when not asked.
	Timing *timing.Timer `json:"-"`
}

// Detached is what Run does differently under a monitor: once the
// command runs, it calls Running with the state (the monitor records its
// log there and tells the CLI the ID), and from then on it leaves the
// state dir for the monitor, which writes the exit status into it.
// Everything else (cgroup, network, scratch dir) Run undoes as always.
type Detached struct {
	Running func(s *State) error
}

// DefaultHostname is the container's hostname unless --hostname is given.
const DefaultHostname = "minicontainer"

// ValidName is docker's rule for container names, [a-zA-Z0-9][a-zA-Z0-9_.-]*
// (without a regexp, whose compilation every container init would pay).
func ValidName(name string) bool {
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '.' && r != '-') {
			return false
		}
	}
	return name != ""
}

// runPlan is what validation learnt from a Config, in one typed value
// (before, its results landed in three places: a mutated Config, a
// returned rootfs.Spec and a separately called validateCgroup): the root
// filesystem, the network, the cgroup. Nothing is created making it.
type runPlan struct {
	rootfs rootfs.Spec
	net    netConfig
	cgroup *cgroupPlan // nil: no cgroup on this host
	notes  []string    // one line each for the user (a rootless run's defaults)
}

// plan validates the whole Config (validate, then the cgroup against the
// host) and returns the plan.
func (c *Config) plan(x *explain.Narrator) (*runPlan, error) {
	p, err := c.validate()
	if err != nil {
		return nil, err
	}
	if p.cgroup, err = c.validateCgroup(x); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks everything that can be checked on the host before
// anything is created, but the cgroup. It fills in the Config's defaults
// (hostname, state root) and returns the plan.
func (c *Config) validate() (*runPlan, error) {
	p := &runPlan{}
	spec := &p.rootfs
	if len(c.Command) == 0 {
		return nil, errors.New("no command given: minicontainer run [flags] -- CMD [ARG...]")
	}
	// execve(2) takes C strings: a NUL would end an argument early (Go's
	// exec refuses it with EINVAL, once everything is created).
	for _, a := range c.Command {
		if strings.Contains(a, "\x00") {
			return nil, fmt.Errorf("command argument %q: holds a NUL byte, which execve(2) cannot pass", a)
		}
	}
	if c.Name != "" && !ValidName(c.Name) {
		return nil, fmt.Errorf("invalid name %q: use letters, digits, _ . - (not first)", c.Name)
	}
	if c.StateRoot == "" {
		c.StateRoot = DefaultStateRoot
	}
	if !filepath.IsAbs(c.StateRoot) {
		return nil, fmt.Errorf("state root %q: must be an absolute path", c.StateRoot)
	}
	if rootless() {
		if err := c.checkRootless(p); err != nil {
			return nil, err
		}
	}
	if c.Hostname == "" {
		c.Hostname = DefaultHostname
	}
	var err error
	if p.net, err = c.validateNetwork(); err != nil {
		return nil, err
	}
	if c.Workdir != "" && !filepath.IsAbs(c.Workdir) {
		return nil, fmt.Errorf("workdir %q: must be an absolute path", c.Workdir)
	}
	for _, e := range c.Env {
		if err := CheckEnv(e); err != nil {
			return nil, err
		}
	}
	*spec = rootfs.Spec{
		Base:     c.Rootfs,
		Layers:   c.Layers,
		ReadOnly: c.ReadOnly,
		Hostname: c.Hostname,
		Chroot:   c.Chroot,
	}
	for _, v := range c.Volumes {
		vol, err := rootfs.ParseVolume(v)
		if err != nil {
			return nil, err
		}
		spec.Volumes = append(spec.Volumes, vol)
	}
	if spec.Base == "" {
		def, err := builtinLayer()
		if err != nil {
			return nil, err
		}
		spec.Base = def
		if def == "" {
			// Not made yet: Run makes it after validation (the one
			// thing a first run creates on purpose, and only for good
			// input), then validates the whole spec. Check now what needs
			// no base.
			spec.Base = ""
			if err := rootfs.ValidateHostname(spec.Hostname); err != nil {
				return nil, err
			}
			for _, v := range spec.Volumes {
				if _, err := os.Stat(v.Host); err != nil {
					return nil, fmt.Errorf("volume %s: host path: %w", v, err)
				}
			}
			return p, nil
		}
	}
	abs, err := filepath.Abs(spec.Base)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", spec.Base, err)
	}
	spec.Base = abs
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// environment is the command's environment: a small default like docker's,
// then -e entries in order (a later one replaces an earlier one).
func (c *Config) environment() []string {
	env := []string{
		"PATH=" + rootfs.DefaultPath,
		"HOME=/root",
		"HOSTNAME=" + c.Hostname,
	}
	if c.TTY {
		term := os.Getenv("TERM")
		if term == "" || term == "dumb" {
			term = "xterm"
		}
		env = append(env, "TERM="+term)
	}
	return MergeEnv(env, c.Env, os.LookupEnv)
}

// CheckEnv and MergeEnv are pkg/spec's (run's -e, mapped onto
// process.env there).
var (
	CheckEnv = spec.CheckEnv
	MergeEnv = spec.MergeEnv
)

// checkRootless is what a user other than root cannot have, refused in
// one line before anything is made, and the defaults that differ:
//   - limits need a cgroup this user may write: validateCgroup looks for
//     a cgroup v2 subtree delegated to the user (rootlessCgroup) and
//     refuses a limit it cannot apply there, never silently dropping it;
//     runs without limits stay in the caller's cgroup. --cgroup2 (a
//     hybrid host's empty cgroup2, made in its root) stays root's;
//   - the bridge network needs a veth pair and NAT on the host, which
//     only root may make: the default becomes slirp (slirp4netns, -p
//     through its API) when it can run, else none (loopback only), said
//     in one line; --net host shares the host's. --subnet, a bridge
//     option, is refused.
func (c *Config) checkRootless(p *runPlan) error {
	if c.CgroupV2 {
		return errors.New("rootless: --cgroup2 needs root: a rootless run stays in its caller's cgroup")
	}
	if c.Subnet != "" {
		return errors.New("rootless: --subnet needs the bridge network, which needs root (a veth pair and NAT on the host): run as root, or drop it")
	}
	if err := c.rootlessNet(p); err != nil {
		return err
	}
	// One dir for both would make the rootfs and the containers dir look
	// like the states of dead containers, which gc removes.
	if data, err := RootlessDataDir(); err == nil && filepath.Clean(c.StateRoot) == data {
		return fmt.Errorf("rootless: the state root %s is also the data dir (the rootfs): give XDG_RUNTIME_DIR or --root another dir", data)
	}
	return checkRootlessRoot(c.StateRoot)
}
