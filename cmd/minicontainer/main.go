// Command minicontainer runs a command in a small container: new pid, mount,
// uts, ipc, net and cgroup namespaces, an overlay of a busybox root
// filesystem, pivot_root, and a correct PID 1. It is the article's 50-line
// chroot demo finished; the lesson is docs/06-minicontainer.md.
//
// Usage:
//
//	minicontainer run [--rootfs DIR] [--name N] [--hostname H] [-e K=V] [-w DIR]
//	                  [-v HOST:CTR[:ro]] [--read-only] [--chroot] [--init] [-i] [-t]
//	                  [--memory SIZE] [--pids N] [--cpus N] [--cpu-weight W]
//	                  [--cpuset-cpus LIST] [--cgroup-parent DIR] [--cgroup2]
//	                  [--net bridge|none|host|slirp] [--subnet CIDR] [-p HOST:CTR[/tcp]]
//	                  [--cap-add CAP] [--cap-drop CAP] [--privileged] [--userns remap]
//	                  [--security-opt seccomp=unconfined|PROFILE.json|no-new-privileges]
//	                  [-x] -- CMD [ARG...]
//	minicontainer run [run's flags] [--entrypoint PROG] IMAGE [CMD [ARG...]]
//	minicontainer pull [-x] [--platform OS/ARCH] REF
//	minicontainer load -i FILE | import ROOTFS.tar NAME[:TAG] | images | rmi [-f] IMAGE...
//	minicontainer run -d [--rm] [run's flags] -- CMD [ARG...]   (prints the ID; a monitor owns it)
//	minicontainer exec [-i] [-t] [-e K=V] [-w DIR] [-u USER[:GROUP]] [-d] ID|NAME CMD [ARG...]
//	minicontainer logs [-f] [--tail N] [-t] ID|NAME
//	minicontainer stop [-t SECONDS] ID|NAME...
//	minicontainer kill -s SIGNAL ID|NAME
//	minicontainer rm [-f] ID|NAME...
//	minicontainer wait ID|NAME...
//	minicontainer inspect ID|NAME...
//	minicontainer network ls|inspect NAME|rm NAME
//	minicontainer ps [-a] [--no-trunc]
//	minicontainer stats [ID|NAME]
//	minicontainer gc
//	minicontainer run --bundle DIR
//
// The OCI verbs, as runc spells them (podman and containerd call them):
//
//	minicontainer [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup]
//	              create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot]
//	                     [--no-new-keyring] [--preserve-fds N] [-x] ID
//	minicontainer start [-x] ID
//	minicontainer state ID
//	minicontainer kill [--all] ID [SIGNAL]
//	minicontainer delete [--force] [-x] ID
//	minicontainer features
//	minicontainer spec [run's flags] [-- CMD [ARG...]]
//	minicontainer seccomp [run's flags | --config FILE]
//	minicontainer --version
//
// Every subcommand takes --root DIR, the state directory (/run/minicontainer).
// A container is named by its name, its ID, or a unique start of its ID.
//
//	minicontainer rootfs busybox DIR
//
// The OCI verbs exit 1 on failure (runc's convention), with one line on
// stderr and in --log.
//
// run's exit status: the command's own; 128+N if a signal N killed it; 125 if
// minicontainer failed before the command ran; 126 if the command could
// not be executed; 127 if it was not found (as docker run).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
	"github.com/minicontainer/minicontainer/pkg/network"
	"github.com/minicontainer/minicontainer/pkg/reexec"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/spec"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// version is this build's; the runtime-spec's is specs.Version.
const version = "0.9.0"

