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
// is made on the place opened as a descriptor (mountAt), not on the path
// string.
func MaskPaths(paths []string, x *explain.Narrator) error {
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
			err = bindFd(x, null, fd, unix.MS_BIND)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// ReadonlyPaths makes each path read-only (linux.readonlyPaths), with
// runc's readonlyPath sequence: bind the path on itself (MS_BIND|MS_REC),
// which makes it a mount point of its own, then remount that bind
// read-only. MS_RDONLY is ignored on the first bind call: a bind mount
// takes new flags only from a second, MS_REMOUNT|MS_BIND call (mount(2)).
// The remount keeps the nosuid, nodev and noexec flags the mount already
// has (read with fstatfs(2)): a remount that leaves one out clears it,
// and where a flag is locked (a mount inherited by a user namespace) the
// kernel refuses to clear it with EPERM (mount_namespaces(7)). The atime
// flags are kept by the kernel when none is given. Only the top mount
// becomes read-only, as with runc: a mount below the path keeps its
// flags. A path that does not exist is skipped.
func ReadonlyPaths(paths []string, x *explain.Narrator) error {
	seen := map[string]bool{}
	for _, p := range paths {
		fd, st, err := openTarget(x, "make read-only", p, seen)
		if err != nil {
			return err
		}
		if fd < 0 {
			continue
		}
		err = bindFd(x, fd, fd, unix.MS_BIND|unix.MS_REC)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		// The descriptor holds the dentry under the new mount: open the
		// place again, and make sure it is the file just bound.
		fd, err = unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		var got unix.Stat_t
		var fs unix.Statfs_t
		if err := unix.Fstat(fd, &got); err != nil {
			unix.Close(fd)
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		if got.Dev != st.Dev || got.Ino != st.Ino {
			unix.Close(fd)
			return fmt.Errorf("read-only %s: the path changed during set-up: refusing to remount what is there now", p)
		}
		if err := unix.Fstatfs(fd, &fs); err != nil {
			unix.Close(fd)
			return fmt.Errorf("read-only %s: fstatfs: %w", p, err)
		}
		err = mountAt(x, "", fd, "", keptFlags(int64(fs.Flags))|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	return nil
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
