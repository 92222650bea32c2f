package main

// The image verbs: pull, load, import, images, rmi. The store and its formats are pkg/image; these are thin.
//
//	minicontainer pull [-x] [--platform OS/ARCH] REF
//	minicontainer load -i FILE [--platform OS/ARCH]   a docker save tar, or an OCI layout (dir or tar)
//	minicontainer import ROOTFS.tar NAME[:TAG]        a root filesystem tar as a one-layer image
//	minicontainer images [-q]
//	minicontainer rmi [-f] IMAGE...
//	minicontainer inspect IMAGE                       (lifecycle.go: a name that is no container's)

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// imageStore is the flag every image verb shares.
type imageStore struct {
	Images string `name:"images" help:"The image store (default /var/lib/minicontainer/images; a user's: $XDG_DATA_HOME/minicontainer/images)." env:"MINICONTAINER_IMAGES" placeholder:"DIR"`
}

func (f imageStore) open() (*image.Store, error) {
	dir := f.Images
	if dir == "" {
		var err error
		if dir, err = image.DefaultStore(); err != nil {
			return nil, err
		}
	}
	return image.Open(dir)
}

// builtin is the built-in image's layer in this store (--images), or in
// the caller's default one (container.BuiltinRootfs), made on first use.
func (f imageStore) builtin(x *explain.Narrator) (string, error) {
	if f.Images == "" {
		return container.BuiltinRootfs(x)
	}
	s, err := f.open()
	if err != nil {
		return "", err
	}
	return s.Builtin(x)
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

// pullCmd hands its whole command line to minicontainer-pull, which has
// the flags (-x, --platform, --images) and the help: each flag modelled
// here costs kong work at every start of this binary (it interpolates
// every help string with a regexp): callgrind counted 0.67 M instructions
// of --version for pull's four flags, 0.2 M for this one argument.
type pullCmd struct {
	Args []string `arg:"" optional:"" passthrough:"all" help:"[-x] [--platform OS/ARCH] [--images DIR] REF"`
}

// PullHelper is the program pull execs (cmd/minicontainer/pull): the
// registry client links net/http and crypto/tls, which this binary, run
// twice at every container start, does not carry.
const PullHelper = "minicontainer-pull"

// Run execs minicontainer-pull, found beside this binary (make build puts
// both in bin/), else on PATH.
func (c *pullCmd) Run() error {
	helper, err := pullHelper()
	if err != nil {
		return err
	}
	// execve(2): the helper's exit status and signals are pull's own.
	return fmt.Errorf("pull: exec %s: %w", helper, syscall.Exec(helper, append([]string{PullHelper}, c.Args...), os.Environ()))
}

func pullHelper() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), PullHelper)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(PullHelper)
	if err != nil {
		return "", fmt.Errorf("pull: %s is neither beside minicontainer nor on PATH (make build builds both)", PullHelper)
	}
	return p, nil
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
			if t.IsZero() {
				created = "-" // reproducible builds (ko, ggcr) write the zero time
			}
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

// BuiltinImage is the name `run busybox` gives the built-in image
// (image.BuiltinRef, the host's busybox stored as a one-layer image on
// first use) when no busybox:latest was pulled or loaded: an image of
// that name in the store wins over it.
const BuiltinImage = "busybox"

// positional splits run's arguments, docker's way or the old way:
//
//	run [FLAGS] IMAGE [CMD...]          the image, then its command
//	run [FLAGS] -- CMD...               the built-in busybox (or --image)
//	run --rootfs DIR [--] CMD...        that directory, no image
//
// kong keeps the "--" at the head of a passthrough argument list.
func (r *runCmd) positional() {
	dash := len(r.Command) > 0 && r.Command[0] == "--"
	if dash {
		r.Command = r.Command[1:]
	}
	if dash || r.Rootfs != "" || r.Bundle != "" || r.Image != "" || len(r.Command) == 0 {
		return
	}
	r.Image, r.Command = r.Command[0], r.Command[1:]
}

// imageRun is what an image gives a run: its layers, bottom first, and
// its config's defaults with run's flags applied over them.
type imageRun struct {
	img        *image.Image
	args, env  []string
	workdir    string
	user       image.User
	userSpec   string
	stopSignal string
}

