package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// The OCI verbs, as runc spells them (runtime-spec runtime.md,
// "Operations"; runc's man pages): podman's conmon and containerd's shim
// call them. Their failures exit 1, runc's convention, with one line on
// stderr and in --log.

type createCmd struct {
	Bundle        string `short:"b" help:"The bundle: config.json and its root filesystem." default:"." placeholder:"DIR"`
	PidFile       string `name:"pid-file" help:"Write the init's PID here." placeholder:"FILE"`
	ConsoleSocket string `name:"console-socket" help:"A unix socket to send the pty master to (process.terminal)." placeholder:"PATH"`
	NoPivot       bool   `name:"no-pivot" help:"Move the root onto / and chroot instead of pivot_root(2) (a root on ramfs)."`
	NoNewKeyring  bool   `name:"no-new-keyring" help:"Accepted for runc's callers: no session keyring is made anyway."`
	PreserveFDs   int    `name:"preserve-fds" help:"Pass create's fds 3..3+N-1 on to the process." placeholder:"N"`
	Explain       bool   `short:"x" help:"Narrate every step: each system call with its real arguments."`
	ID            string `arg:"" help:"The container's ID." placeholder:"ID"`
}

func (c *createCmd) Run(g *globals) error {
	if g.SystemdCgroup {
		return ociFail(g, errors.New("--systemd-cgroup: minicontainer drives cgroupfs only (podman --cgroup-manager=cgroupfs, containerd SystemdCgroup=false)"))
	}
	if c.PreserveFDs < 0 {
		return ociFail(g, fmt.Errorf("--preserve-fds %d: must not be negative", c.PreserveFDs))
	}
	err := container.Create(container.CreateOptions{
		Root: g.Root, ID: c.ID, Bundle: c.Bundle, PidFile: c.PidFile, ConsoleSocket: c.ConsoleSocket,
		NoPivot: c.NoPivot, PreserveFDs: c.PreserveFDs, Stdio: container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr},
		Narration: g.narration(c.Explain),
	}, g.narrator(c.Explain))
	return ociFail(g, err)
}

type startCmd struct {
	Explain bool   `short:"x" help:"Narrate every step."`
	ID      string `arg:"" placeholder:"ID"`
}

func (c *startCmd) Run(g *globals) error {
	id, err := container.Resolve(g.Root, c.ID)
	if err != nil {
		return ociFail(g, idError(c.ID, err))
	}
	return ociFail(g, idError(c.ID, container.Start(g.Root, id, g.narrator(c.Explain))))
}

type stateCmd struct {
	ID string `arg:"" placeholder:"ID"`
}

func (c *stateCmd) Run(g *globals) error {
	id, err := container.Resolve(g.Root, c.ID)
	if err != nil {
		return ociFail(g, idError(c.ID, err))
	}
	st, err := container.OCIState(g.Root, id)
	if err != nil {
		return ociFail(g, idError(c.ID, err))
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return ociFail(g, err)
	}
	fmt.Printf("%s\n", data)
	return nil
}

// killCmd is runc's kill (kill ID [SIGNAL], SIGTERM by default: what
// podman and containerd call) and docker's (kill -s SIGNAL ID): with -s
// it answers as docker does, the ref printed, a failure 125; without, as
// runc, quiet, a failure 1. docker's default signal is SIGKILL; a kill
// without a signal is runc's, SIGTERM, as it always was here.
type killCmd struct {
	SignalFlag string `short:"s" name:"signal" help:"The signal, docker-style (kill -s KILL NAME)." placeholder:"SIGNAL"`
	All        bool   `short:"a" help:"Signal every process of the container's cgroup."`
	Explain    bool   `short:"x" help:"Narrate every step."`
	ID         string `arg:"" placeholder:"ID"`
	Signal     string `arg:"" optional:"" default:"SIGTERM" help:"A name (TERM, SIGKILL) or a number." placeholder:"SIGNAL"`
}

func (c *killCmd) Run(g *globals) error {
	if c.SignalFlag != "" {
		return c.dockerStyle(g)
	}
	sig, err := container.ParseSignal(c.Signal)
	if err != nil {
		return ociFail(g, err)
	}
	id, err := container.Resolve(g.Root, c.ID)
	if err != nil {
		return ociFail(g, idError(c.ID, err))
	}
	return ociFail(g, idError(c.ID, container.Kill(g.Root, id, sig, c.All, g.narrator(c.Explain))))
}

