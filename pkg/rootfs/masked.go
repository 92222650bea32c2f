package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// DefaultMaskedPaths are the paths Docker hides in a container
// (linux.maskedPaths of moby's daemon/pkg/oci DefaultLinuxSpec; runc's
// `runc spec` has the same list less /proc/interrupts and
// /sys/devices/virtual/powercap). proc and sysfs are not namespaced
// filesystems: these files show the host, not the container.
// /proc/kcore is the host's physical memory as an ELF core; /proc/keys
// lists keys of every keyring the reader can view; /proc/timer_list and
// /proc/sched_debug show every task's pids and timers on the host;
// /proc/interrupts and powercap's energy counters are side channels
// (GHSA-6fw5-f8r9-fgfm, GHSA-jq35-85cj-fj4p). Docker also masks each
// CPU's thermal_throttle directory, which depends on the host: a caller
// that wants them adds them.
var DefaultMaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/sys/devices/virtual/powercap",
	"/sys/firmware",
}

// DefaultReadonlyPaths are the paths Docker and runc make read-only
// (linux.readonlyPaths): /proc/sys holds the host's kernel settings
// (kernel.core_pattern names a program the kernel runs as host root at
// the next crash), /proc/sysrq-trigger reboots the host, /proc/irq
// steers the host's interrupts.
var DefaultReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// MaskPaths hides each path (linux.maskedPaths): a directory gets an
// empty read-only tmpfs over it, anything else gets /dev/null bound over
// it, so it reads as empty and writes go nowhere. It runs in the
// container's mount namespace after pivot_root, so the paths and
// /dev/null are the container's. A path that does not exist is skipped,
// as runc skips it (a kernel without ACPI has no /proc/acpi). Each mount
// is made on the place opened as a descriptor, not on the path string.
func MaskPaths(paths []string, x *explain.Narrator) error {
	return maskPaths(paths, x, true)
}

