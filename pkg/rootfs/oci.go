package rootfs

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/timing"
)

// Bundle is a root filesystem as an OCI bundle's config.json describes it
// (runtime-spec config.md "Root" and "Mounts", config-linux.md): no
// overlay, no hard-coded mounts; every mount comes from the Spec, in its
// order. `create --bundle` and `run --bundle` set up their root this way.
type Bundle struct {
	Root     string        // root.path, absolute (the caller joins it to the bundle)
	ReadOnly bool          // root.readonly
	Mounts   []BundleMount // in order
	// Propagation is linux.rootfsPropagation as mount(2) flags (0 leaves
	// the private mounts made first, as they are).
	Propagation uintptr
	// NoPivot moves the root onto "/" and chroots (runc's --no-pivot, for
	// a root on a ramfs, where pivot_root(2) fails with EINVAL).
	NoPivot bool
	// Devices are linux.devices, made in /dev beside Devices.
	Devices []specs.LinuxDevice
	// CgroupMounts are what a mount of type "cgroup" becomes: this host's
	// hierarchies laid out as pkg/cgroup's ContainerMounts says.
	CgroupMounts []Mount
	// HostMountNS: the Spec has no mount namespace; the init is in the
	// host's, its root already bound there privately (BindRootPrivate).
	// The mounts go below it and chroot(2) replaces pivot_root(2) (see
	// hostroot.go).
	HostMountNS bool
	// BindDevices binds each device node from the host's /dev instead of
	// making it: in a user namespace mknod(2) of a device is refused
	// (EPERM: it needs CAP_MKNOD in the initial user namespace), as runc
	// binds them there too.
	BindDevices bool
	// BeforePivot, if set, runs after the mounts and before pivot_root:
	// where runc runs the createContainer hooks (in the container's
	// namespaces, while the host's paths still resolve).
	BeforePivot func() error
	// Cwd is process.cwd, made if missing (as runc and docker do) before
	// the root may go read-only; "" makes none.
	Cwd string
	// Timer marks the steps below (run --timing); nil marks nothing.
	Timer *timing.Timer

	// What `run` adds, none of it a runtime-spec field (pkg/spec's
	// org.minicontainer.* annotations); a bundle's create leaves them unset.

	// Overlay, if set, makes the root an overlay whose lowest dir is Root.
	Overlay *Overlay
	// Chroot enters the root with chroot(2), as the article does, instead
	// of pivot_root(2): a process inside can escape it (run --chroot).
	Chroot bool
}

// Overlay is run's root: an overlay of a per-container upper dir over the
// bundle's root and an image's layers, and the runtime's own files that
// say who the container is, kept beside the upper dir (see Spec.Scratch,
// Spec.Layers, Spec.Hostname and Spec.Files, whose meaning they keep).
type Overlay struct {
	Layers   []string // over Root, the bottom first
	Scratch  string   // upper/, work/, merged/ and files/ go here
	Hostname string   // /etc/hostname and /etc/hosts; "" writes neither
	Files    map[string][]byte
	// UserNS: the overlay is mounted in a user namespace other than the
	// host's (a rootless run). Its upper and work dirs go on a tmpfs the
	// init mounts on Scratch in its own mount namespace: the container's
	// files are then owned by ids of its namespace (its subordinate ids on
	// the host) that its caller could not remove from a disk afterwards,
	// and a tmpfs goes away with the mount namespace, leaving nothing. And
	// overlayfs keeps its metadata in user.overlay.* xattrs (userxattr,
	// Linux 5.11): the trusted.* ones need CAP_SYS_ADMIN in the host's
	// user namespace (xattr(7)), and overlayfs refuses an unprivileged
	// mount without the option (overlayfs(5), "Permission model").
	UserNS bool
	// DiskScratch, with UserNS: the upper and work dirs stay on the
	// scratch dir's own file system, as without a user namespace, and no
	// tmpfs is mounted on it. Root's --userns remap: its caller may
	// remove whatever ids the container writes, and the caller made the
	// scratch dir the container's root's (a tmpfs would charge every byte
	// the container writes to its memory).
	DiskScratch bool `json:"disk_scratch,omitempty"`
	// IDMapped: the config came with one descriptor per lower dir (Root,
	// then Layers), a detached tree the host idmapped with the container's
	// user namespace (IDMapTree), which the init attaches (AttachLowers)
	// and the overlay stacks in place of the dirs themselves.
	IDMapped bool `json:"idmapped,omitempty"`
	// LowerFDs are those descriptors, in the init.
	LowerFDs []int `json:"-"`
}

