package main

// The image verbs: pull, load, import, images, rmi. The store and its formats are pkg/image; these are thin.
//
//	minicontainer pull [-x] [--platform OS/ARCH] REF
//	minicontainer load -i FILE [--platform OS/ARCH]   a docker save tar, or an OCI layout (dir or tar)
//	minicontainer import ROOTFS.tar NAME[:TAG]        a root filesystem tar as a one-layer image
//	minicontainer images [-q]
//	minicontainer rmi [-f] IMAGE...

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
	"golang.org/x/term"
)

// imageStore is the flag every image verb shares.
type imageStore struct {
	Images string `name:"images" help:"The image store (default /var/lib/minicontainer/images)." env:"MINICONTAINER_IMAGES" placeholder:"DIR"`
}

func (f imageStore) open() (*image.Store, error) {
	dir := f.Images
	if dir == "" {
		dir = image.DefaultRoot
	}
	return image.Open(dir)
}

type loadCmd struct {
	imageStore
	Input    string `short:"i" required:"" help:"A docker save tarball, or an OCI image layout (a directory or a tar of one)." placeholder:"FILE"`
	Platform string `help:"The platform to take from a multi-platform index." default:"linux/amd64" placeholder:"OS/ARCH"`
}

func (l *loadCmd) Run() error {
	p, err := image.ParsePlatform(l.Platform)
	if err != nil {
		return err
	}
	s, err := l.open()
	if err != nil {
		return err
	}
	loaded, err := s.Load(l.Input, p)
	if err != nil {
		return err
	}
	for _, im := range loaded {
		if len(im.Refs) == 0 {
			fmt.Printf("Loaded image ID: %s\n", im.Digest)
		}
		for _, r := range im.Refs {
			fmt.Printf("Loaded image: %s\n", r)
		}
	}
	return nil
}

type pullCmd struct {
	imageStore
	Ref      string `arg:"" help:"The image: [REGISTRY/]NAME[:TAG|@DIGEST] (docker.io when no registry)." placeholder:"REF"`
	Platform string `help:"The platform to take from a multi-platform index." default:"linux/amd64" placeholder:"OS/ARCH"`
	Explain  bool   `short:"x" help:"Narrate every HTTP request."`
}

func (c *pullCmd) Run() error {
	p, err := image.ParsePlatform(c.Platform)
	if err != nil {
		return err
	}
	s, err := c.open()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Progress goes to stderr, as docker's does: stdout keeps the one
	// line a script reads (NAME: DIGEST).
	d, err := s.Pull(ctx, c.Ref, p, explain.New(os.Stderr, c.Explain),
		image.WithProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd()))))
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s\n", image.NormalizeRef(c.Ref), d)
	return nil
}

type importCmd struct {
	imageStore
	File string `arg:"" help:"A tar of a root filesystem (plain or gzip)." placeholder:"ROOTFS.tar"`
	Ref  string `arg:"" help:"The name to give the image." placeholder:"NAME[:TAG]"`
}

func (i *importCmd) Run() error {
	s, err := i.open()
	if err != nil {
		return err
	}
	d, err := s.Import(i.File, i.Ref)
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

type imagesCmd struct {
	imageStore
	Quiet bool `short:"q" help:"Only the image IDs."`
}

func (c *imagesCmd) Run() error {
	s, err := c.open()
	if err != nil {
		return err
	}
	list, err := s.List()
	if err != nil {
		return err
	}
	if c.Quiet {
		for _, im := range list {
			fmt.Println(im.Digest.Short())
		}
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "REPOSITORY:TAG\tIMAGE ID\tCREATED\tSIZE")
	for _, im := range list {
		created := im.Created
		if t, err := time.Parse(time.RFC3339Nano, im.Created); err == nil {
			created = t.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", im.Ref, im.Digest.Short(), created, image.HumanSize(im.Size))
	}
	return w.Flush()
}

type rmiCmd struct {
	imageStore
	Force  bool     `short:"f" help:"Remove the name even if a running container uses the image (its layers stay until then)."`
	Images []string `arg:"" help:"Images by NAME[:TAG] or ID." placeholder:"IMAGE"`
}

func (r *rmiCmd) Run(g *globals) error {
	s, err := r.open()
	if err != nil {
		return err
	}
	for _, ref := range r.Images {
		d, err := s.Remove(ref, layersInUse(g.Root), r.Force)
		if err != nil {
			return err
		}
		fmt.Printf("Untagged: %s (%s)\n", ref, d.Short())
	}
	return nil
}

// applyImage fills cfg from --image: the image's bottom layer is the base,
// the others the lower dirs over it; its config gives the defaults the
// flags override, as docker run applies them: the command is Entrypoint
// followed by CMD (or by the image's Cmd when none is given), the image's
// Env comes before -e, WorkingDir applies unless -w.
func (r *runCmd) applyImage(cfg *container.Config, x *explain.Narrator) error {
	if r.Image == "" {
		return nil
	}
	if r.Rootfs != "" {
		return errors.New("run: --image and --rootfs are two root filesystems: give one")
	}
	s, err := r.open()
	if err != nil {
		return err
	}
	img, err := s.Image(r.Image)
	if err != nil {
		return err
	}
	if len(img.Layers) == 0 {
		return fmt.Errorf("image %s: no layers", r.Image)
	}
	c := img.Config.Config
	if c.User != "" && c.User != "root" && c.User != "0" && c.User != "0:0" {
		return fmt.Errorf("image %s: runs as user %q, and run cannot switch users yet", r.Image, c.User)
	}
	x.Note("image %s (%s): %d layers", img.Ref, img.Digest.Short(), len(img.Layers))
	cfg.Rootfs, cfg.Layers = img.Layers[0], img.Layers[1:]
	cmd := cfg.Command
	if len(cmd) == 0 {
		cmd = c.Cmd
	}
	cfg.Command = append(append([]string{}, c.Entrypoint...), cmd...)
	if len(cfg.Command) == 0 {
		return fmt.Errorf("image %s: no command (the image has no Entrypoint nor Cmd): give one", r.Image)
	}
	cfg.Env = append(append([]string{}, c.Env...), cfg.Env...)
	if cfg.Workdir == "" {
		cfg.Workdir = c.WorkingDir
	}
	return nil
}

// layersInUse finds the containers under the state root whose init's
// mount namespace has an overlay with a given layer as a lower dir: the
// layer's diff ID is in the mount's options in /proc/PID/mountinfo
// (proc(5)), where the init's mounts are visible from the host.
func layersInUse(stateRoot string) image.InUse {
	var mounts map[string]string // container ID → its overlay lines
	return func(d image.Digest) string {
		if mounts == nil {
			mounts = map[string]string{}
			states, _ := container.List(stateRoot)
			for _, st := range states {
				if st.Pid == 0 || st.Status() == "dead" {
					continue
				}
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", st.Pid))
				if err != nil {
					continue
				}
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, " - overlay ") {
						mounts[st.ID] += line + "\n"
					}
				}
			}
		}
		for id, lines := range mounts {
			if strings.Contains(lines, "/layers/sha256/"+d.Hex()) {
				return id
			}
		}
		return ""
	}
}
