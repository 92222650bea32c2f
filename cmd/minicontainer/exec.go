package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// ociExecCmd is exec, runc's and docker's: a new process in a running
// container.
//
// runc's (what containerd's shim and podman's conmon call): from a
// runtime-spec Process file (--process), or from the container's own
// process with CMD and the flags on top; stdin is always passed; its own
// failures exit 1 with runc's words, as for the other OCI verbs.
//
// docker's: `exec [-i] [-t] [-e K=V] [-w DIR] [-u USER[:GROUP]] [-d]
// NAME|ID CMD...`: stdin only with -i, -u may name a user of the
// container's /etc/passwd, and its own failures exit 125 (docker exec's
// convention), an unknown or stopped container included.
//
// Which one is meant: runc's when --process or a flag only runc has is
// given, or when the container was made by `create` (an engine's) and no
// flag only docker has (-i, -w) is given; docker's otherwise: a `run`
// container, or an unknown one, with the flags both share. Engines never
// call exec without --process, so they always get runc's conventions.
//
// Both: a command that cannot be executed or is not found exits 126 or
// 127; otherwise exec exits with the process's status (128+N when signal
// N killed it), or 0 at once with --detach.
type ociExecCmd struct {
	Process       string   `short:"p" help:"A runtime-spec Process JSON file (args, env, cwd, user, capabilities...)." placeholder:"FILE"`
	Detach        bool     `short:"d" help:"Return once the process runs, leaving it to exec's caller."`
	PidFile       string   `name:"pid-file" help:"Write the process's host PID here." placeholder:"FILE"`
	ConsoleSocket string   `name:"console-socket" help:"A unix socket to send the pty master to (with --tty)." placeholder:"PATH"`
	TTY           bool     `short:"t" name:"tty" help:"Give the process a terminal."`
	Interactive   bool     `short:"i" help:"docker exec -i: pass stdin on (docker-style exec passes none without it)."`
	Cwd           string   `help:"The working directory, inside the container." placeholder:"DIR"`
	Workdir       string   `short:"w" name:"workdir" help:"docker exec -w: the working directory, inside the container." placeholder:"DIR"`
	Env           []string `short:"e" sep:"none" help:"Set an environment variable (K=V; K alone copies the host's)." placeholder:"K=V"`
	User          string   `short:"u" help:"The user (and group) to run as: numbers, or names from the container's /etc/passwd and /etc/group." placeholder:"USER[:GROUP]"`
	Cap           []string `short:"c" sep:"none" help:"Add a capability to the bounding, effective and permitted sets." placeholder:"CAP"`
	NoNewPrivs    bool     `name:"no-new-privs" help:"Set no_new_privs: execve(2) grants no privilege."`
	PreserveFDs   int      `name:"preserve-fds" help:"Pass exec's fds 3..3+N-1 on to the process." placeholder:"N"`
	ProcessLabel  string   `name:"process-label" help:"SELinux label: refused unless empty." placeholder:"L"`
	Apparmor      string   `help:"AppArmor profile: refused unless empty." placeholder:"P"`
	IgnorePaused  bool     `name:"ignore-paused" help:"Accepted for runc's callers: minicontainer never pauses a container."`
	Explain       bool     `short:"x" help:"Narrate every step: each system call with its real arguments."`
	ID            string   `arg:"" help:"The container's ID." placeholder:"ID"`
	Command       []string `arg:"" optional:"" passthrough:"partial" help:"The command and its arguments (without --process)." placeholder:"CMD"`
}