// fromImage resolves run's image and applies its config as docker run
// does: the command is the Entrypoint (or --entrypoint) then CMD (or the
// image's Cmd, see image.ContainerConfig.Args), the image's Env comes
// before -e, its WorkingDir applies unless -w, its User is resolved
// against the image's /etc/passwd and /etc/group, and its StopSignal is
// kept for stop. nil: no image (--rootfs, or the built-in busybox).
func (r *runCmd) fromImage(x *explain.Narrator) (*imageRun, error) {
	if r.Image == "" {
		return nil, nil
	}
	if r.Rootfs != "" {
		return nil, errors.New("run: an image and --rootfs are two root filesystems: give one")
	}
	s, err := r.open()
	if err != nil {
		return nil, err
	}
	img, err := s.Image(r.Image)
	if err != nil && image.NormalizeRef(r.Image) == image.BuiltinRef {
		// Removed by rmi, or never made: made again, as a plain run would.
		if _, err = s.Builtin(x); err == nil {
			img, err = s.Image(r.Image)
		}
	}
	if err != nil {
		if r.Image == BuiltinImage {
			if _, _, rerr := s.Resolve(r.Image); rerr != nil { // not in the store: the built-in one
				r.Image = ""
				x.Note("image %s: not in the store, the built-in %s", BuiltinImage, image.BuiltinRef)
				if len(r.Command) == 0 {
					r.Command = []string{"sh"}
				}
				return nil, nil
			}
		}
		return nil, err
	}
	if len(img.Layers) == 0 {
		return nil, fmt.Errorf("image %s: no layers", r.Image)
	}
	c := img.Config.Config
	ir := &imageRun{img: img, workdir: c.WorkingDir, userSpec: c.User, stopSignal: c.StopSignal}
	ir.args = c.Args(r.Entrypoint, r.Command)
	if len(ir.args) == 0 {
		return nil, fmt.Errorf("image %s: no command (the image has no Entrypoint nor Cmd): give one", r.Image)
	}
	ir.env = append(append([]string{}, c.Env...), r.Env...)
	if r.Workdir != "" {
		ir.workdir = r.Workdir
	}
	if ir.user, err = img.ResolveUser(c.User); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Image, err)
	}
	x.Note("image %s (%s): %d layers, the overlay's lower dirs; user %q = uid %d gid %d", img.Ref, img.Digest.Short(),
		len(img.Layers), c.User, ir.user.UID, ir.user.GID)
	return ir, nil
}

// applyImage fills cfg from the image: the bottom layer is the base, the
// others the lower dirs over it, and its config the defaults.
func (r *runCmd) applyImage(cfg *container.Config, x *explain.Narrator) error {
	ir, err := r.fromImage(x)
	if err != nil || ir == nil {
		cfg.Command = r.Command // the built-in image may have given sh
		if err == nil && cfg.Rootfs == "" && r.Images != "" {
			// The built-in image of that store; without --images,
			// container.Run makes it in the default one after
			// validating the rest.
			cfg.Rootfs, err = r.builtin(x)
		}
		return err
	}
	cfg.Rootfs, cfg.Layers = ir.img.Layers[0], ir.img.Layers[1:]
	cfg.Command, cfg.Env, cfg.Workdir = ir.args, ir.env, ir.workdir
	// The image's User becomes process.user, which the init takes on
	// its exec thread after the mounts (setgroups, setgid, setuid).
	cfg.User = specs.User{UID: ir.user.UID, GID: ir.user.GID, AdditionalGids: ir.user.AdditionalGids}
	return nil
}

// specFlags is RunFlags with the image applied, for `spec`.
func (r *runCmd) specFlags(x *explain.Narrator) (spec.RunFlags, error) {
	ir, err := r.fromImage(x)
	f := r.flags()
	if err != nil || ir == nil {
		return f, err
	}
	f.Rootfs, f.Command, f.Env, f.Workdir = ir.img.Layers[0], ir.args, ir.env, ir.workdir
	f.User = specs.User{UID: ir.user.UID, GID: ir.user.GID, AdditionalGids: ir.user.AdditionalGids}
	f.StopSignal = ir.stopSignal
	return f, nil
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
