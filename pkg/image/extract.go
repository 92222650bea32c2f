package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Whiteout markers, as the OCI image spec names them (image-spec,
// layer.md "Whiteouts"): a file ".wh.NAME" in a layer says NAME from
// the layers below is deleted; ".wh..wh..opq" in a directory says the
// directory hides everything the lower layers had in it.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// OverlayOpaqueXattr is the xattr overlayfs reads to make a directory of
// an upper (or lower) layer hide the directories below it
// (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
// directories"). The trusted.* namespace needs CAP_SYS_ADMIN.
const OverlayOpaqueXattr = "trusted.overlay.opaque"

// A user other than root unpacks its layers (its own store, see
// DefaultStore) in the form overlayfs reads when a user namespace's root
// mounts it with userxattr: "the user.overlay. xattr namespace instead of
// trusted.overlay." (overlayfs.rst, "User xattr"). Such a user may not
// chown(2) to another id nor write trusted.* xattrs, and may mknod(2) no
// device but one: the whiteout, a character device 0:0, which any user
// may make since Linux 5.8 (vfs_mknod, "vfs: allow unprivileged whiteout
// creation"), three releases before overlayfs could be mounted in a user
// namespace at all. Its files stay its own (root inside its user
// namespace), other device nodes are skipped, and an opaque directory
// carries user.overlay.opaque. (Linux 6.7's other whiteout form, an empty
// file with an overlay.whiteout xattr, is not read by 6.1, Debian 12's.)
const userOpaqueXattr = "user.overlay.opaque"

// unprivileged says whether this process unpacks as a user other than
// root; asked once per process, not once per file.
var unprivileged = sync.OnceValue(func() bool { return unix.Geteuid() != 0 })

// Extract unpacks the uncompressed layer tar r into the directory whose
// descriptor is rootfd, turning the image spec's whiteout files into the
// form overlayfs reads, so that the directory can be mounted as a lower
// dir as it is:
//
//	.wh.NAME      → NAME, a character device 0:0 (overlay's whiteout)
//	.wh..wh..opq  → the xattrs trusted.overlay.opaque=y and
//	                user.overlay.opaque=y on its directory
//
// It is path-safe against a hostile archive: a name or hard-link target
// with ".." or a leading "/" is refused; every parent directory is walked
// one component at a time with O_NOFOLLOW, so no entry is written through
// a symlink (a symlink an earlier entry planted, pointing outside, fails
// with ELOOP and the layer is refused); the last component is created
// with *at calls that never follow it. Hard links are made with linkat
// from a parent opened the same way, so they stay inside the layer.
func Extract(rootfd int, r io.Reader) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		name string
		hdr  *tar.Header
	}
	var dirs []dirTime
	var parent parentCache // see parentCache for why reuse is safe
	defer parent.drop()
	buf := make([]byte, 256<<10) // one copy buffer for every file
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer tar: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			if hdr.Typeflag == tar.TypeDir {
				dirs = append(dirs, dirTime{".", hdr})
			}
			continue
		}
		dir, base := path.Split(name)
		parent.forget(name)
		if deleted, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
			parent.forget(dir + deleted) // a whiteout removes what was there
		}
		pfd, err := parent.open(rootfd, strings.TrimSuffix(dir, "/"))
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		if err := extractOne(rootfd, pfd, base, hdr, tr, buf); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{name, hdr})
		}
	}
	// Directory times last: creating the entries inside changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		ts := []unix.Timespec{unix.NsecToTimespec(d.hdr.AccessTime.UnixNano()), unix.NsecToTimespec(d.hdr.ModTime.UnixNano())}
		if d.hdr.AccessTime.IsZero() {
			ts[0] = ts[1]
		}
		if d.name == "." {
			_ = unix.UtimesNanoAt(rootfd, ".", ts, 0)
			continue
		}
		_ = unix.UtimesNanoAt(rootfd, d.name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// cleanName refuses what could leave the layer: an absolute name or a
// ".." component. "./a/b/" becomes "a/b".
func cleanName(n string) (string, error) {
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("layer entry %q: absolute path refused", n)
	}
	for rest, more := n, true; more; {
		var c string
		c, rest, more = strings.Cut(rest, "/")
		if c == ".." {
			return "", fmt.Errorf("layer entry %q: \"..\" refused", n)
		}
	}
	c := path.Clean(n)
	if strings.HasPrefix(c, "../") || c == ".." || c == "" {
		return "", fmt.Errorf("layer entry %q: path leaves the layer", n)
	}
	return c, nil
}

