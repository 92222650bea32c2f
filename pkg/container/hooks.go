package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// hooksOf returns the Spec's hooks of one kind and the status the state
// on their stdin says (runtime-spec config.md, "POSIX-platform Hooks"):
//
//	createRuntime  after the namespaces exist, before the init's set-up;
//	               prestart (deprecated) runs with them, first
//	createContainer and startContainer: the init runs them, in the
//	container's namespaces (bundleinit.go, initHooks)
//	poststart      after start let the process go
//	poststop       after delete removed the container
func hooksOf(s *specs.Spec, kind string) ([]specs.Hook, specs.ContainerState) {
	if s == nil || s.Hooks == nil {
		return nil, ""
	}
	h := s.Hooks
	switch kind {
	case "createRuntime":
		return append(append([]specs.Hook(nil), h.Prestart...), h.CreateRuntime...), specs.StateCreating
	case "poststart":
		return h.Poststart, specs.StateRunning
	case "poststop":
		return h.Poststop, specs.StateStopped
	}
	return nil, ""
}

// runHooks runs the hooks of one kind in order, each with the container's
// state JSON on stdin and its own timeout; the first failure is returned.
// Not for poststart and poststop: a failure there is a warning (on stderr)
// and the next hook still runs, as runtime-spec says of both ("the runtime
// MUST log a warning, but the remaining hooks and lifecycle continue").
func runHooks(c *Container, s *specs.Spec, kind string, x *explain.Narrator) error {
	hooks, status := hooksOf(s, kind)
	if len(hooks) == 0 {
		return nil
	}
	st := c.State.specState()
	st.Status = status
	if status != specs.StateStopped {
		st.Pid = c.State.Pid
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state, x); err != nil {
			err = fmt.Errorf("%s hook %d (%s): %w", kind, i, h.Path, err)
			if kind == "poststart" || kind == "poststop" {
				fmt.Fprintf(os.Stderr, "minicontainer: warning: %v\n", err)
				continue
			}
			return err
		}
	}
	return nil
}

// runHook runs one hook: path, args (args[0] is its argv[0], as
// execve(2) takes it), env, the state on stdin, killed at its timeout.
func runHook(h specs.Hook, state []byte, x *explain.Narrator) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: must be positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	x.Call("execve(2)", fmt.Sprintf("hook %q %q, the state on stdin", h.Path, cmd.Args), nil, err)
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %d s", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return err
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
