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
	dev, err := resolveMountpoint(x, rootfd, root, "/dev", true)
	if err != nil {
		return err
	}
	// Not MS_NODEV, of course: the nodes must work. MS_NOSUID, and
	// MS_STRICTATIME as runc does. Small: nothing big belongs in /dev.
	x.Note("/dev: a tmpfs with only %d device nodes", len(Devices))
	if err := mount(x, "tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range Devices {
		path := filepath.Join(dev, d.Name)
		devno := unix.Mkdev(d.Major, d.Minor)
		err := unix.Mknod(path, unix.S_IFCHR|0o666, int(devno))
		x.Call("mknod(2)", fmt.Sprintf("mknod(%s, S_IFCHR|0666, makedev(%d, %d))", explain.Quote(path), d.Major, d.Minor), nil, err)
		if err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		// mknod applies the umask; the nodes must be 0666 for every user.
		if err := unix.Chmod(path, 0o666); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	// A new devpts instance: its ptys are numbered from 0 and invisible to
	// the host's /dev/pts (and the host's to it). ptmxmode=0666 makes its
	// own ptmx usable; gid=5 is the tty group of /etc/group.
	x.Note("/dev/pts: a new devpts instance, its own ptys numbered from 0")
	pts := filepath.Join(dev, "pts")
	if err := mkdirAll(x, pts, 0o755); err != nil {
		return err
	}
	if err := mount(x, "devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	shm := filepath.Join(dev, "shm")
	if err := mkdirAll(x, shm, 0o1777); err != nil {
		return err
	}
	if err := mount(x, "shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	for _, l := range DevLinks {
		path := filepath.Join(dev, l[0])
		err := unix.Symlink(l[1], path)
		x.Call("symlink(2)", fmt.Sprintf("symlink(%s, %s)", explain.Quote(l[1]), explain.Quote(path)), nil, err)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", path, err)
		}
	}
	return nil
}