// parentCache keeps the directories entries were created in open, by
// path (at most 64), so that a file's parent is one openat away from an
// open ancestor, not a walk from the root: a layer lists a directory's
// files together, and walking every parent from the root cost a quarter
// of the unpack (one openat and one close per component).
//
// Reusing a descriptor is safe while its path still names the same
// directory. Only an entry NAME can change what NAME, or a path under
// it, resolves to (replace a directory by a symlink, say), so every
// entry first drops NAME and everything under it from the cache; the
// next entry there walks again with O_NOFOLLOW, and a planted symlink is
// refused as before.
//
// Every entry asks forget, so forget must be cheap when there is
// nothing to forget (the common entry, a new file, is neither a cached
// directory nor above one): below counts the cached directories under
// each path, and only a name that is cached or has cached directories
// below it costs a walk of the cache. (A walk for every entry, building
// "name/" for each cached path, made 61% of the unpack's allocations.)
type parentCache struct {
	fds   map[string]int // directory → O_PATH descriptor
	below map[string]int // path → how many directories in fds lie under it
}

const parentCacheSize = 64

// forget closes the cached directories at name and under it.
func (c *parentCache) forget(name string) {
	if _, ok := c.fds[name]; !ok && c.below[name] == 0 {
		return
	}
	for dir, fd := range c.fds {
		if dir == name || len(dir) > len(name) && dir[len(name)] == '/' && dir[:len(name)] == name {
			c.remove(dir, fd)
		}
	}
}

// add caches fd as dir's descriptor and counts it under each ancestor.
func (c *parentCache) add(dir string, fd int) {
	c.fds[dir] = fd
	for i := 0; i < len(dir); i++ {
		if dir[i] == '/' {
			c.below[dir[:i]]++
		}
	}
}

// remove closes dir's descriptor fd and uncounts it under its ancestors.
func (c *parentCache) remove(dir string, fd int) {
	unix.Close(fd)
	delete(c.fds, dir)
	for i := 0; i < len(dir); i++ {
		if dir[i] == '/' {
			if c.below[dir[:i]]--; c.below[dir[:i]] == 0 {
				delete(c.below, dir[:i])
			}
		}
	}
}

// open returns an O_PATH descriptor of dir (relative, clean; "" is the
// root), owned by the cache.
func (c *parentCache) open(rootfd int, dir string) (int, error) {
	if dir == "." {
		dir = ""
	}
	if fd, ok := c.fds[dir]; ok {
		return fd, nil
	}
	if c.fds == nil || len(c.fds) >= parentCacheSize {
		c.drop()
		c.fds, c.below = map[string]int{}, map[string]int{}
	}
	// the nearest open ancestor, else the root
	from, rest := rootfd, dir
	for a := dir; a != ""; {
		i := strings.LastIndexByte(a, '/')
		if i < 0 {
			break
		}
		a = a[:i]
		if fd, ok := c.fds[a]; ok {
			from, rest = fd, dir[len(a)+1:]
			break
		}
	}
	fd, err := walkParent(from, rest)
	if err != nil {
		return -1, err
	}
	c.add(dir, fd)
	return fd, nil
}

func (c *parentCache) drop() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	clear(c.fds)
	clear(c.below)
}

// walkParent opens dir (relative, clean) under rootfd one component at a
// time, creating missing directories (0755, as tar does) and refusing a
// component that is a symlink: openat(2) with O_NOFOLLOW|O_DIRECTORY
// fails with ELOOP on a symlink and ENOTDIR on anything else not a dir.
func walkParent(rootfd int, dir string) (int, error) {
	fd, err := unix.Openat(rootfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if dir == "" || dir == "." {
		return fd, nil
	}
	for _, c := range strings.Split(dir, "/") {
		nfd, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				nfd, err = unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("parent %q is not a directory (a symlink?): refused, nothing is written through it", c)
		}
		if err != nil {
			return -1, fmt.Errorf("parent %q: %w", c, err)
		}
		fd = nfd
	}
	return fd, nil
}