type runCmd struct {
	Image       string  `help:"Run this image from the store (pull, load or import it first): its layers are the overlay's lower dirs, its config the defaults." placeholder:"IMAGE"`
	Entrypoint  *string `help:"Run PROG instead of the image's Entrypoint (and not its Cmd)." placeholder:"PROG"`
	imageStore  `embed:""`
	Rootfs      string   `help:"Root filesystem directory (default: the image ${default_rootfs}, made from the host's busybox on first use)." placeholder:"DIR"`
	Name        string   `help:"A unique name for the container." placeholder:"N"`
	Hostname    string   `help:"The container's hostname." default:"${default_hostname}" placeholder:"H"`
	Env         []string `short:"e" sep:"none" help:"Set an environment variable (K=V; K alone copies the host's)." placeholder:"K=V"`
	Workdir     string   `short:"w" help:"Working directory inside the container." placeholder:"DIR"`
	Volume      []string `short:"v" sep:"none" help:"Bind mount a host directory: HOST:CONTAINER[:ro]." placeholder:"HOST:CTR[:ro]"`
	ReadOnly    bool     `help:"Mount the root filesystem read-only."`
	Chroot      bool     `help:"Use chroot(2) instead of pivot_root(2), as the article did (escapable)."`
	Init        bool     `help:"Run a tiny init as PID 1 that reaps zombies and forwards signals."`
	Interactive bool     `short:"i" help:"Attach stdin when it is a terminal: the keyboard (a pipe or file as stdin is always copied in)."`
	TTY         bool     `short:"t" help:"Give the command a pseudo-terminal inside the container."`
	Net         string   `help:"Network: bridge (eth0 on the bridge mc0, with NAT), none (loopback only), host (the host's own) or slirp (slirp4netns: no root needed; a user other than root gets it by default when installed)." default:"bridge" placeholder:"MODE"`
	Subnet      string   `help:"Subnet of the bridge (default ${default_subnet})." placeholder:"CIDR"`
	Publish     []string `short:"p" sep:"none" help:"Publish a container port on the host: HOSTPORT:CTRPORT[/tcp|/udp] (--net bridge or slirp)." placeholder:"HOST:CTR"`
	Explain     bool     `short:"x" help:"Narrate every step: each system call with its real arguments."`
	Timing      bool     `help:"When the container ends, print to stderr the wall and CPU time of each phase of its start (docs/performance.md)."`
	// Confinement: Docker's defaults unless these say otherwise (pkg/spec/confine.go).
	CapAdd      []string `name:"cap-add" sep:"none" help:"Add a capability to Docker's 14 (CHOWN or CAP_CHOWN; ALL for every one)." placeholder:"CAP"`
	CapDrop     []string `name:"cap-drop" sep:"none" help:"Drop a capability (ALL for every one)." placeholder:"CAP"`
	Privileged  bool     `help:"Every capability and device, no seccomp filter, no masked paths, /sys and cgroupfs writable: host root."`
	SecurityOpt []string `name:"security-opt" sep:"none" help:"seccomp=unconfined, seccomp=PROFILE.json (Docker's format), or no-new-privileges." placeholder:"OPT"`
	Userns      string   `help:"remap (root only): a user namespace whose root is an unprivileged uid of the host, from minicontainer's range in /etc/subuid and /etc/subgid (added on first use)." placeholder:"MODE"`
	// Resource limits, applied through the container's cgroup (pkg/cgroup).
	Resources    cgroup.Flags `embed:""`
	CgroupParent string       `help:"Directory under each cgroup hierarchy for the container's cgroup." default:"${default_cgroup_parent}" env:"MINICONTAINER_CGROUP_PARENT" placeholder:"DIR"`
	Cgroup2      bool         `name:"cgroup2" help:"On a hybrid host, use the cgroup2 hierarchy (CLONE_INTO_CGROUP, cgroup.kill; it has no controllers, so no limits)." env:"MINICONTAINER_CGROUP2"`
	Detach       bool         `short:"d" help:"Run in the background under a monitor and print the container's ID; its output goes to its log (logs ID)."`
	Rm           bool         `help:"Remove the container when it ends (a foreground run always does)."`
	Bundle       string       `help:"Run this OCI bundle (config.json and its rootfs) in the foreground instead: create, start, wait, delete." placeholder:"DIR"`
	Command      []string     `arg:"" optional:"" passthrough:"partial" help:"IMAGE [CMD...], or -- CMD (busybox)." placeholder:"IMAGE [CMD]"`
}

