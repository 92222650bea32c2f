package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/image"
)

// The docker-style verbs on containers: ps, logs, stop, rm, wait,
// inspect (kill -s is killCmd's). Each takes a name, an ID or a unique
// ID prefix (container.Resolve); their failures are one line and 125, as
// docker's.

// resolve finds ref's ID, or says in docker's words that there is none.
func resolve(g *globals, ref string) (string, error) {
	id, err := container.Resolve(g.Root, ref)
	if errors.Is(err, container.ErrNotExist) {
		return "", fmt.Errorf("no such container: %s", ref)
	}
	return id, err
}

type psCmd struct {
	All     bool `short:"a" help:"Show all containers, also those that ended (docker ps -a)."`
	NoTrunc bool `name:"no-trunc" help:"Do not cut long commands."`
}

func (p psCmd) Run(g *globals) error {
	return container.PrintList(os.Stdout, g.Root, time.Now(), container.ListOptions{All: p.All, NoTrunc: p.NoTrunc})
}

type logsCmd struct {
	Follow     bool   `short:"f" help:"Go on printing while the container runs; end when it ends."`
	Tail       string `short:"n" help:"Only the last N lines (or all)." default:"all" placeholder:"N"`
	Timestamps bool   `short:"t" help:"Start each line with its time (RFC 3339, nanoseconds)."`
	Container  string `arg:"" placeholder:"ID|NAME"`
}

func (l *logsCmd) Run(g *globals) error {
	o := container.LogOptions{Follow: l.Follow, Tail: -1, Timestamps: l.Timestamps}
	if l.Tail != "all" {
		if _, err := fmt.Sscanf(l.Tail, "%d", &o.Tail); err != nil || o.Tail < 0 || fmt.Sprint(o.Tail) != l.Tail {
			return fmt.Errorf("--tail %q: want a number of lines, or all", l.Tail)
		}
	}
	id, err := resolve(g, l.Container)
	if err != nil {
		return err
	}
	return container.Logs(g.Root, id, o, os.Stdout, os.Stderr)
}

type stopCmd struct {
	Time       int      `short:"t" help:"Seconds to wait after SIGTERM before SIGKILL." default:"10" placeholder:"SECONDS"`
	Explain    bool     `short:"x" help:"Narrate every step."`
	Containers []string `arg:"" placeholder:"ID|NAME|IMAGE"`
}

func (s *stopCmd) Run(g *globals) error {
	if s.Time < 0 {
		return fmt.Errorf("-t %d: must not be negative", s.Time)
	}
	return eachContainer(g, s.Containers, func(id string) error {
		return container.Stop(g.Root, id, time.Duration(s.Time)*time.Second, g.narrator(s.Explain))
	})
}

type rmCmd struct {
	Force      bool     `short:"f" help:"Kill a running container first."`
	Explain    bool     `short:"x" help:"Narrate every step."`
	Containers []string `arg:"" placeholder:"ID|NAME|IMAGE"`
}

func (r *rmCmd) Run(g *globals) error {
	return eachContainer(g, r.Containers, func(id string) error {
		return container.Remove(g.Root, id, r.Force, g.narrator(r.Explain))
	})
}

// eachContainer does do for each ref, printing the ref when it succeeded
// (as docker stop and rm do), one line per failure, and fails (125) if
// one did.
func eachContainer(g *globals, refs []string, do func(id string) error) error {
	failed := false
	for _, ref := range refs {
		id, err := resolve(g, ref)
		if err == nil {
			err = do(id)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
			failed = true
			continue
		}
		fmt.Println(ref)
	}
	if failed {
		os.Exit(container.ExitSetup)
	}
	return nil
}

type waitCmd struct {
	Containers []string `arg:"" placeholder:"ID|NAME|IMAGE"`
}

// Run prints each container's exit code once it has ended, as docker
// wait.
func (w *waitCmd) Run(g *globals) error {
	for _, ref := range w.Containers {
		id, err := resolve(g, ref)
		if err != nil {
			return err
		}
		code, err := container.Wait(g.Root, id)
		if err != nil {
			return err
		}
		fmt.Println(code)
	}
	return nil
}

type inspectCmd struct {
	Containers []string `arg:"" placeholder:"ID|NAME|IMAGE"`
}

// Run prints a JSON array, one object per container, as docker inspect;
// a name that is no container's is looked up as an image in the image
// store (docker inspect does the same), and shown without unpacking it.
func (i *inspectCmd) Run(g *globals) error {
	var all []any
	for _, ref := range i.Containers {
		id, err := resolve(g, ref)
		if err != nil {
			if img := inspectImage(ref); img != nil {
				all = append(all, img)
				continue
			}
			if err.Error() == "no such container: "+ref {
				return fmt.Errorf("no such container or image: %s", ref)
			}
			return err
		}
		in, err := container.Inspect(g.Root, id)
		if err != nil {
			return err
		}
		all = append(all, in)
	}
	data, err := json.MarshalIndent(all, "", "    ")
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", data)
	return nil
}

// inspectImage is the image ref in this caller's store, or nil.
func inspectImage(ref string) *image.Inspection {
	root, err := image.DefaultStore()
	if err != nil {
		return nil
	}
	if _, err := os.Stat(root); err != nil {
		return nil // no store: nothing to create for a lookup
	}
	s := &image.Store{Root: root}
	in, err := s.Inspect(ref)
	if err != nil {
		return nil
	}
	return in
}
