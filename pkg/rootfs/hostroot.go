package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// A Spec without a mount namespace (runc allows it; runtime-tools'
// linux_ns_itype asks for one) shares the host's mount table, and that
// changes what setting up a root means:
//   - pivot_root(2) would swap the root of the whole mount namespace: every
//     process on the host whose root is "/" would be moved into the
//     container's (pivot_root(2): "changes the root directory and the
//     current working directory of each process or thread in the same
//     mount namespace"). The init chroot(2)s into its root instead, as
//     runc does without NEWNS: only its own "/" changes.
//   - every mount the Spec asks for lands in the host's table. runc makes
//     them there as they come (after making the caller's "/" private) and
//     leaves them after delete. Here the runtime first binds the root on
//     itself, private (BindRootPrivate): the Spec's mounts go below that
//     bind, propagate to no peer of the host's mounts, and go with it at
//     delete (UnmountRoot), one umount2(2) for the whole tree.
//   - root.readonly, rootfsPropagation, maskedPaths and readonlyPaths stay
//     refused (pkg/spec): they would change mounts the host uses.

// BindRootPrivate binds root on itself, recursively, and makes the bind
// private, in the caller's mount namespace. It returns the new mount's ID
// (statx(2), STATX_MNT_ID), which UnmountRoot checks before removing it.
func BindRootPrivate(x *explain.Narrator, root string) (mountID uint64, err error) {
	x.Note("no mount namespace: bind the root %s on itself, private, so the Spec's mounts below it reach no other mount of the host", root)
	if err := mount(x, root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return 0, err
	}
	if err := mount(x, "", root, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		umount(x, root, unix.MNT_DETACH)
		return 0, err
	}
	id, err := topMountID(root)
	if err != nil {
		umount(x, root, unix.MNT_DETACH)
		return 0, err
	}
	return id, nil
}

// UnmountRoot removes the bind BindRootPrivate made, with every mount
// below it (MNT_DETACH: the whole tree, at once), if it is still the top
// mount at root; anything else there (gone already, or someone else's
// mount, the root's own if it is one) is left.
func UnmountRoot(x *explain.Narrator, root string, mountID uint64) error {
	id, err := topMountID(root)
	if err != nil || id != mountID {
		return nil
	}
	return umount(x, root, unix.MNT_DETACH)
}

// topMountID is the ID of the mount that path resolves into: the top one
// where several are stacked (statx(2), STATX_MNT_ID; Linux 5.8).
func topMountID(path string) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("statx %s: %w", path, err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("statx %s: this kernel gives no mount ID (Linux 5.8 or later needed)", path)
	}
	return st.Mnt_id, nil
}