// flags are run's flags as pkg/spec maps them onto a Spec.
func (r *runCmd) flags() spec.RunFlags {
	return spec.RunFlags{
		Rootfs: r.Rootfs, Name: r.Name, Hostname: r.Hostname, Env: r.Env, Workdir: r.Workdir,
		Volumes: r.Volume, ReadOnly: r.ReadOnly, Chroot: r.Chroot, Init: r.Init, Interactive: r.Interactive,
		TTY: r.TTY, Net: r.Net, Subnet: r.Subnet, Ports: r.Publish, Resources: r.Resources,
		CgroupParent: r.CgroupParent, Cgroup2: r.Cgroup2, Command: r.Command,
		CapAdd: r.CapAdd, CapDrop: r.CapDrop, Privileged: r.Privileged, SecurityOpt: r.SecurityOpt,
	}
}

// confined reports whether a confinement flag was given.
func (r *runCmd) confined() bool {
	return len(r.CapAdd) > 0 || len(r.CapDrop) > 0 || r.Privileged || len(r.SecurityOpt) > 0
}

func (r *runCmd) Run(g *globals) error {
	r.positional()
	x := explain.New(os.Stderr, r.Explain)
	var t *timing.Timer
	if r.Timing {
		if t = g.timer; t == nil {
			t = timing.Start("minicontainer") // "parse" then holds nothing
		}
		t.Mark("parse")
	}
	if r.Timing && (r.Bundle != "" || r.Detach) {
		fail(errors.New("--timing times a foreground run of run's own flags: not with --bundle or -d"))
	}
	if r.Bundle != "" {
		if len(r.Command) > 0 {
			fail(errors.New("run --bundle takes no command: it is process.args in config.json"))
		}
		code, err := container.RunBundle(g.Root, r.Bundle, container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, x)
		if err != nil {
			fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
		}
		os.Exit(code)
	}
	if err := container.CheckUserns(r.Userns); err != nil {
		fail(err)
	}
	// Bad confinement flags fail here, before anything exists (exit 125).
	if r.confined() {
		if _, err := spec.FromRun(r.flags(), os.LookupEnv); err != nil {
			fail(err)
		}
	}
	cfg := container.Config{
		Rootfs: r.Rootfs, Name: r.Name, Hostname: r.Hostname, Env: r.Env, Workdir: r.Workdir,
		Volumes: r.Volume, ReadOnly: r.ReadOnly, Chroot: r.Chroot, Init: r.Init,
		Interactive: r.Interactive, TTY: r.TTY, Command: r.Command, StateRoot: g.Root,
		Resources: r.Resources, CgroupParent: r.CgroupParent, CgroupV2: r.Cgroup2,
		Net: r.Net, Subnet: r.Subnet, Ports: r.Publish,
		CapAdd: r.CapAdd, CapDrop: r.CapDrop, Privileged: r.Privileged, SecurityOpt: r.SecurityOpt,
		Userns: r.Userns, Timing: t,
	}
	if err := r.applyImage(&cfg, x); err != nil {
		fail(err)
	}
	if r.Detach {
		id, code, err := container.RunDetached(cfg, r.flags(), r.Rm, x)
		if err != nil {
			fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
			os.Exit(code)
		}
		fmt.Println(id)
		return nil
	}
	code, err := container.Run(cfg, container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, x)
	if err != nil {
		fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
	}
	t.Print(os.Stderr)
	os.Exit(code)
	return nil
}

type statsCmd struct {
	Container string `arg:"" optional:"" help:"A container's ID (or its start) or name; all running ones if not given." placeholder:"ID|NAME"`
}

func (s statsCmd) Run(g *globals) error { return container.PrintStats(os.Stdout, g.Root, s.Container) }

type gcCmd struct{}

