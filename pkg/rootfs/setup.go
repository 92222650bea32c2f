package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/ns"
)

// ErrNoOverlay is returned by Setup when it is asked to write files
// (Hostname, Files) without an overlay to write them in.
var ErrNoOverlay = errors.New("rootfs: /etc/hostname, /etc/hosts and extra files need a scratch dir (Spec.Scratch) to keep them in, and an overlay for their mount points, so the base is never modified")

// ErrHostMountNamespace is returned by Setup when it is called in the
// host's mount namespace, where it would remount the host's own mounts.
var ErrHostMountNamespace = errors.New("rootfs setup must run in a new mount namespace (clone with CLONE_NEWNS), not the host's")

// Setup builds the root filesystem described by s and moves the calling
// process into it. It runs in the container's init, in a mount namespace
// already created by clone(2) (CLONE_NEWNS), before the exec of the user's
// command. Every mount it makes belongs to that namespace and disappears
// with it, even when the container is killed: nothing is left on the host.
func Setup(s Spec, x *explain.Narrator) error {
	if err := checkOwnMountNamespace(); err != nil {
		return err
	}
	if s.Scratch == "" && (s.Hostname != "" || len(s.Files) > 0) {
		return ErrNoOverlay
	}
	if s.Scratch == "" && len(s.Layers) > 0 {
		return errors.New("rootfs: layers need the overlay (a scratch dir)")
	}
	base, err := filepath.Abs(s.Base)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", s.Base, err)
	}

	// 1. Propagation first. On systemd hosts "/" is MS_SHARED, and a new
	// mount namespace copies that: every mount below would appear on the
	// host too (a /proc mounted "inside" would hide the host's /proc).
	// MS_REC|MS_PRIVATE cuts every mount of this namespace from its peers
	// (see mount_namespaces(7), "Shared subtrees"). runc uses MS_SLAVE,
	// which still lets host mounts come in; private lets nothing through.
	// Go's Cloneflags does not do this for us (Unshareflags would, silently).
	x.Note("make every mount private so nothing below propagates to the host")
	if err := SetPropagation(x, "/", "private"); err != nil {
		return err
	}

	// 2. The root: an overlay of a per-container upper dir over the base.
	root := base
	if s.Scratch != "" {
		if s.Scratch, err = filepath.Abs(s.Scratch); err != nil {
			return fmt.Errorf("scratch dir %s: %w", s.Scratch, err)
		}
		if root, err = mountOverlay(x, base, s.Layers, s.Scratch); err != nil {
			return err
		}
	}
	// pivot_root(2) needs new_root to be a mount point; binding the root on
	// itself makes it one (runc's prepareRoot). MS_REC keeps what is already
	// mounted below it. Everything below is mounted on top of this bind.
	x.Note("bind the root on itself: pivot_root(2) needs a mount point")
	if err := mount(x, root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root %s: %w", root, err)
	}
	defer unix.Close(rootfd)

	// 3. The kernel's file systems.
	if err := mountKernelFS(x, rootfd, root); err != nil {
		return err
	}
	if err := setupDev(x, rootfd, root); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		// Opened after the mounts before it: a remount (the read-only
		// /sys/fs/cgroup) then holds the mount made there just before.
		fd, err := openMountpoint(x, rootfd, root, m.Target, true)
		if err != nil {
			return err
		}
		err = mountAt(x, m.Source, fd, m.FSType, m.Flags, m.Data)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}

	// 4. Volumes, after /dev so that one may go under it (Validate keeps
	// them off /proc, /sys and /dev themselves), parents before children.
	for _, v := range SortVolumes(s.Volumes) {
		if err := mountVolume(x, rootfd, root, v); err != nil {
			return err
		}
	}

	// 5. Files that say who the container is, the runtime's own, bound in.
	var vols []string
	for _, v := range s.Volumes {
		vols = append(vols, v.Container)
	}
	if err := bindIdentity(x, rootfd, root, s.Scratch, identityFiles(s.Hostname, s.Files), vols); err != nil {
		return err
	}

	// The working directory, made if missing as docker does (after the
	// volumes: it may be in one).
	if s.Workdir != "" {
		fd, err := mkdirInRoot(x, rootfd, root, s.Workdir)
		if err != nil {
			return fmt.Errorf("workdir %s: %w", s.Workdir, err)
		}
		unix.Close(fd)
	}

	// 6. Into the new root.
	if s.Chroot {
		err = Chroot(x, root)
	} else {
		err = PivotRoot(x, root)
	}
	if err != nil {
		return err
	}

	// 7. Read-only last: everything above had to write to the root first.
	// A bind remount changes only this mount's flags (see mount(2),
	// "Remounting an existing mount"); /proc, /dev etc. keep theirs.
	if s.ReadOnly {
		x.Note("--read-only: remount the root read-only, now that it is set up")
		if err := mount(x, "", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	return nil
}

// checkOwnMountNamespace refuses to run in the mount namespace of PID 1 (as
// the host's /proc, still mounted at this point, shows it): called there
// by mistake, Setup would remount the host's own "/". It is a guard
// against that mistake, not a proof: a caller in some other namespace
// that is not its own passes it.
func checkOwnMountNamespace() error {
	mnt, err := ns.ByName("mnt")
	if err != nil {
		return err
	}
	self, err := ns.Of(0, mnt)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if host, err := ns.Of(1, mnt); err == nil && self == host {
		return ErrHostMountNamespace
	}
	return nil
}

// mountOverlay mounts base (read-only lower), and the layers over it,
// with scratch/upper and scratch/work at scratch/merged and returns the
// merged dir. See
// overlayfs(5): writes go to upper, copied up from lower on first write;
// deletions are whiteouts in upper; work is overlayfs's own scratch space
// and must be on the same file system as upper.
func mountOverlay(x *explain.Narrator, base string, layers []string, scratch string) (string, error) {
	upper := filepath.Join(scratch, "upper")
	work := filepath.Join(scratch, "work")
	merged := filepath.Join(scratch, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := mkdirAll(x, d, 0o755); err != nil {
			return "", err
		}
	}
	// lowerdir=TOP:...:BOTTOM: overlayfs looks a name up from the left,
	// and a whiteout (0:0 char device) or an opaque dir in a layer hides
	// what the layers to its right have (overlayfs(5), "Multiple lower
	// layers"). Each path is escaped: ':' would split it.
	lower := overlayEscape(base)
	if len(layers) > 0 {
		x.Note("overlay: %d image layers are the read-only lower dirs, the topmost first; writes go to %s", len(layers)+1, upper)
		for _, l := range layers {
			lower = overlayEscape(l) + ":" + lower
		}
	} else {
		x.Note("overlay: the base is the read-only lower dir, writes go to %s", upper)
	}
	// volatile (Linux 5.10, overlayfs(5)): no sync of the upper dir's file
	// system, not even when the overlay goes away with the mount
	// namespace. The upper dir is thrown away with the container, so
	// nothing needs to reach the disk; without it every container's end
	// waited for a journal commit of the disk under the scratch dir.
	// A volatile overlay leaves work/work/incompat/volatile behind, and
	// overlayfs refuses (EINVAL) to mount that work dir again until it is
	// removed: the kernel cannot know whether the upper dir survived a
	// crash. This scratch dir is the caller's, reused on purpose (a
	// container started again on the same layer): acknowledge it.
	if stale := filepath.Join(work, "work", "incompat", "volatile"); exists(stale) {
		err := os.RemoveAll(stale)
		x.Call("rmdir(2)", fmt.Sprintf("rmdir(%s)", explain.Quote(stale)), nil, err)
		if err != nil {
			return "", fmt.Errorf("overlay work dir %s: %w", work, err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,volatile", lower, overlayEscape(upper), overlayEscape(work))
	err := mount(x, "overlay", merged, "overlay", 0, opts)
	if errors.Is(err, unix.EINVAL) {
		x.Note("this kernel's overlayfs has no volatile option (Linux < 5.10): mount without it")
		err = mount(x, "overlay", merged, "overlay", 0, strings.TrimSuffix(opts, ",volatile"))
	}
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			// overlayfs explains an EINVAL only in the kernel log: a lower
			// or upper dir on a file system it cannot stack on (overlay
			// itself, NFS), upper and work on different file systems.
			return "", fmt.Errorf("%w (the kernel log, dmesg, says why)", err)
		}
		return "", err
	}
	return merged, nil
}

// SortVolumes returns the volumes in the order to mount them: by the depth
// of their path inside the container, shallowest first, as docker sorts
// them. Given as -v A:/data/sub -v B:/data, B mounted last would hide A.
// The sort is stable: volumes of the same depth keep their order.
func SortVolumes(vols []Volume) []Volume {
	out := append([]Volume(nil), vols...)
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i].Container) < depth(out[j].Container) })
	return out
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// mountBeforeHook, when set (by a test), runs between the resolution of a
// volume's mount point and the mount: where a racing process would swap
// the mount point for a symlink.
var mountBeforeHook func()

