package rootfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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
	if err := checkNoPeers(root); err != nil {
		return 0, err
	}
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

// checkNoPeers refuses a root whose top mount has a peer in this mount
// table. Mounting on a shared mount propagates a copy to each of its peers
// (sharedsubtree.rst; mount_namespaces(7), "MS_SHARED"), before the bind
// can be made private: the copy stays in the host's peer group for the
// container's life. Worse, when the peer holds the root's mount itself
// (the root is a bind of a directory of a shared mount, e.g. /tmp a tmpfs
// on a systemd host: the bind joins the tmpfs's peer group), the copy is
// tucked under that mount, and delete's umount2(2) propagates back through
// the peer group and takes the host's mount at root with it. A root that
// is not shared, or alone in its peer group, has none of that. Peers in
// other mount namespaces are not visible here and are not checked.
func checkNoPeers(root string) error {
	id, err := topMountID(root)
	if err != nil {
		return err
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	group, others := "", []string{}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 6 && f[0] == strconv.FormatUint(id, 10) {
			for _, o := range f[6:] {
				if o == "-" {
					break
				}
				if strings.HasPrefix(o, "shared:") {
					group = o
				}
			}
		}
	}
	if group == "" {
		return nil
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 7 || f[0] == strconv.FormatUint(id, 10) {
			continue
		}
		for _, o := range f[6:] {
			if o == "-" {
				break
			}
			if o == group {
				others = append(others, f[4])
			}
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s is a mount in a peer group (%s) with %s: without a mount namespace the container's mounts would propagate to them; give the Spec a mount namespace, or a root that is a mount of its own", root, group, strings.Join(others, ", "))
	}
	return nil
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