func (gcCmd) Run(g *globals) error {
	_, err := container.GC(g.Root, os.Stdout)
	return err
}

type networkLsCmd struct{}

func (networkLsCmd) Run(g *globals) error {
	return network.PrintList(os.Stdout, network.DefaultStateDir)
}

type networkInspectCmd struct {
	Name string `arg:"" help:"The network (bridge) name." placeholder:"NAME"`
}

func (n *networkInspectCmd) Run(g *globals) error {
	return network.Inspect(os.Stdout, network.DefaultStateDir, n.Name)
}

type networkRmCmd struct {
	Name    string `arg:"" help:"The network (bridge) name." placeholder:"NAME"`
	Explain bool   `short:"x" help:"Narrate every step."`
}

func (n *networkRmCmd) Run(g *globals) error {
	return network.Remove(network.DefaultStateDir, n.Name, explain.New(os.Stderr, n.Explain))
}

type busyboxCmd struct {
	Dir     string `arg:"" help:"Directory to create." placeholder:"DIR"`
	Explain bool   `short:"x" help:"Narrate every step."`
}

func (b *busyboxCmd) Run() error {
	return rootfs.BuildBusybox(b.Dir, explain.New(os.Stderr, b.Explain))
}

// globals are the flags every subcommand shares: runc's, since engines
// put them before every OCI verb.
type globals struct {
	Root          string           `help:"Directory for the containers' state (as runc --root)." default:"${default_root}" env:"MINICONTAINER_ROOT" placeholder:"DIR"`
	Log           string           `help:"Append errors (and with --debug, the narration) to this file, as runc --log." placeholder:"FILE"`
	LogFormat     string           `name:"log-format" help:"text or json ({\"level\",\"msg\",\"time\"} lines)." enum:"text,json" default:"text"`
	Debug         bool             `help:"Narrate the OCI verbs' steps into --log."`
	SystemdCgroup bool             `name:"systemd-cgroup" help:"Refused by create: minicontainer drives cgroupfs only."`
	Version       kong.VersionFlag `help:"Print the version and the runtime-spec version, and exit."`

	debugLog *os.File
	timer    *timing.Timer // started in main when the arguments may hold --timing
}

// mayTime reports whether args may hold --timing: before the command's
// own arguments ("--"), any word that starts with it (kong also takes
// --timing=true). A command's own "--timing" after an image name counts
// too: that costs one getrusage(2), and kong's answer decides.
func mayTime(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if strings.HasPrefix(a, "--timing") {
			return true
		}
	}
	return false
}