// extractOne creates base in the directory pfd from hdr, copying a
// file's bytes through buf.
func extractOne(rootfd, pfd int, base string, hdr *tar.Header, r io.Reader, buf []byte) error {
	// Whiteouts first: they are markers, never files of their own.
	if base == whiteoutOpaque {
		// fsetxattr needs a real descriptor, not O_PATH.
		dfd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		if unprivileged() {
			if err := unix.Fsetxattr(dfd, userOpaqueXattr, []byte("y"), 0); err != nil {
				return xattrErr("fsetxattr "+userOpaqueXattr, err)
			}
			return nil
		}
		if err := unix.Fsetxattr(dfd, OverlayOpaqueXattr, []byte("y"), 0); err != nil {
			return xattrErr("fsetxattr "+OverlayOpaqueXattr, err)
		}
		// Root's layers carry the user form too: run --userns remap mounts
		// them (idmapped) in an overlay with userxattr, which reads only
		// user.overlay.* (overlayfs.rst, "User xattr"); without it the
		// directory would show what the layers below hold. A file system
		// with trusted.* but no user.* xattrs (tmpfs before Linux 6.6)
		// keeps only the first: remap then cannot hide them, root's runs
		// still can.
		if err := unix.Fsetxattr(dfd, userOpaqueXattr, []byte("y"), 0); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			return xattrErr("fsetxattr "+userOpaqueXattr, err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		return nil // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not content
	}
	if name, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if err := removeExisting(pfd, name); err != nil {
			return err
		}
		// overlayfs: "A whiteout is created as a character device with
		// 0/0 device number" (overlayfs.rst); root and user alike.
		if err := unix.Mknodat(pfd, name, unix.S_IFCHR|0o000, 0); err != nil {
			return fmt.Errorf("mknodat %s 0:0 (whiteout): %w", name, err)
		}
		return nil
	}

	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := removeExisting(pfd, base); err != nil {
				return err
			}
			err = unix.ENOENT
		}
		if err != nil {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("mkdirat: %w", err)
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		// O_EXCL first, and only on EEXIST remove what is there and try
		// again: in a fresh layer directory nothing is, and an fstatat
		// for every file was one system call in six.
		const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
		fd, err := unix.Openat(pfd, base, flags, 0o600)
		if errors.Is(err, unix.EEXIST) {
			if err := removeExisting(pfd, base); err != nil {
				return err
			}
			fd, err = unix.Openat(pfd, base, flags, 0o600)
		}
		if err != nil {
			return fmt.Errorf("openat: %w", err)
		}
		err = writeFile(fd, hdr, r, buf)
		unix.Close(fd)
		return err
	case tar.TypeSymlink:
		// The target is stored as it is: it is resolved only inside the
		// container's root, after pivot_root; we never follow it here.
		if err := removeExisting(pfd, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlinkat: %w", err)
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link: %w", err)
		}
		tdir, tbase := path.Split(target)
		tfd, err := walkParent(rootfd, strings.TrimSuffix(tdir, "/"))
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(tfd)
		if err := removeExisting(pfd, base); err != nil {
			return err
		}
		// linkat without AT_SYMLINK_FOLLOW links the entry itself, never
		// what a symlink there points to.
		if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
			return fmt.Errorf("linkat %s: %w", hdr.Linkname, err)
		}
		return nil // a hard link shares the target's inode: owner, mode and times are the target's
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if hdr.Typeflag != tar.TypeFifo && unprivileged() {
			return nil // mknod(2): "EPERM ... the caller is not privileged"; a user namespace gets /dev from the runtime
		}
		if err := removeExisting(pfd, base); err != nil {
			return err
		}
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|mode, int(dev)); err != nil {
			return fmt.Errorf("mknodat: %w", err)
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("tar type %q not supported", hdr.Typeflag)
	}

	// Owner before mode: chown(2) clears the set-user-ID and set-group-ID bits.
	if err := fchownat(pfd, base, hdr); err != nil {
		return fmt.Errorf("fchownat: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && hdr.Typeflag != tar.TypeSymlink && userMay(x) {
			if err := setxattrAt(pfd, base, x, []byte(v)); err != nil {
				return err
			}
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// fchmodat has no AT_SYMLINK_NOFOLLOW on Linux; base is not a
		// symlink here (we just created it with O_EXCL or mkdirat).
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("fchmodat: %w", err)
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if !hdr.AccessTime.IsZero() {
			ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
		}
		if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("utimensat: %w", err)
		}
	}
	return nil
}

