package rootfs

import (
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Idmapped lower dirs: how root's `run --userns remap` shows the files of
// the base rootfs and of an image's layers, which host root owns, as
// owned by root inside the container, without a copy.
//
// An idmapped mount (mount_setattr(2), MOUNT_ATTR_IDMAP, Linux 5.12)
// shows a file of the host's uid U as owned by the uid that U is inside
// a user namespace given as its idmapping: with the container's own
// namespace (uid_map "0 100000 65536"), a file of host uid 0 appears as
// owned by 100000, which is the container's 0. Only the view changes,
// never the disk: the lower dirs stay root's, shared with every other
// container.
//
// Two processes build it, because neither may do it all:
//
//   - the parent (host root): open_tree(2) with OPEN_TREE_CLONE makes a
//     detached copy of the mount at the lower dir, then mount_setattr(2)
//     idmaps it. Both need CAP_SYS_ADMIN over the file system's
//     superblock, which belongs to the host's user namespace (the
//     container's root has it only in its own), and the user namespace
//     must exist, with its maps written: IDMapTree runs once the init
//     waits for its config, and the descriptors go to it with the config
//     (SCM_RIGHTS);
//   - the init, in its own mount namespace: move_mount(2) attaches each
//     detached tree there (AttachLowers), under the container's scratch
//     dir. overlayfs takes a lower dir only from the mounter's own mount
//     namespace (Linux 6.1: clone_private_mount() refuses a detached
//     mount with EINVAL), and the init could not reach the store's own
//     path anyway: the container's root is uid 100000 on the host, for
//     whom /var/lib/minicontainer/images (0700) is closed.
//
// overlayfs accepts idmapped lower layers since Linux 5.19 ("ovl: handle
// idmapped layers", overlayfs(5)); the lower dir's file system must
// support idmapped mounts (ext4, xfs, btrfs since 5.12-5.15; tmpfs since
// 6.3): mount_setattr(2) fails with EINVAL where it does not.

// IDMapTree returns a descriptor of a detached, read-only copy of the
// mount at dir, idmapped with the user namespace open as userns (a
// descriptor of /proc/PID/ns/user). The caller closes it.
func IDMapTree(dir string, userns int, x *explain.Narrator) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	x.Call("open_tree(2)", fmt.Sprintf("open_tree(AT_FDCWD, %s, OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC)", explain.Quote(dir)), fd, err)
	if err != nil {
		return -1, fmt.Errorf("idmapped lower dir %s: open_tree: %w", dir, err)
	}
	// MOUNT_ATTR_RDONLY too: a lower dir is never written by overlayfs,
	// and this copy must not be a way to write the shared layer.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY, Userns_fd: uint64(userns)}
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
	x.Call("mount_setattr(2)", fmt.Sprintf("mount_setattr(%d, \"\", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP|MOUNT_ATTR_RDONLY, userns_fd=%d})", fd, userns), nil, err)
	if err != nil {
		unix.Close(fd)
		if err == unix.EINVAL {
			return -1, fmt.Errorf("idmapped lower dir %s: mount_setattr(MOUNT_ATTR_IDMAP): %w (its file system cannot be idmapped: Linux 5.12 or later, and ext4, xfs or btrfs; tmpfs from 6.3)", dir, err)
		}
		return -1, fmt.Errorf("idmapped lower dir %s: mount_setattr(MOUNT_ATTR_IDMAP): %w", dir, err)
	}
	return fd, nil
}

// AttachLowers attaches the detached trees fds, one per lower dir (the
// base, then the layers, bottom first), under scratch/lower/ at each
// dir's own path (scratch/lower/var/lib/...): the overlay's options in
// /proc/PID/mountinfo then still name each layer (rmi looks for its
// digest there). It returns the dirs to use as the overlay's lower dirs.
// Each descriptor is closed.
func AttachLowers(x *explain.Narrator, fds []int, dirs []string, scratch string) ([]string, error) {
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if len(fds) != len(dirs) {
		return nil, fmt.Errorf("idmapped lower dirs: %d descriptors for %d dirs", len(fds), len(dirs))
	}
	x.Note("idmapped lower dirs: attach the %d trees the host idmapped with this user namespace, under %s/lower", len(fds), scratch)
	out := make([]string, len(dirs))
	for i, d := range dirs {
		target := filepath.Join(scratch, "lower", filepath.Clean("/"+d))
		if err := mkdirAll(x, target, 0o755); err != nil {
			return nil, err
		}
		err := unix.MoveMount(fds[i], "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
		x.Call("move_mount(2)", fmt.Sprintf("move_mount(%d, \"\", AT_FDCWD, %s, MOVE_MOUNT_F_EMPTY_PATH)", fds[i], explain.Quote(target)), nil, err)
		if err != nil {
			return nil, fmt.Errorf("idmapped lower dir %s: move_mount to %s: %w", d, target, err)
		}
		out[i] = target
	}
	return out, nil
}

// OpenScratch opens the scratch dir for an init that still has its
// caller's ids, host root's, and replaces o.Scratch with the descriptor's
// magic link /proc/self/fd/N. Once the init is root of its namespace
// (uid 100000 on the host) it may not pass the dirs above the scratch
// dir, which host root made with mode 0700 (the containers dir): a path
// through the link starts at the dir itself, and the kernel checks no
// permission of the dirs above it (path_resolution(7), proc(5)
// /proc/PID/fd). The descriptor is close-on-exec: it goes with the
// init's execve(2).
func (o *Overlay) OpenScratch(x *explain.Narrator) error {
	fd, err := unix.Open(o.Scratch, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	x.Call("open(2)", fmt.Sprintf("open(%s, O_PATH|O_DIRECTORY|O_CLOEXEC)", explain.Quote(o.Scratch)), fd, err)
	if err != nil {
		return fmt.Errorf("scratch dir %s: %w", o.Scratch, err)
	}
	o.Scratch = "/proc/self/fd/" + strconv.Itoa(fd)
	return nil
}
