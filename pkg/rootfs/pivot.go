package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// PivotRoot makes root the root of the calling process's mount namespace
// and detaches the old root, with the sequence of runc's pivotRoot
// (libcontainer/rootfs_linux.go) and pivot_root(2), NOTES. root must be a
// mount point, and neither it nor its parent may be shared (Setup made
// every mount private first).
//
// Unlike chroot(2), the old root is gone from the namespace afterwards:
// there is no path, ".." or open directory by which to climb back to it.
func PivotRoot(x *explain.Narrator, root string) error {
	x.Note("pivot_root into %s; the old root is stacked on top, then detached", root)
	// Hold both roots open: the directory we are in after pivot_root(2) is
	// not something the kernel promises, a descriptor is.
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root /: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root %s: %w", root, err)
	}
	defer unix.Close(newroot)
	// Work from inside the new root: with new_root and put_old both ".",
	// no put_old directory has to be made inside the container.
	err = unix.Fchdir(newroot)
	x.Call("fchdir(2)", fmt.Sprintf("fchdir(%d<%s>)", newroot, root), nil, err)
	if err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	// pivot_root(".", "."): the new root becomes "/" of every process of
	// this namespace whose root was the old one, and the old root is
	// mounted on top of the new one, at the same place (pivot_root(2), NOTES).
	err = unix.PivotRoot(".", ".")
	x.Call("pivot_root(2)", `pivot_root(".", ".")`, nil, err)
	if err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	// Stand in the old root to take it down.
	err = unix.Fchdir(oldroot)
	x.Call("fchdir(2)", fmt.Sprintf("fchdir(%d</>)", oldroot), nil, err)
	if err != nil {
		return fmt.Errorf("chdir to the old root: %w", err)
	}
	// Whatever its propagation, the old root's unmount below must not
	// reach any peer: make it (and all under it) a slave first, as runc
	// does. Setup made everything private already; this keeps PivotRoot
	// safe on its own.
	if err := mount(x, "", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	// Detach the old root, now the top mount on ".". MNT_DETACH because it
	// is busy (we stand in it; its submounts); a lazy unmount takes the
	// whole tree out of the namespace at once, and with it every path
	// back to the host's files.
	if err := umount(x, ".", unix.MNT_DETACH); err != nil {
		return err
	}
	// Land on the new "/" so no directory of ours is in the old tree.
	err = unix.Chdir("/")
	x.Call("chdir(2)", `chdir("/")`, nil, err)
	if err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// Chroot changes the root directory of the calling process to root, as the
// article's container does. Only the process's idea of "/" changes: the
// host's whole tree stays mounted in the namespace, and a root process
// inside can climb back to it (chroot(2), NOTES: "This call does not change
// the current working directory ... not intended to be used for any kind of
// security purpose"). Kept for the lesson; PivotRoot is the default.
func Chroot(x *explain.Narrator, root string) error {
	x.Note("chroot into %s (escapable: the old root stays in the namespace)", root)
	err := unix.Chdir(root)
	x.Call("chdir(2)", fmt.Sprintf("chdir(%s)", explain.Quote(root)), nil, err)
	if err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
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
