package rootfs

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Device is a character device node made in the container's /dev.
type Device struct {
	Name         string
	Major, Minor uint32
}

// Devices are the only nodes in the container's /dev: the ones every
// program expects and none that reach hardware (no disks, no /dev/mem, no
// /dev/kmsg). Numbers from the kernel's Documentation/admin-guide/devices.txt;
// the same list as runc's and the OCI runtime spec's default devices.
var Devices = []Device{
	{"null", 1, 3},
	{"zero", 1, 5},
	{"full", 1, 7},
	{"random", 1, 8},
	{"urandom", 1, 9},
	{"tty", 5, 0},
}

// DevLinks are the symbolic links programs expect in /dev. /dev/ptmx points
// into the container's own devpts instance, so a pty opened inside belongs
// to the container (see pts(4), "newinstance" in devpts docs).
var DevLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// setupDev mounts a tmpfs on /dev and fills it. Why mknod and not a bind of
// the host's nodes: as real root (no user namespace) mknod(2) makes exactly
// the device number we name, on a file system that belongs to the
// container, and nothing ties it to the host's /dev. Inside a user
// namespace mknod fails with EPERM, and runc bind-mounts the host's nodes
// instead.
func setupDev(x *explain.Narrator, rootfd int, root string) error {
	fd, err := openMountpoint(x, rootfd, root, "/dev", true)
	if err != nil {
		return err
	}
	// Not MS_NODEV, of course: the nodes must work. MS_NOSUID, and
	// MS_STRICTATIME as runc does. Small: nothing big belongs in /dev.
	x.Note("/dev: a tmpfs with only %d device nodes", len(Devices))
	err = mountAt(x, "tmpfs", fd, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k")
	unix.Close(fd)
	if err != nil {
		return err
	}
	// Everything below is made through a descriptor of the new tmpfs
	// (mknodat(2), mkdirat(2)...), never through a path that a racing
	// process could turn into a symlink to the host's /dev.
	devfd, err := openInRoot(rootfd, "/dev", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open /dev in %s: %w", root, err)
	}
	defer unix.Close(devfd)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(devfd, &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("/dev in %s is not the tmpfs just mounted (changed during set-up?)", root)
	}
	dev := filepath.Join(root, "dev") // for the narration and errors
	for _, d := range Devices {
		path := filepath.Join(dev, d.Name)
		devno := unix.Mkdev(d.Major, d.Minor)
		err := unix.Mknodat(devfd, d.Name, unix.S_IFCHR|0o666, int(devno))
		x.Call("mknod(2)", fmt.Sprintf("mknod(%s, S_IFCHR|0666, makedev(%d, %d))", explain.Quote(path), d.Major, d.Minor), nil, err)
		if err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		// mknod applies the umask; the nodes must be 0666 for every user.
		if err := unix.Fchmodat(devfd, d.Name, 0o666, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	// A new devpts instance: its ptys are numbered from 0 and invisible to
	// the host's /dev/pts (and the host's to it). ptmxmode=0666 makes its
	// own ptmx usable; gid=5 is the tty group of /etc/group.
	x.Note("/dev/pts: a new devpts instance, its own ptys numbered from 0")
	if err := mountInDev(x, devfd, dev, "pts", 0o755, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	if err := mountInDev(x, devfd, dev, "shm", 0o1777, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	for _, l := range DevLinks {
		path := filepath.Join(dev, l[0])
		err := unix.Symlinkat(l[1], devfd, l[0])
		x.Call("symlink(2)", fmt.Sprintf("symlink(%s, %s)", explain.Quote(l[1]), explain.Quote(path)), nil, err)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", path, err)
		}
	}
	return nil
}

// mountInDev makes directory name in the container's /dev tmpfs (devfd)
// and mounts fstype on it, through descriptors only. The source is the
// name (devpts, shm): what mount(8) and /proc/mounts show.
func mountInDev(x *explain.Narrator, devfd int, dev, name string, mode uint32, fstype string, flags uintptr, data string) error {
	path := filepath.Join(dev, name)
	err := unix.Mkdirat(devfd, name, mode)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%s, %#o)", explain.Quote(path), mode), nil, err)
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	fd, err := unix.Openat(devfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	source := name
	if name == "pts" {
		source = "devpts"
	}
	return mountAt(x, source, fd, fstype, flags, data)
}
