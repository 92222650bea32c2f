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
//
// It is SetupBundle's road with a mount list of its own (Mounts): the
// kernel's file systems (/proc, /sys read-only, a /dev tmpfs with a new
// devpts instance and /dev/shm), s.Mounts, then the volumes, shallowest
// first; the overlay and the identity files when s has a scratch dir.
func Setup(s Spec, x *explain.Narrator) error {
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
	b := Bundle{Root: base, ReadOnly: s.ReadOnly, Mounts: s.bundleMounts(), Cwd: s.Workdir, Chroot: s.Chroot}
	if s.Scratch != "" {
		b.Overlay = &Overlay{Layers: s.Layers, Scratch: s.Scratch, Hostname: s.Hostname, Files: s.Files}
	}
	return SetupBundle(b, x)
}

// bundleMounts is Setup's mount list, in the order mounted.
func (s Spec) bundleMounts() []BundleMount {
	ms := []BundleMount{
		// A new proc shows the PID namespace it is mounted from.
		{Destination: "/proc", Type: "proc", Source: "proc", Flags: ProcFlags},
		// Read-only: the container cannot change kernel or device settings.
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		// An empty /dev of the container's own; SetupBundle makes the nodes.
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		// A new devpts instance: its own ptys, numbered from 0.
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "mode=1777,size=65536k"},
	}
	for _, m := range s.Mounts {
		ms = append(ms, BundleMount{Destination: m.Target, Type: m.FSType, Source: m.Source, Flags: m.Flags, Data: m.Data})
	}
	for _, v := range SortVolumes(s.Volumes) {
		flags := uintptr(unix.MS_BIND | unix.MS_REC)
		if v.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		ms = append(ms, BundleMount{Destination: v.Container, Type: "bind", Source: v.Host, Flags: flags})
	}
	return ms
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
func mountOverlay(x *explain.Narrator, base string, layers []string, scratch string, userxattr bool) (string, error) {
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
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, overlayEscape(upper), overlayEscape(work))
	if userxattr {
		opts += ",userxattr" // see Overlay.UserNS
	}
	opts += ",volatile"
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
