// Command minicontainer-pull is `minicontainer pull`, in a program of its
// own: the registry client (pkg/registry) links net/http and crypto/tls,
// and Go runs every linked package's init, and maps a larger binary, at
// every start. minicontainer starts twice per container (the parent and
// the container's init); it execs this program for pull only, as git
// execs git-remote-https so that git itself does not load libcurl.
//
//	minicontainer-pull [-x] [--platform OS/ARCH] [--images DIR] REF
//
// Errors: one line, exit 125, as minicontainer's own.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
	"github.com/minicontainer/minicontainer/pkg/registry"
)

type cli struct {
	Images   string `name:"images" help:"The image store (default /var/lib/minicontainer/images; a user's: $XDG_DATA_HOME/minicontainer/images)." env:"MINICONTAINER_IMAGES" placeholder:"DIR"`
	Ref      string `arg:"" help:"The image: [REGISTRY/]NAME[:TAG|@DIGEST] (docker.io when no registry)." placeholder:"REF"`
	Platform string `help:"The platform to take from a multi-platform index." default:"linux/amd64" placeholder:"OS/ARCH"`
	Explain  bool   `short:"x" help:"Narrate every HTTP request."`
}

func main() {
	var c cli
	parser, err := kong.New(&c, kong.Name("minicontainer pull"), kong.Description("Pull an image from a registry."))
	if err != nil {
		fail(err)
	}
	if _, err := parser.Parse(os.Args[1:]); err != nil {
		fail(err)
	}
	if err := c.run(); err != nil {
		fail(err)
	}
}

func (c *cli) run() error {
	p, err := image.ParsePlatform(c.Platform)
	if err != nil {
		return err
	}
	dir := c.Images
	if dir == "" {
		if dir, err = image.DefaultStore(); err != nil {
			return err
		}
	}
	s, err := image.Open(dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Progress goes to stderr, as docker's does: stdout keeps the one
	// line a script reads (NAME: DIGEST).
	d, err := registry.Pull(ctx, s, c.Ref, p, explain.New(os.Stderr, c.Explain),
		registry.WithProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd()))))
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s\n", image.NormalizeRef(c.Ref), d)
	return nil
}

// fail is minicontainer's: one line, 125 (its own failures, as docker's).
func fail(err error) {
	fmt.Fprintf(os.Stderr, "minicontainer: %v\n", err)
	os.Exit(125)
}