func mountVolume(x *explain.Narrator, rootfd int, root string, v Volume) error {
	var st unix.Stat_t
	if err := unix.Stat(v.Host, &st); err != nil {
		return fmt.Errorf("volume %s: %w", v, err)
	}
	fd, err := openMountpoint(x, rootfd, root, v.Container, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return fmt.Errorf("volume %s: %w", v, err)
	}
	defer unix.Close(fd)
	if mountBeforeHook != nil {
		mountBeforeHook()
	}
	x.Note("volume %s", v)
	if err := mountAt(x, v.Host, fd, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("volume %s: %w", v, err)
	}
	if v.ReadOnly {
		if err := remountReadOnly(x, rootfd, v.Container, &st); err != nil {
			return fmt.Errorf("volume %s: %w", v, err)
		}
	}
	return nil
}

// remountReadOnly makes the bind mount just made at path read-only.
// MS_RDONLY is ignored on the first bind: a bind mount takes its flags only
// from a second, remounting call (see mount(2)), which applies to the top
// mount only, not to mounts under it. The descriptor the bind was made on
// holds the dentry under the new mount, so the place is opened again; and
// since that resolves the path again, the mount found there must be the
// one just made: the same file as the source (st).
func remountReadOnly(x *explain.Narrator, rootfd int, path string, st *unix.Stat_t) error {
	fd, err := openInRoot(rootfd, path, unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return fmt.Errorf("mount point %s changed during set-up (a symlink swapped in?): refusing to remount what is there now", path)
	}
	return mountAt(x, "", fd, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// mountKernelFS mounts a new proc (it shows the container's PID namespace:
// the init is PID 1) and a read-only sysfs (it shows the container's
// network namespace; read-only so the container cannot change the host's
// devices or kernel settings through it).
func mountKernelFS(x *explain.Narrator, rootfd int, root string) error {
	for _, m := range []struct {
		dir, fstype string
		flags       uintptr
		why         string
	}{
		{"/proc", "proc", ProcFlags, "a new proc, listing only the processes of this PID namespace"},
		{"/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY, "sysfs, read-only, so the container cannot change kernel or device settings"},
	} {
		fd, err := openMountpoint(x, rootfd, root, m.dir, true)
		if err != nil {
			return err
		}
		x.Note("%s: %s", m.dir, m.why)
		err = mountAt(x, m.fstype, fd, m.fstype, m.flags, "")
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// identityFiles returns /etc/hostname and /etc/hosts for the hostname, and
// the caller's extra files, sorted by path. Extra /etc/hosts lines (the
// container's own address, from the network) come before the 127.0.1.1
// line: the C library answers a name with the first line that has it, and
// `getent hosts $(hostname)` must give the container's address when it has
// one (docker writes no 127.0.1.1 line at all).
func identityFiles(hostname string, extra map[string][]byte) []identityFile {
	files := map[string][]byte{}
	for p, d := range extra {
		files[filepath.Clean(p)] = d
	}
	if hostname != "" {
		files["/etc/hostname"] = []byte(hostname + "\n")
		hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		hosts += string(extra["/etc/hosts"]) + "127.0.1.1\t" + hostname + "\n"
		files["/etc/hosts"] = []byte(hosts)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]identityFile, len(paths))
	for i, p := range paths {
		out[i] = identityFile{p, files[p]}
	}
	return out
}

// identityFile is one of the runtime's own files inside the container.
type identityFile struct {
	path string
	data []byte
}

// FilesDir is where, under Spec.Scratch, Setup writes the identity files
// (Spec.Hostname, Spec.Files) on the host side: scratch/files/etc/hosts.
const FilesDir = "files"

// bindIdentity writes /etc/hostname, /etc/hosts and the other Files as the
// runtime's own files, on the host in Scratch/files (as docker keeps them
// in its container directory), and bind-mounts each onto its path inside.
// Never into the root filesystem or a volume: a user's volume on that path,
// or on a directory above it (-v $PWD/d:/etc), wins and is not written —
// it may be the host's own /etc.
func bindIdentity(x *explain.Narrator, rootfd int, root, scratch string, files []identityFile, vols []string) error {
	for _, f := range files {
		if v, ok := coveredBy(vols, f.path); ok {
			x.Note("%s: the volume on %s covers it: the user's file is left as it is", f.path, v)
			continue
		}
		host := filepath.Join(scratch, FilesDir, f.path)
		if err := mkdirAll(x, filepath.Dir(host), 0o755); err != nil {
			return err
		}
		x.Note("%s: %s", f.path, strings.ReplaceAll(strings.TrimSpace(string(f.data)), "\n", " | "))
		err := os.WriteFile(host, f.data, 0o644)
		x.Call("open(2)", fmt.Sprintf("open(%s, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) and write(2)", explain.Quote(host)), nil, err)
		if err != nil {
			return fmt.Errorf("write %s: %w", host, err)
		}
		fd, err := openMountpoint(x, rootfd, root, f.path, false)
		if err != nil {
			return err
		}
		err = mountAt(x, host, fd, "", unix.MS_BIND, "")
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// coveredBy returns the volume (its path inside) mounted on path or on a
// directory above it.
func coveredBy(vols []string, path string) (string, bool) {
	for _, v := range vols {
		c := filepath.Clean("/" + v)
		if path == c || strings.HasPrefix(path, c+"/") {
			return c, true
		}
	}
	return "", false
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
