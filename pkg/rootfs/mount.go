package rootfs

import (
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// MountFlags names the mount(2) flags this package passes, so --explain
// prints them as the kernel receives them (see mount(2), "mountflags").
var MountFlags = []explain.Flag{
	{Value: unix.MS_RDONLY, Name: "MS_RDONLY"},
	{Value: unix.MS_NOSUID, Name: "MS_NOSUID"},
	{Value: unix.MS_NODEV, Name: "MS_NODEV"},
	{Value: unix.MS_NOEXEC, Name: "MS_NOEXEC"},
	{Value: unix.MS_REMOUNT, Name: "MS_REMOUNT"},
	{Value: unix.MS_BIND, Name: "MS_BIND"},
	{Value: unix.MS_MOVE, Name: "MS_MOVE"},
	{Value: unix.MS_REC, Name: "MS_REC"},
	{Value: unix.MS_UNBINDABLE, Name: "MS_UNBINDABLE"},
	{Value: unix.MS_PRIVATE, Name: "MS_PRIVATE"},
	{Value: unix.MS_SLAVE, Name: "MS_SLAVE"},
	{Value: unix.MS_SHARED, Name: "MS_SHARED"},
	{Value: unix.MS_STRICTATIME, Name: "MS_STRICTATIME"},
	{Value: unix.MS_RELATIME, Name: "MS_RELATIME"},
	{Value: unix.MS_NOATIME, Name: "MS_NOATIME"},
}

// UmountFlags names the flags of umount2(2).
var UmountFlags = []explain.Flag{
	{Value: unix.MNT_FORCE, Name: "MNT_FORCE"},
	{Value: unix.MNT_DETACH, Name: "MNT_DETACH"},
	{Value: unix.MNT_EXPIRE, Name: "MNT_EXPIRE"},
	{Value: unix.UMOUNT_NOFOLLOW, Name: "UMOUNT_NOFOLLOW"},
}

// flagString spells flags as strace does, "0" when none.
func flagString(v uintptr, table []explain.Flag) string {
	if v == 0 {
		return "0"
	}
	return explain.Flags(uint64(v), table)
}

// cString quotes a string argument, NULL when empty (as strace shows it).
func cString(s string) string {
	if s == "" {
		return "NULL"
	}
	return explain.Quote(s)
}

// mount calls mount(2), narrates the call with the values passed, and
// wraps a failure with what was being mounted where.
func mount(x *explain.Narrator, source, target, fstype string, flags uintptr, data string) error {
	err := unix.Mount(source, target, fstype, flags, data)
	x.Call("mount(2)", fmt.Sprintf("mount(%s, %s, %s, %s, %s)",
		cString(source), explain.Quote(target), cString(fstype), flagString(flags, MountFlags), cString(data)), nil, err)
	if err != nil {
		return mountError(source, target, fstype, flags, err)
	}
	return nil
}

// mountAt mounts on the mount point open as fd (an O_PATH descriptor that
// openMountpoint resolved inside the root) through its magic link
// /proc/self/fd/N: the kernel takes the very file the descriptor holds
// and resolves no path component again, so a symlink swapped in after the
// resolution cannot redirect the mount out of the root. That race is
// CVE-2021-30465 (a volume's target swapped by another container sharing
// the volume); runc mounts this way since 1.0.0-rc95. The narration shows
// the path the descriptor is open on, as strace -y does: N</path>.
//
// A descriptor opened before a mount on the same place holds the dentry
// under it: to change the new mount's flags, open the place again (see
// remountVolume).
func mountAt(x *explain.Narrator, source string, fd int, fstype string, flags uintptr, data string) error {
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	err := unix.Mount(source, target, fstype, flags, data)
	if x.Enabled() || err != nil {
		shown := fdString(fd) // a readlink(2): only when narrating or failing
		x.Call("mount(2)", fmt.Sprintf("mount(%s, /proc/self/fd/%s, %s, %s, %s)",
			cString(source), shown, cString(fstype), flagString(flags, MountFlags), cString(data)), nil, err)
		if err != nil {
			path, _ := fdPath(fd)
			return mountError(source, path, fstype, flags, err)
		}
	}
	return nil
}

// mountError says what was being mounted where.
func mountError(source, target, fstype string, flags uintptr, err error) error {
	what := fstype
	if flags&unix.MS_BIND != 0 {
		what = "bind " + source
	}
	if flags&(unix.MS_PRIVATE|unix.MS_SLAVE|unix.MS_SHARED|unix.MS_UNBINDABLE) != 0 {
		what = "propagation " + flagString(flags, MountFlags)
	} else if flags&unix.MS_REMOUNT != 0 {
		what = "remount " + flagString(flags, MountFlags)
	}
	return fmt.Errorf("mount %s on %s: %w", what, target, err)
}

func umount(x *explain.Narrator, target string, flags int) error {
	err := unix.Unmount(target, flags)
	x.Call("umount(2)", fmt.Sprintf("umount2(%s, %s)", explain.Quote(target), flagString(uintptr(flags), UmountFlags)), nil, err)
	if err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	return nil
}

func mkdirAll(x *explain.Narrator, dir string, mode uint32) error {
	if err := mkdirAllNarrated(x, filepath.Clean(dir), mode); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
}

func mkdirAllNarrated(x *explain.Narrator, dir string, mode uint32) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err == nil {
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return unix.ENOTDIR
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAllNarrated(x, parent, 0o755); err != nil {
			return err
		}
	}
	err := unix.Mkdir(dir, mode)
	x.Call("mkdir(2)", fmt.Sprintf("mkdir(%s, %#o)", explain.Quote(dir), mode), nil, err)
	if err == unix.EEXIST {
		return nil
	}
	return err
}