func (c *ociExecCmd) Run(g *globals) error {
	id, err := container.Resolve(g.Root, c.ID)
	var t *container.ExecTarget
	if err == nil {
		t, err = container.OpenExec(g.Root, id)
	}
	docker := c.dockerStyle(t)
	fail := func(err error) error {
		if !docker {
			return ociFail(g, idError(c.ID, err))
		}
		if errors.Is(err, container.ErrNotExist) {
			err = fmt.Errorf("no such container: %s", c.ID)
		}
		return err // main's fail: one line, 125
	}
	if err != nil {
		return fail(err)
	}
	p, err := c.process(g, id, t)
	if err != nil {
		return fail(err)
	}
	stdio := container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	if docker && (!c.Interactive || c.Detach) {
		// docker exec passes stdin only with -i, and nothing to a
		// detached process: it outlives this exec.
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return fail(err)
		}
		stdio.In = null
		if c.Detach {
			stdio.Out, stdio.Err = null, null
		}
	}
	code, err := container.Exec(container.ExecOptions{
		Root: g.Root, ID: id, Target: t, Process: p, Detach: c.Detach, PidFile: c.PidFile,
		ConsoleSocket: c.ConsoleSocket, PreserveFDs: c.PreserveFDs,
		Stdio:     stdio,
		Narration: g.narration(c.Explain),
	}, g.narrator(c.Explain))
	var ee *container.ExecError
	if errors.As(err, &ee) {
		g.log("error", err.Error())
		fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
		os.Exit(ee.Code)
	}
	if err != nil {
		return fail(err)
	}
	os.Exit(code)
	return nil
}

// dockerStyle tells docker's exec from runc's (see ociExecCmd); t is
// the container, nil when it cannot be exec'd in.
func (c *ociExecCmd) dockerStyle(t *container.ExecTarget) bool {
	runcOnly := c.Process != "" || c.PidFile != "" || c.ConsoleSocket != "" || c.Cwd != "" || len(c.Cap) > 0 ||
		c.NoNewPrivs || c.PreserveFDs != 0 || c.ProcessLabel != "" || c.Apparmor != "" || c.IgnorePaused
	if runcOnly {
		return false
	}
	if c.Interactive || c.Workdir != "" {
		return true
	}
	return t == nil || !t.MadeByCreate()
}

// process builds the Process: the --process file as it is (runc ignores
// the other flags then, but --tty), or the container's own with CMD and
// the flags on top. Everything is checked before anything is started.
func (c *ociExecCmd) process(g *globals, id string, t *container.ExecTarget) (*specs.Process, error) {
	if c.ProcessLabel != "" {
		return nil, errors.New("--process-label: SELinux is not supported")
	}
	if c.Apparmor != "" {
		return nil, errors.New("--apparmor: AppArmor is not supported")
	}
	if c.PreserveFDs < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: must not be negative", c.PreserveFDs)
	}
	cmd := c.Command
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if c.Process != "" {
		if len(cmd) > 0 {
			return nil, errors.New("give either --process FILE or a command, not both")
		}
		data, err := os.ReadFile(c.Process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		p, err := spec.ParseProcess("--process "+c.Process, data)
		if err != nil {
			return nil, err
		}
		p.Terminal = p.Terminal || c.TTY
		return p, nil
	}
	if len(cmd) == 0 {
		return nil, errors.New("exec needs a command (or --process FILE)")
	}
	p := t.Process()
	p.Args, p.Terminal = cmd, c.TTY
	if c.Cwd != "" && c.Workdir != "" {
		return nil, errors.New("give the working directory once: --cwd or -w")
	}
	if c.Cwd != "" {
		p.Cwd = c.Cwd
	}
	if c.Workdir != "" {
		p.Cwd = c.Workdir
	}
	for _, e := range c.Env {
		if err := spec.CheckEnv(e); err != nil {
			return nil, fmt.Errorf("--env: %w", err)
		}
	}
	p.Env = spec.MergeEnv(p.Env, c.Env, os.LookupEnv)
	if c.User != "" {
		u, err := container.LookupUser(g.Root, id, c.User)
		if err != nil {
			return nil, fmt.Errorf("--user %q: %w", c.User, err)
		}
		p.User = u
	}
	if len(c.Cap) > 0 && p.Capabilities != nil {
		// No capabilities field means no change (every one root has):
		// nothing to add to then.
		cp := *p.Capabilities
		for _, name := range c.Cap {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			cp.Bounding = append(cp.Bounding, name)
			cp.Effective = append(cp.Effective, name)
			cp.Permitted = append(cp.Permitted, name)
		}
		p.Capabilities = &cp
	}
	p.NoNewPrivileges = p.NoNewPrivileges || c.NoNewPrivs
	return p, spec.ValidateProcess("exec", p)
}