// BundleMount is one of the Spec's mounts with its options already read
// (pkg/spec's ParseMountOptions): the mount(2) flags, the propagation
// changes made after it, the file system's data.
type BundleMount struct {
	Destination string // inside the container; relative means relative to "/"
	Type        string
	Source      string // a bind's source is absolute (the caller joins it to the bundle)
	Flags       uintptr
	Propagation []uintptr
	Data        string
}

// Bind says whether m is a bind mount: type "bind", or MS_BIND among its
// flags with any type (runtime-spec config.md, "Mounts": both spellings).
func (m BundleMount) Bind() bool { return m.Type == "bind" || m.Flags&unix.MS_BIND != 0 }

// SetupBundle builds the container's root from b and moves the calling
// process into it, in runc's order (libcontainer/rootfs_linux.go,
// prepareRootfs): propagation, the root bound on itself, the Spec's
// mounts in their order, the device nodes, pivot_root (or MS_MOVE and
// chroot), then the root read-only and its propagation as asked.
func SetupBundle(b Bundle, x *explain.Narrator) error {
	root := b.Root
	if b.HostMountNS {
		x.Note("no mount namespace: the Spec's mounts go below the private bind of %s", root)
	} else {
		if err := checkOwnMountNamespace(); err != nil {
			return err
		}
		// 1. Nothing below may propagate to the host (see Setup, step 1). A
		// rootfsPropagation of "shared" is applied at the end, on the new root
		// only: a peer group of the container's own, never the host's.
		x.Note("make every mount private so nothing below propagates to the host")
		if err := SetPropagation(x, "/", "private"); err != nil {
			return err
		}
		if o := b.Overlay; o != nil {
			scratch, err := filepath.Abs(o.Scratch)
			if err != nil {
				return fmt.Errorf("scratch dir %s: %w", o.Scratch, err)
			}
			if o.UserNS && !o.DiskScratch {
				x.Note("rootless: the overlay's upper and work dirs on a tmpfs of this mount namespace, gone with it")
				if err := mount(x, "tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
					return err
				}
			}
			base, layers := b.Root, o.Layers
			if o.IDMapped {
				lower, err := AttachLowers(x, o.LowerFDs, append([]string{base}, layers...), scratch)
				if err != nil {
					return err
				}
				base, layers = lower[0], lower[1:]
			}
			if root, err = mountOverlay(x, base, layers, scratch, o.UserNS); err != nil {
				return err
			}
		}
		x.Note("bind the root %s on itself: pivot_root(2) needs a mount point", root)
		if err := mount(x, root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
	}
	b.Timer.Mark("overlay")
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root %s: %w", root, err)
	}
	defer unix.Close(rootfd)

	// 2. The Spec's mounts, in order: a later one may go inside an
	// earlier one (/dev/pts in /dev).
	devTmpfs := false
	for _, m := range b.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			if err := mountCgroup(x, rootfd, root, m, b.CgroupMounts); err != nil {
				return err
			}
			continue
		}
		if err := mountOne(x, rootfd, root, m); err != nil {
			return err
		}
		if filepath.Clean("/"+m.Destination) == "/dev" && !m.Bind() {
			devTmpfs = true
		}
	}
	b.Timer.Mark("mounts")

	// 3. /dev: when the Spec mounted a file system of its own there (not
	// the host's /dev bound in), it is empty: the default nodes, the
	// Spec's linux.devices, and the links programs expect (runc's
	// createDevices and setupDevSymlinks).
	if devTmpfs {
		if err := makeDevices(x, rootfd, root, b.Devices, b.BindDevices); err != nil {
			return err
		}
	}
	b.Timer.Mark("devices")

	// run's files that say who the container is, bound in unless one of
	// the Spec's bind mounts (a volume) covers them.
	if o := b.Overlay; o != nil {
		var binds []string
		for _, m := range b.Mounts {
			if m.Bind() {
				binds = append(binds, m.Destination)
			}
		}
		files := identityFiles(o.Hostname, o.Files)
		if err := bindIdentity(x, rootfd, root, o.Scratch, files, binds); err != nil {
			return err
		}
	}
	// The working directory, inside the root (it may be in a volume),
	// while the root is still writable.
	if b.Cwd != "" {
		fd, err := mkdirInRoot(x, rootfd, root, b.Cwd)
		if err != nil {
			return fmt.Errorf("workdir %s (process.cwd): %w", b.Cwd, err)
		}
		unix.Close(fd)
	}

	if b.BeforePivot != nil {
		if err := b.BeforePivot(); err != nil {
			return err
		}
	}
	b.Timer.Mark("etc files, cwd")

	// 4. Into the new root.
	switch {
	case b.HostMountNS:
		err = Chroot(x, root) // pivot_root(2) would move the host's processes
	case b.Chroot:
		err = Chroot(x, root)
	case b.NoPivot:
		err = moveRoot(x, root)
	default:
		err = PivotRoot(x, root)
	}
	if err != nil {
		return err
	}

	// 5. The root read-only last; then its propagation as the Spec asks.
	if b.ReadOnly {
		x.Note("root.readonly: remount the root read-only, now that it is set up")
		if err := mount(x, "", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	if b.Propagation != 0 {
		x.Note("linux.rootfsPropagation: the new root's propagation, as the Spec asks")
		if err := mount(x, "", "/", "", b.Propagation, ""); err != nil {
			return err
		}
	}
	b.Timer.Mark("pivot_root")
	return nil
}

// mountOne makes one Spec mount at its destination inside root, through a
// descriptor resolved inside the root (see mountAt, CVE-2021-30465).
func mountOne(x *explain.Narrator, rootfd int, root string, m BundleMount) error {
	err := mountOneAt(x, rootfd, root, m)
	if err != nil && m.Bind() {
		// A bind mount is a volume (run's -v HOST:CTR[:ro]): say which.
		ro := ""
		if m.Flags&unix.MS_RDONLY != 0 {
			ro = ":ro"
		}
		return fmt.Errorf("volume %s:%s%s: %w", m.Source, m.Destination, ro, err)
	}
	return err
}

func mountOneAt(x *explain.Narrator, rootfd int, root string, m BundleMount) error {
	flags, bind := m.Flags, m.Bind()
	dir := true
	var src unix.Stat_t
	if bind {
		if err := unix.Stat(m.Source, &src); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		dir = src.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	fd, err := openMountpoint(x, rootfd, root, m.Destination, dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	x.Note("mount %s: %s from %s", m.Destination, m.Type, m.Source)
	if bind {
		if mountBeforeHook != nil {
			mountBeforeHook()
		}
		// The first bind takes no other flag (mount(2), "Creating a bind
		// mount"): a second, remounting call sets ro, nosuid, ...
		if err := mountAt(x, m.Source, fd, "", unix.MS_BIND|flags&unix.MS_REC, ""); err != nil {
			return err
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := remountBind(x, rootfd, m.Destination, &src, rest); err != nil {
				return err
			}
		}
	} else if err := mountAt(x, m.Source, fd, m.Type, flags, m.Data); err != nil {
		return err
	}
	// Each propagation change is a mount(2) call of its own, on the new
	// mount (the place opened again: fd holds what was under it).
	for _, p := range m.Propagation {
		again, err := openInRoot(rootfd, m.Destination, unix.O_PATH, 0)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Destination, err)
		}
		err = mountAt(x, "", again, "", p, "")
		unix.Close(again)
		if err != nil {
			return err
		}
	}
	return nil
}

// mountBeforeHook, when set (by a test), runs between the resolution of a
// bind mount's mount point and the mount: where a racing process would
// swap the mount point for a symlink.
var mountBeforeHook func()

// remountBind sets flags (ro, nosuid...) on the bind mount just made at
// path. They are ignored on the first bind: a bind mount takes its flags
// only from a second, remounting call (see mount(2)), which applies to the
// top mount only, not to mounts under it. The descriptor the bind was made
// on holds the dentry under the new mount, so the place is opened again;
// and since that resolves the path again, the mount found there must be
// the one just made: the same file as the source (st).
func remountBind(x *explain.Narrator, rootfd int, path string, st *unix.Stat_t, flags uintptr) error {
	fd, err := openInRoot(rootfd, path, unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return fmt.Errorf("mount point %s changed during set-up (a symlink swapped in?): refusing to remount what is there now", path)
	}
	return mountAt(x, "", fd, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
}

// mountCgroup gives the container its /sys/fs/cgroup, as the host lays it
// out (pkg/cgroup's ContainerMounts, made for its cgroup namespace), under
// the Spec mount's destination; read-only unless the mount says "rw".
func mountCgroup(x *explain.Narrator, rootfd int, root string, m BundleMount, cgroups []Mount) error {
	flags := m.Flags
	x.Note("mount %s: the cgroup hierarchies, as this host has them", m.Destination)
	for _, c := range cgroups {
		target := filepath.Join("/", m.Destination, strings.TrimPrefix(c.Target, "/sys/fs/cgroup"))
		if flags&unix.MS_RDONLY == 0 {
			c.Flags &^= unix.MS_RDONLY
		}
		fd, err := openMountpoint(x, rootfd, root, target, true)
		if err != nil {
			return err
		}
		err = mountAt(x, c.Source, fd, c.FSType, c.Flags, c.Data)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// makeDevices fills the container's own /dev: the default nodes (Devices,
// the runtime-spec's list), the Spec's linux.devices, and the links.
// With bind, each node is the host's of the same path, bound on an empty
// file (see Bundle.BindDevices): its mode and owner are the host's.
func makeDevices(x *explain.Narrator, rootfd int, root string, extra []specs.LinuxDevice, bind bool) error {
	devfd, err := openInRoot(rootfd, "/dev", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open /dev in %s: %w", root, err)
	}
	defer unix.Close(devfd)
	type node struct {
		name         string
		mode         uint32
		major, minor int64
		uid, gid     int
	}
	var nodes []node
	for _, d := range Devices {
		nodes = append(nodes, node{d.Name, unix.S_IFCHR | 0o666, int64(d.Major), int64(d.Minor), 0, 0})
	}
	for _, d := range extra {
		rel := strings.TrimPrefix(filepath.Clean(d.Path), "/dev/")
		if rel == d.Path || strings.Contains(rel, "/") {
			return fmt.Errorf("linux.devices: %s: only a node directly in /dev is made here", d.Path)
		}
		kind := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}[d.Type]
		if kind == 0 {
			return fmt.Errorf("linux.devices: %s: type %q is not c, u, b or p", d.Path, d.Type)
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode & 0o7777)
		}
		n := node{rel, kind | mode, d.Major, d.Minor, 0, 0}
		if d.UID != nil {
			n.uid = int(*d.UID)
		}
		if d.GID != nil {
			n.gid = int(*d.GID)
		}
		// A Spec device of a default's name replaces it.
		for i := range nodes {
			if nodes[i].name == rel {
				nodes = append(nodes[:i], nodes[i+1:]...)
				break
			}
		}
		nodes = append(nodes, n)
	}
	dev := filepath.Join(root, "dev")
	for _, n := range nodes {
		path := filepath.Join(dev, n.name)
		if bind {
			if err := bindDevice(x, rootfd, root, devfd, n.name); err != nil {
				return err
			}
			continue
		}
		devno := unix.Mkdev(uint32(n.major), uint32(n.minor))
		// A node already there (a /dev from the rootfs, not a fresh
		// tmpfs) is replaced. Unlinked only on EEXIST: on the usual fresh
		// tmpfs an unlinkat(2) first would fail ENOENT for every node,
		// six system calls per start for nothing.
		err := unix.Mknodat(devfd, n.name, n.mode, int(devno))
		if err == unix.EEXIST {
			unix.Unlinkat(devfd, n.name, 0)
			err = unix.Mknodat(devfd, n.name, n.mode, int(devno))
		}
		x.Call("mknod(2)", fmt.Sprintf("mknod(%s, %#o, makedev(%d, %d))", explain.Quote(path), n.mode, n.major, n.minor), nil, err)
		if err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		// mknod applies the umask: set the mode the Spec asked for.
		if err := unix.Fchmodat(devfd, n.name, n.mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
		if n.uid != 0 || n.gid != 0 {
			if err := unix.Fchownat(devfd, n.name, n.uid, n.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("chown %s: %w", path, err)
			}
		}
	}
	for _, l := range DevLinks {
		path := filepath.Join(dev, l[0])
		err := unix.Symlinkat(l[1], devfd, l[0])
		if err == unix.EEXIST {
			continue // the Spec made it (a mount or a device of that name)
		}
		x.Call("symlink(2)", fmt.Sprintf("symlink(%s, %s)", explain.Quote(l[1]), explain.Quote(path)), nil, err)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", path, err)
		}
	}
	return nil
}

// bindDevice binds the host's /dev/NAME on an empty file of that name in
// the container's /dev.
func bindDevice(x *explain.Narrator, rootfd int, root string, devfd int, name string) error {
	unix.Unlinkat(devfd, name, 0)
	fd, err := openMountpoint(x, rootfd, root, "/dev/"+name, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return mountAt(x, "/dev/"+name, fd, "", unix.MS_BIND, "")
}

// moveRoot is runc's --no-pivot: move the root's mount onto "/" and
// chroot(2) into it. The old root stays beneath, reachable by a process
// with CAP_SYS_CHROOT: for roots pivot_root(2) refuses (a ramfs initrd).
func moveRoot(x *explain.Narrator, root string) error {
	x.Note("--no-pivot: move %s onto / and chroot into it (the old root stays beneath)", root)
	err := unix.Chdir(root)
	x.Call("chdir(2)", fmt.Sprintf("chdir(%s)", explain.Quote(root)), nil, err)
	if err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	if err := mount(x, root, "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	err = unix.Chroot(".")
	x.Call("chroot(2)", `chroot(".")`, nil, err)
	if err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	err = unix.Chdir("/")
	x.Call("chdir(2)", `chdir("/")`, nil, err)
	if err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}