// maskPaths is MaskPaths; with newAPI false, /dev/null is bound with
// mount(2) from the start (what a kernel without open_tree(2) gets).
func maskPaths(paths []string, x *explain.Narrator, newAPI bool) error {
	if len(paths) == 0 {
		return nil
	}
	null, err := openDevNull()
	if err != nil {
		return err
	}
	defer unix.Close(null)
	seen := map[string]bool{}
	for _, p := range paths {
		fd, st, err := openTarget(x, "mask", p, seen)
		if err != nil {
			return err
		}
		if fd < 0 {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			// Read-only and at most 1 block and 2 inodes: nothing can be
			// written into it, even if it were remounted read-write later.
			// (runc asks for nr_inodes=1 and retries with 2, which one
			// Ubuntu kernel requires; 2 works on every kernel.)
			err = mountAt(x, "tmpfs", fd, "tmpfs", unix.MS_RDONLY, "nr_blocks=1,nr_inodes=2")
		} else {
			err = errNoNewAPI
			if newAPI {
				err = attachClone(x, null, fd, 0, 0)
			}
			if err == errNoNewAPI {
				newAPI = false
				err = bindFd(x, null, fd, unix.MS_BIND)
			}
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// ReadonlyPaths makes each path read-only (linux.readonlyPaths): the
// path becomes a mount point of its own, a bind of itself with its
// submounts (MS_BIND|MS_REC), and that bind is made read-only. Only the
// top mount becomes read-only, as with runc: a mount below the path keeps
// its flags. A path that does not exist is skipped.
//
// With the mount API of Linux 5.12 it is three calls on descriptors
// (attachClone): open_tree(2) clones the tree at the path, detached;
// mount_setattr(2) sets MOUNT_ATTR_RDONLY on the clone's top, changing no
// other flag; move_mount(2) attaches it over the path. On an older kernel
// (ENOSYS), or where a seccomp filter refuses those calls (EPERM), it is
// runc's readonlyPath sequence with mount(2) (readonlyMount), which costs
// a second lookup of the path, an fstatfs(2) and two walks of
// /proc/self/fd links: ~50 us more per start for Docker's list.
func ReadonlyPaths(paths []string, x *explain.Narrator) error {
	return readonlyPaths(paths, x, true)
}

// readonlyPaths is ReadonlyPaths; with newAPI false, it uses mount(2) from
// the start.
func readonlyPaths(paths []string, x *explain.Narrator, newAPI bool) error {
	seen := map[string]bool{}
	for _, p := range paths {
		fd, st, err := openTarget(x, "make read-only", p, seen)
		if err != nil {
			return err
		}
		if fd < 0 {
			continue
		}
		err = errNoNewAPI
		if newAPI {
			err = attachClone(x, fd, fd, unix.AT_RECURSIVE, unix.MOUNT_ATTR_RDONLY)
		}
		if err == errNoNewAPI {
			newAPI = false
			err = readonlyMount(x, p, fd, st)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	return nil
}

// errNoNewAPI says that open_tree(2) or mount_setattr(2) failed with
// ENOSYS or EPERM, having changed nothing: mount(2) is to do the step.
var errNoNewAPI = errors.New("no open_tree(2) or mount_setattr(2) here")

// attachClone clones the mount tree at src (the mount with its submounts
// when flags has AT_RECURSIVE, as MS_BIND|MS_REC, else that mount alone,
// as MS_BIND) with open_tree(2), detached; sets attr on the clone's top
// with mount_setattr(2) when attr is not 0; and attaches the clone over
// the place open as dst with move_mount(2). Every step is on descriptors:
// no path is resolved again (CVE-2021-30465 is about a path swapped in
// between). errNoNewAPI when the kernel or a seccomp filter refuses
// open_tree(2) or mount_setattr(2): nothing has been attached then.
func attachClone(x *explain.Narrator, src, dst int, flags uint, attr uint64) error {
	flags |= unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	tree, err := unix.OpenTree(src, "", flags)
	if x.Enabled() {
		x.Call("open_tree(2)", fmt.Sprintf("open_tree(%s, \"\", %s)", fdString(src), explain.Flags(uint64(flags), openTreeFlags)), tree, err)
	}
	if err == unix.ENOSYS || err == unix.EPERM {
		return errNoNewAPI
	}
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree) // a clone never attached goes with its descriptor
	if attr != 0 {
		err = unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: attr})
		if x.Enabled() {
			x.Call("mount_setattr(2)", fmt.Sprintf("mount_setattr(%d, \"\", AT_EMPTY_PATH, {attr_set=%s})", tree, explain.Flags(attr, mountAttrs)), nil, err)
		}
		if err == unix.ENOSYS || err == unix.EPERM {
			return errNoNewAPI
		}
		if err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	const moveFlags = unix.MOVE_MOUNT_F_EMPTY_PATH | unix.MOVE_MOUNT_T_EMPTY_PATH
	err = unix.MoveMount(tree, "", dst, "", moveFlags)
	if x.Enabled() || err != nil {
		x.Call("move_mount(2)", fmt.Sprintf("move_mount(%d, \"\", %s, \"\", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)", tree, fdString(dst)), nil, err)
	}
	if err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// The flags attachClone narrates (linux/mount.h, fcntl.h).
var (
	openTreeFlags = []explain.Flag{
		{Value: unix.OPEN_TREE_CLONE, Name: "OPEN_TREE_CLONE"},
		{Value: unix.OPEN_TREE_CLOEXEC, Name: "OPEN_TREE_CLOEXEC"},
		{Value: unix.AT_EMPTY_PATH, Name: "AT_EMPTY_PATH"},
		{Value: unix.AT_RECURSIVE, Name: "AT_RECURSIVE"},
	}
	mountAttrs = []explain.Flag{{Value: unix.MOUNT_ATTR_RDONLY, Name: "MOUNT_ATTR_RDONLY"}}
)

// readonlyMount makes the place open as fd (path p, whose stat was st)
// read-only with mount(2), runc's readonlyPath sequence: bind the path on
// itself (MS_BIND|MS_REC), which makes it a mount point of its own, then
// remount that bind read-only. MS_RDONLY is ignored on the first bind
// call: a bind mount takes new flags only from a second,
// MS_REMOUNT|MS_BIND call (mount(2)). The remount keeps the nosuid, nodev
// and noexec flags the mount already has (read with fstatfs(2)): a
// remount that leaves one out clears it, and where a flag is locked (a
// mount inherited by a user namespace) the kernel refuses to clear it
// with EPERM (mount_namespaces(7)). The atime flags are kept by the
// kernel when none is given.
func readonlyMount(x *explain.Narrator, p string, fd int, st unix.Stat_t) error {
	if err := bindFd(x, fd, fd, unix.MS_BIND|unix.MS_REC); err != nil {
		return err
	}
	// The descriptor holds the dentry under the new mount: open the
	// place again, and make sure it is the file just bound.
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	var fs unix.Statfs_t
	if err := unix.Fstat(fd, &got); err != nil {
		return err
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return fmt.Errorf("the path changed during set-up: refusing to remount what is there now")
	}
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("fstatfs: %w", err)
	}
	return mountAt(x, "", fd, "", keptFlags(int64(fs.Flags))|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// keptFlags turns statfs(2)'s ST_NOSUID, ST_NODEV and ST_NOEXEC into the
// mount(2) flags a read-only remount must repeat.
func keptFlags(f int64) uintptr {
	var m uintptr
	for _, k := range []struct {
		st int64
		ms uintptr
	}{{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC}} {
		if f&k.st != 0 {
			m |= k.ms
		}
	}
	return m
}

// openTarget opens path as an O_PATH descriptor (following symlinks,
// which after pivot_root resolve inside the container) and returns it
// with its stat; fd is -1 for a path to skip: missing, or seen before.
func openTarget(x *explain.Narrator, what, path string, seen map[string]bool) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	if !filepath.IsAbs(path) {
		return -1, st, fmt.Errorf("%s %q: not an absolute path", what, path)
	}
	clean := filepath.Clean(path)
	if seen[clean] {
		return -1, st, nil
	}
	seen[clean] = true
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		x.Note("%s: no such file here, nothing to %s", path, what)
		return -1, st, nil
	}
	if err != nil {
		return -1, st, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return fd, st, nil
}

// openDevNull opens the container's /dev/null and checks that it is the
// null device (character device 1:3, devices.txt), not a file or another
// device put there: binding a file the container controls over
// /proc/kcore would mask nothing, and runc checks it since
// CVE-2025-52565.
func openDevNull() (int, error) {
	fd, err := unix.Open("/dev/null", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("masked paths: /dev/null: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("masked paths: /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(fd)
		return -1, fmt.Errorf("masked paths: /dev/null is not the null device (char 1:3): refusing to mask with it")
	}
	return fd, nil
}

// bindFd bind-mounts the file open as src onto the place open as dst,
// both through /proc/self/fd (see mountAt), narrated as strace -y shows
// descriptors.
func bindFd(x *explain.Narrator, src, dst int, flags uintptr) error {
	s, d := "/proc/self/fd/"+strconv.Itoa(src), "/proc/self/fd/"+strconv.Itoa(dst)
	err := unix.Mount(s, d, "", flags, "")
	if x.Enabled() || err != nil {
		x.Call("mount(2)", fmt.Sprintf("mount(/proc/self/fd/%s, /proc/self/fd/%s, NULL, %s, NULL)",
			fdString(src), fdString(dst), flagString(flags, MountFlags)), nil, err)
		if err != nil {
			sp, _ := fdPath(src)
			dp, _ := fdPath(dst)
			return mountError(sp, dp, "", flags, err)
		}
	}
	return nil
}
