package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// A root filesystem is not ours to trust: /etc may be a symlink to
// "/../../host/etc", and following it from the host would write outside
// the container. openat2(2) with RESOLVE_IN_ROOT resolves every path
// component (symlinks and ".." included) as if root were "/", which is what
// runc gets from github.com/cyphar/filepath-securejoin.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens path (absolute inside the container) under the root
// directory open as rootfd.
func openInRoot(rootfd int, path string, flags uint64, mode uint64) (int, error) {
	// No filepath.Clean: ".." after a symlink is the kernel's to resolve.
	return unix.Openat2(rootfd, "./"+strings.TrimLeft(path, "/"), &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Mode:    mode,
		Resolve: inRoot,
	})
}

// mkdirInRoot makes directory path (and its parents) inside root and
// returns it open as an O_PATH descriptor. Symlinks on the way are
// followed inside root, as the kernel will follow them in the container;
// a dangling one has its target made (as runc's securejoin.MkdirAll does).
func mkdirInRoot(x *explain.Narrator, rootfd int, root, path string) (int, error) {
	// The usual case first, in a few system calls: the whole directory is
	// there already (/proc, /sys, /dev of a busybox root), or all but its
	// last component (a mount point in a tmpfs just mounted, such as
	// /sys/fs/cgroup/memory). Each openat2(2) resolves inside root just as
	// the walk below does one component at a time; the walk, with a
	// readlink(2) per component to know where it stands, is kept for what
	// these two cannot do: missing parents and dangling symlinks. In this
	// virtual machine every system call is dear; these two took the
	// init's system calls from ~800 to ~650 per container.
	if fd, err := openInRoot(rootfd, path, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		return fd, nil
	}
	if fd, ok := mkdirLast(x, rootfd, path); ok {
		return fd, nil
	}
	rootPath, err := fdPath(rootfd)
	if err != nil {
		return -1, err
	}
	dirfd, err := unix.Dup(rootfd)
	if err != nil {
		return -1, err
	}
	// sofar is the directory dirfd is open on, as a path inside root with
	// every symlink already resolved, so ".." is simply its parent.
	sofar := "/"
	pending := strings.Split(path, "/")
	links := 0
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		if name == "" || name == "." {
			continue
		}
		var fd int
		if name == ".." {
			sofar = filepath.Dir(sofar)
			fd, err = openInRoot(rootfd, sofar, unix.O_PATH|unix.O_DIRECTORY, 0)
		} else {
			fd, err = openInRoot(rootfd, filepath.Join(sofar, name), unix.O_PATH|unix.O_DIRECTORY, 0)
			if err == unix.ENOENT {
				err = unix.Mkdirat(dirfd, name, 0o755)
				x.Call("mkdir(2)", fmt.Sprintf("mkdirat(%s, %s, 0755)", fdString(dirfd), explain.Quote(name)), nil, err)
				if err == unix.EEXIST {
					// It exists but does not resolve: a symlink to a path
					// missing in the root. Go on along its target.
					buf := make([]byte, unix.PathMax)
					if n, lerr := unix.Readlinkat(dirfd, name, buf); lerr == nil {
						if links++; links > maxSymlinks {
							unix.Close(dirfd)
							return -1, fmt.Errorf("mkdir %s in %s: %w", path, root, unix.ELOOP)
						}
						target := string(buf[:n])
						if filepath.IsAbs(target) {
							sofar = "/"
						}
						pending = append(strings.Split(target, "/"), pending...)
						fd, err = openInRoot(rootfd, sofar, unix.O_PATH|unix.O_DIRECTORY, 0)
						if err == nil {
							unix.Close(dirfd)
							dirfd = fd
						}
						continue
					}
				}
				if err == nil {
					fd, err = openInRoot(rootfd, filepath.Join(sofar, name), unix.O_PATH|unix.O_DIRECTORY, 0)
				}
			}
		}
		unix.Close(dirfd)
		if err != nil {
			return -1, fmt.Errorf("mkdir %s in %s: %w", path, root, err)
		}
		dirfd = fd
		p, err := fdPath(fd)
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		sofar = "/" + strings.TrimPrefix(strings.TrimPrefix(p, rootPath), "/")
	}
	return dirfd, nil
}

// mkdirLast makes the last component of path in its parent, when the
// parent resolves inside root, and returns the new directory open as an
// O_PATH descriptor. ok is false for anything else (no parent, a name the
// kernel resolves specially, a dangling symlink where the directory should
// be: mkdirat says EEXIST), which mkdirInRoot's walk then handles and
// narrates; so nothing is narrated here but success.
func mkdirLast(x *explain.Narrator, rootfd int, path string) (fd int, ok bool) {
	dir, name := filepath.Split(path) // not Clean: ".." is the kernel's to resolve
	if name == "" || name == "." || name == ".." {
		return -1, false
	}
	parent, err := openInRoot(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, false
	}
	defer unix.Close(parent)
	if err := unix.Mkdirat(parent, name, 0o755); err != nil {
		return -1, false
	}
	if x.Enabled() { // fdString costs a readlink(2): only when narrating
		x.Call("mkdir(2)", fmt.Sprintf("mkdirat(%s, %s, 0755)", fdString(parent), explain.Quote(name)), nil, nil)
	}
	fd, err = openInRoot(rootfd, path, unix.O_PATH|unix.O_DIRECTORY, 0)
	return fd, err == nil
}

// maxSymlinks is the kernel's limit of symlinks in one path resolution
// (path_resolution(7)).
const maxSymlinks = 40

// fdString shows a descriptor as strace -y does: 7</path/it/is/open/on>.
func fdString(fd int) string {
	p, err := fdPath(fd)
	if err != nil {
		return strconv.Itoa(fd)
	}
	return fmt.Sprintf("%d<%s>", fd, p)
}

// fdPath is the path the kernel resolved an open descriptor to.
func fdPath(fd int) (string, error) {
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
}

// openMountpoint makes path inside root ready to be mounted on (a
// directory, or an empty file when dir is false) and returns it open as an
// O_PATH descriptor, resolved inside root; the caller closes it. Mount on
// the descriptor (mountAt), never on a path string: mount(2) would resolve
// the string again, and a symlink swapped in between would redirect the
// mount out of the root (CVE-2021-30465).
func openMountpoint(x *explain.Narrator, rootfd int, root, path string, dir bool) (int, error) {
	if dir {
		return mkdirInRoot(x, rootfd, root, path)
	}
	parent, err := mkdirInRoot(x, rootfd, root, filepath.Dir(path))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	fd, err := openInRoot(rootfd, path, unix.O_PATH, 0)
	if err == unix.ENOENT {
		name := filepath.Base(path)
		create := func() (int, error) {
			return unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		}
		var f int
		f, err = create()
		if err == unix.EEXIST {
			// A symlink whose target is missing in the root (a Debian
			// /etc/resolv.conf -> ../run/...): replace it by the file,
			// in the container's own upper dir.
			err = unix.Unlinkat(parent, name, 0)
			if x.Enabled() {
				x.Call("unlink(2)", fmt.Sprintf("unlinkat(%s, %s, 0)", fdString(parent), explain.Quote(name)), nil, err)
			}
			if err == nil {
				f, err = create()
			}
		}
		if err == nil {
			unix.Close(f)
			fd, err = openInRoot(rootfd, path, unix.O_PATH, 0)
		}
	}
	if err != nil {
		return -1, fmt.Errorf("mount point %s in %s: %w", path, root, err)
	}
	return fd, nil
}