// writeFile fills the new regular file fd and sets its owner, xattrs,
// mode and times through the descriptor: no path is looked up again
// (f*-calls instead of the *at ones, fewer steps per file).
func writeFile(fd int, hdr *tar.Header, r io.Reader, buf []byte) error {
	if _, err := io.CopyBuffer(fdWriter(fd), r, buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	// Owner before mode: chown(2) clears the set-user-ID and set-group-ID bits.
	if err := fchownat(fd, "", hdr); err != nil {
		return fmt.Errorf("fchown: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && userMay(x) {
			if err := unix.Fsetxattr(fd, x, []byte(v), 0); err != nil {
				return fmt.Errorf("fsetxattr %s: %w", x, err)
			}
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("fchmod: %w", err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	return futimens(fd, ts)
}

// futimens sets fd's times: utimensat(2) with a NULL pathname, which
// Linux applies to the file dirfd refers to ("the Linux utimensat()
// system call implements a nonstandard feature", utimensat(2) NOTES;
// glibc's futimens is this call). x/sys/unix has no futimens, and its
// Futimes goes through /proc/self/fd with microseconds.
func futimens(fd int, ts []unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("utimensat(fd, NULL): %w", errno)
	}
	return nil
}

// setxattrAt sets an xattr on pfd/base without following a symlink: the
// file is opened O_NOFOLLOW first (it is never a symlink here).
func setxattrAt(pfd int, base, name string, v []byte) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		// a fifo or device we cannot open: use the path (not a symlink)
		return unix.Setxattr(fdPath(pfd)+"/"+base, name, v, 0)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, name, v, 0); err != nil {
		return fmt.Errorf("fsetxattr %s: %w", name, err)
	}
	return nil
}

func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// removeExisting removes pfd/name if it exists and is not a directory: a
// later tar entry replaces an earlier one (tar(1) does the same).
func removeExisting(pfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR); err != nil {
			return fmt.Errorf("replace directory %s: %w", name, err)
		}
		return nil
	}
	if err := unix.Unlinkat(pfd, name, 0); err != nil {
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}

type fdWriter int

func (f fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(f), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// fchownat gives dfd/base (dfd itself when base is "") the entry's owner,
// unless unprivileged: a user's files stay its own.
func fchownat(dfd int, base string, hdr *tar.Header) error {
	if unprivileged() {
		return nil
	}
	if base == "" {
		return unix.Fchown(dfd, hdr.Uid, hdr.Gid)
	}
	return unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

// userMay says whether this process may set the xattr name: root any, a
// user only user.* ones (xattr(7): trusted.* needs CAP_SYS_ADMIN,
// security.capability CAP_SETFCAP).
func userMay(name string) bool { return !unprivileged() || strings.HasPrefix(name, "user.") }

// xattrErr names the cause when the store's file system keeps no
// extended attributes of the namespace asked for (EOPNOTSUPP, xattr(7)):
// a user's layers need user.* ones for their opaque directories, which tmpfs
// keeps only from Linux 6.6, and NFS not at all.
func xattrErr(op string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%s: %w: the image store's file system keeps no such extended attributes, which overlay's opaque directories need (put the store on ext4, xfs or btrfs: XDG_DATA_HOME, or MINICONTAINER_IMAGES)", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