type cli struct {
	Globals  globals     `embed:""`
	Run      runCmd      `cmd:"" help:"Run a command in a new container."`
	Ps       psCmd       `cmd:"" help:"List running containers (-a: also those that ended)."`
	Logs     logsCmd     `cmd:"" help:"Print a detached container's output (-f: follow it until it ends)."`
	Stop     stopCmd     `cmd:"" help:"Stop containers: SIGTERM, a wait, then SIGKILL."`
	Rm       rmCmd       `cmd:"" help:"Remove containers that ended (-f: also running ones)."`
	Wait     waitCmd     `cmd:"" help:"Wait for containers to end and print their exit codes."`
	Inspect  inspectCmd  `cmd:"" help:"Print containers' configuration and state as JSON."`
	Create   createCmd   `cmd:"" help:"OCI: create a container from a bundle; its process waits for start."`
	Start    startCmd    `cmd:"" help:"OCI: start the process of a created container."`
	State    stateCmd    `cmd:"" help:"OCI: print a container's state (runtime-spec JSON)."`
	Kill     killCmd     `cmd:"" help:"OCI: send a signal to a container's init (SIGTERM by default)."`
	Delete   deleteCmd   `cmd:"" help:"OCI: delete a stopped container (--force: any)."`
	Exec     ociExecCmd  `cmd:"" help:"OCI: run a new process in a running container (runc exec: --process FILE, or CMD)."`
	Spec     specCmd     `cmd:"" help:"Print the config.json that run would use with these flags."`
	Features featuresCmd `cmd:"" help:"OCI: print what this runtime honours (runtime-spec features JSON)."`
	Seccomp  seccompCmd  `cmd:"" help:"Print the seccomp filter that run with these flags (or --config FILE) loads, disassembled."`
	Stats    statsCmd    `cmd:"" help:"Show running containers' memory, tasks, CPU time and OOM kills (from their cgroups)."`
	Gc       gcCmd       `cmd:"" help:"Remove what killed runs left behind."`
	Pull     pullCmd     `cmd:"" help:"Pull an image from a registry."`
	Load     loadCmd     `cmd:"" help:"Load images from a docker save tarball or an OCI layout (dir or tar)."`
	Import   importCmd   `cmd:"" help:"Import a root filesystem tar as a one-layer image."`
	Images   imagesCmd   `cmd:"" help:"List the images in the store."`
	Rmi      rmiCmd      `cmd:"" help:"Remove images (and the layers no other image shares)."`
	Network  struct {
		Ls      networkLsCmd      `cmd:"" help:"List the bridge networks in use."`
		Inspect networkInspectCmd `cmd:"" help:"Show a network's subnet and its containers' addresses, veths and ports."`
		Rm      networkRmCmd      `cmd:"" help:"Remove a network no container uses (and its NAT table)."`
	} `cmd:"" help:"Container networks."`
	Rootfs struct {
		Busybox busyboxCmd `cmd:"" help:"Build a busybox root filesystem from the host's static busybox."`
	} `cmd:"" help:"Build root filesystems."`
}

func main() {
	reexec.Init() // the container's init runs here and never returns: see pkg/container/init.go
	// --timing's first sample, before kong parses: its CPU time so far is
	// the Go runtime's start-up and package initialisation. Only when the
	// arguments may ask for it, so that no other start pays a getrusage(2);
	// kong decides whether they did.
	var timer *timing.Timer
	if mayTime(os.Args[1:]) {
		timer = timing.Start("minicontainer")
	}
	ctx, g := parseVerb(os.Args[1:])
	if ctx == nil {
		var c cli
		parser, err := kong.New(&c, kongOptions()...)
		if err != nil {
			fail(err)
		}
		ctx, err = parser.Parse(os.Args[1:])
		if err != nil {
			// An engine reads the runtime's errors from --log (containerd
			// shows the last error line of log.json to its user), and kong
			// fills no flag when the line does not parse: find --log and
			// --log-format in the arguments ourselves.
			logFlags(os.Args[1:]).log("error", err.Error())
			fail(err) // a usage error is bad input too: 125, as docker run (kong would exit 80)
		}
		g = &c.Globals
	}
	g.timer = timer
	if err := ctx.Run(g); err != nil {
		fail(err)
	}
}

func kongOptions() []kong.Option {
	return []kong.Option{kong.Name("minicontainer"),
		kong.Description("Run a command in a small Linux container."),
		kong.UsageOnError(),
		kong.Vars{"default_hostname": container.DefaultHostname, "default_rootfs": image.BuiltinRef,
			"default_root": container.DefaultRoot(), "default_cgroup_parent": container.DefaultCgroupParent,
			"default_subnet": network.DefaultSubnet,
			"version":        "minicontainer version " + version + "\nspec: " + specs.Version}}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
	os.Exit(container.ExitSetup)
}

// logFlags reads the global --log FILE and --log-format FORMAT (or
// --log=FILE, --log-format=FORMAT) from a command line that kong refused,
// up to the end of the flags ("--").
func logFlags(args []string) *globals {
	g := &globals{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, f := range []struct {
			name string
			to   *string
		}{{"--log", &g.Log}, {"--log-format", &g.LogFormat}} {
			if v, ok := strings.CutPrefix(a, f.name+"="); ok {
				*f.to = v
			} else if a == f.name && i+1 < len(args) {
				*f.to = args[i+1]
			}
		}
	}
	return g
}
