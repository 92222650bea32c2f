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

// resolveMountpoint makes path inside root ready to be mounted on (a
// directory, or an empty file when dir is false) and returns its host path,
// resolved inside root.
func resolveMountpoint(x *explain.Narrator, rootfd int, root, path string, dir bool) (string, error) {
	if dir {
		fd, err := mkdirInRoot(x, rootfd, root, path)
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		return fdPath(fd)
	}
	parent, err := mkdirInRoot(x, rootfd, root, filepath.Dir(path))
	if err != nil {
		return "", err
	}
	defer unix.Close(parent)
	fd, err := openInRoot(rootfd, path, unix.O_PATH, 0)
	if err == unix.ENOENT {
		var f int
		f, err = unix.Openat(parent, filepath.Base(path), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
			fd, err = openInRoot(rootfd, path, unix.O_PATH, 0)
		}
	}
	if err != nil {
		return "", fmt.Errorf("mount point %s in %s: %w", path, root, err)
	}
	defer unix.Close(fd)
	return fdPath(fd)
}

// writeInRoot writes data to path inside root, replacing a symlink there
// rather than following it.
func writeInRoot(x *explain.Narrator, rootfd int, root, path string, data []byte, mode uint32) error {
	parent, err := mkdirInRoot(x, rootfd, root, filepath.Dir(path))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	name := filepath.Base(path)
	host := filepath.Join(root, path)
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(parent, name, flags, mode)
	if err == unix.ELOOP { // a symlink: replace it by a file
		if err = unix.Unlinkat(parent, name, 0); err == nil {
			fd, err = unix.Openat(parent, name, flags, mode)
		}
	}
	x.Call("open(2)", fmt.Sprintf("openat(%s, %s, O_WRONLY|O_CREAT|O_TRUNC|O_NOFOLLOW|O_CLOEXEC, %#o)", fdString(parent), explain.Quote(name), mode), fd, err)
	if err != nil {
		return fmt.Errorf("write %s: %w", host, err)
	}
	f := os.NewFile(uintptr(fd), host)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", host, err)
	}
	return f.Close()
}