// dockerStyle is kill -s SIGNAL ID: the signal goes to the container's
// init (every process of its cgroup with --all).
func (c *killCmd) dockerStyle(g *globals) error {
	if c.Signal != "SIGTERM" {
		return fmt.Errorf("give the signal once: -s %s or %s", c.SignalFlag, c.Signal)
	}
	sig, err := container.ParseSignal(c.SignalFlag)
	if err != nil {
		return err
	}
	return eachContainer(g, []string{c.ID}, func(id string) error {
		return container.Kill(g.Root, id, sig, c.All, g.narrator(c.Explain))
	})
}

type deleteCmd struct {
	Force   bool   `short:"f" help:"Kill the container first if it runs."`
	Explain bool   `short:"x" help:"Narrate every step."`
	ID      string `arg:"" placeholder:"ID"`
}

func (c *deleteCmd) Run(g *globals) error {
	id, err := container.Resolve(g.Root, c.ID)
	if err == nil {
		err = container.Delete(g.Root, id, c.Force, g.narrator(c.Explain))
	}
	if errors.Is(err, container.ErrNotExist) && c.Force {
		return nil // runc: delete --force of what is gone succeeds
	}
	return ociFail(g, idError(c.ID, err))
}

// idError words an unknown ID as runc does (engines look for "does not
// exist").
func idError(id string, err error) error {
	if errors.Is(err, container.ErrNotExist) {
		return fmt.Errorf("container %s does not exist", id)
	}
	return err
}

// ociFail reports an OCI verb's failure: one line on stderr, the same in
// --log (as JSON with --log-format json: containerd shows its user the
// last error line of that file), and exit 1.
func ociFail(g *globals, err error) error {
	if err == nil {
		return nil
	}
	g.log("error", err.Error())
	fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
	os.Exit(1)
	return nil
}

// log appends one line to --log, in its format.
func (g *globals) log(level, msg string) {
	if g.Log == "" {
		return
	}
	f, err := os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339)
	if g.LogFormat == "json" {
		data, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		f.Write(append(data, '\n'))
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

// narrator narrates to stderr with -x; with --debug, to --log too.
func (g *globals) narrator(on bool) *explain.Narrator {
	w := g.narration(on)
	return explain.New(w, w != nil)
}

// narration is where narrated lines go: stderr with -x, and with --debug
// the --log file too (never stderr alone: an engine reads it); nil: off.
func (g *globals) narration(on bool) io.Writer {
	var w io.Writer
	if on {
		w = os.Stderr
	}
	if g.Debug && g.Log != "" {
		if g.debugLog == nil {
			g.debugLog, _ = os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		}
		if g.debugLog != nil {
			if w != nil {
				return io.MultiWriter(w, g.debugLog)
			}
			return g.debugLog
		}
	}
	return w
}

type specCmd struct {
	Flags runCmd `embed:""`
}

// Run prints the config.json that `run` with the same flags uses: Docker's
// defaults (spec.Default) with the flags mapped onto it (spec.FromRun).
// Without a command, the process is sh, as in runc's `spec`.
func (c *specCmd) Run(g *globals) error {
	r := &c.Flags
	r.positional()
	f, err := r.specFlags(nil)
	if err != nil {
		return err
	}
	// --userns remap: the maps run would use; nothing is written here,
	// run adds "minicontainer"'s entries when they are missing.
	if f.UIDMappings, f.GIDMappings, err = container.RemapMaps(r.Userns, false, nil); err != nil {
		return err
	}
	if len(f.Command) == 0 {
		f.Command = []string{"sh"}
	}
	if f.Rootfs == "" {
		// The built-in image's layer: a bundle's root is mounted as
		// the overlay's lower dir, never written (see lesson 09).
		if f.Rootfs, err = r.builtin(nil); err != nil {
			return err
		}
	}
	s, err := spec.FromRun(f, os.LookupEnv)
	if err != nil {
		return err
	}
	// config.json goes in the current directory, the bundle (runc spec
	// writes it there): a root inside it is written relative to it, as
	// runc spec's "rootfs", so that the bundle can be moved or copied
	// whole; runtime-spec config.md: root.path "may be ... relative to
	// the bundle". A root elsewhere stays absolute.
	if cwd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(cwd, s.Root.Path); err == nil && filepath.IsLocal(rel) {
			s.Root.Path = rel
		}
	}
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", data)
	return nil
}

type featuresCmd struct{}

// Run prints what this build honours (runtime-spec features.md), as
// `runc features` does.
func (featuresCmd) Run(g *globals) error {
	data, err := json.MarshalIndent(spec.Features(), "", "    ")
	if err != nil {
		return ociFail(g, err)
	}
	fmt.Printf("%s\n", data)
	return nil
}
