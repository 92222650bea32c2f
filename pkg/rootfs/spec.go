// Package rootfs builds a container's root filesystem from inside the
// container's new mount namespace, in the order runc uses
// (libcontainer/rootfs_linux.go):
//
//  1. make every mount private, so nothing below propagates to the host;
//  2. an overlay over the base root filesystem (writes go to a per-container
//     upper dir, the base is never modified), bound on itself;
//  3. /proc, /sys (read-only), /dev as a small tmpfs with only the safe device
//     nodes, a new /dev/pts instance, /dev/shm, the /dev/fd links;
//  4. the volumes (-v HOST:CTR[:ro]) bind-mounted in, shallowest first;
//  5. /etc/hostname, /etc/hosts (and resolv.conf): the runtime's own
//     files, bind-mounted, unless a volume covers them;
//  6. pivot_root(2) into it and detach the old root — or the article's
//     chroot(2), which a process inside can escape;
//  7. the root remounted read-only last, for --read-only.
//
// Each step is narrated through pkg/explain with the real arguments.
// BuildBusybox makes a base root filesystem from the host's static busybox.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Spec says what the container's root filesystem looks like.
type Spec struct {
	// Base is the base root filesystem directory: the overlay's lower dir,
	// never modified.
	Base string
	// Layers are more read-only lower dirs stacked over Base, the bottom
	// first: an image's layers above its first (pkg/image unpacks them,
	// whiteouts already in overlay's form). Setup lists them in lowerdir
	// topmost first, as overlayfs(5) reads it. They need the overlay:
	// Scratch must be set.
	Layers []string
	// Scratch is a per-container host directory for the overlay's upper/,
	// work/ and merged/ (created and removed by the caller, after
	// Validate), on disk: a container's writes are then files the kernel
	// writes back and may drop from memory, where on a tmpfs every byte
	// would be memory charged to the container (200 MB written under
	// --memory 64m were OOM-killed). The overlay is mounted "volatile":
	// nothing waits for the throwaway layer to reach the disk. "" means no overlay: the container runs on Base itself,
	// its writes land there, and Setup refuses Hostname and Files rather
	// than write them into the base.
	Scratch string
	// ReadOnly mounts the root read-only (--read-only).
	ReadOnly bool
	// Volumes are bind mounts (-v HOST:CTR[:ro]).
	Volumes []Volume
	// Hostname is written to /etc/hostname and /etc/hosts: the runtime's
	// own files in Scratch/files, bind-mounted onto those paths (never the
	// base, nor a volume that covers them). "" writes neither.
	Hostname string
	// Workdir is the working directory inside, made if missing (as docker
	// does); "" makes none.
	Workdir string
	// Chroot uses chroot(2), as the article does, instead of pivot_root(2).
	// A process inside can escape it; it is here for the lesson.
	Chroot bool
	// Files are bound in as Hostname's files are, by absolute path inside
	// the container (e.g. /etc/resolv.conf). Content for /etc/hosts goes
	// between the localhost lines and the hostname's 127.0.1.1 line.
	Files map[string][]byte
	// Mounts are more kernel file systems, mounted in order after /proc
	// and /sys, by absolute path inside the container (the directory is
	// made if missing). minicontainer puts the read-only /sys/fs/cgroup
	// here, as pkg/cgroup lays it out. A mount with MS_REMOUNT changes
	// the flags of one made before it.
	Mounts []Mount
}

// Mount is one mount(2) call, with its target inside the container.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// Volume is one bind mount from the host into the container.
type Volume struct {
	Host      string // absolute path on the host (a directory or a file)
	Container string // absolute path inside the container
	ReadOnly  bool
}

func (v Volume) String() string {
	s := v.Host + ":" + v.Container
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// overlayEscape makes a path safe inside overlayfs's mount options, where
// ',' separates options and ':' separates lower dirs: overlayfs reads a
// backslash as "the next character is part of the name" (and `\\` as one
// backslash) in lowerdir, upperdir and workdir. It has since Linux 3.18,
// "ovl: allow filenames with comma", and 3.19, "ovl: support multiple
// lower layers"; the kernel's ovl_unescape undoes it. So a --rootfs or
// --root path may hold ',' or ':'.
func overlayEscape(path string) string {
	r := strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`)
	return r.Replace(path)
}

// HostNameMax is HOST_NAME_MAX, the longest name sethostname(2) accepts.
const HostNameMax = 64

// ParseVolume parses "HOST:CTR[:ro|:rw]" as -v takes it. A relative HOST
// is made absolute from the current directory.
func ParseVolume(s string) (Volume, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Volume{}, fmt.Errorf("volume %q: want HOST:CONTAINER[:ro]", s)
	}
	v := Volume{Host: parts[0], Container: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return Volume{}, fmt.Errorf("volume %q: unknown mode %q (want ro or rw)", s, parts[2])
		}
	}
	if v.Host == "" {
		return Volume{}, fmt.Errorf("volume %q: empty host path", s)
	}
	if strings.Contains(s, "\x00") {
		return Volume{}, fmt.Errorf("volume %q: a path holds a NUL byte", s)
	}
	if v.Container == "" {
		return Volume{}, fmt.Errorf("volume %q: empty container path", s)
	}
	if !filepath.IsAbs(v.Container) {
		return Volume{}, fmt.Errorf("volume %q: container path %q is not absolute", s, v.Container)
	}
	v.Container = filepath.Clean(v.Container)
	if v.Container == "/" {
		return Volume{}, fmt.Errorf("volume %q: cannot mount over the container's root", s)
	}
	host, err := filepath.Abs(v.Host)
	if err != nil {
		return Volume{}, fmt.Errorf("volume %q: %w", s, err)
	}
	v.Host = host
	return v, nil
}

// Validate checks the spec on the host side, before anything is created:
// the base exists, is a non-empty directory, the volumes' host paths exist,
// container paths are absolute, the hostname is valid.
func (s Spec) Validate() error {
	if s.Base == "" {
		return errors.New("rootfs: no base root filesystem given")
	}
	st, err := os.Stat(s.Base)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", s.Base, unwrapPathError(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs %s: not a directory", s.Base)
	}
	if abs, _ := filepath.Abs(s.Base); abs == "/" {
		return errors.New("rootfs /: the host's own root cannot be a container's root filesystem")
	}
	entries, err := os.ReadDir(s.Base)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", s.Base, unwrapPathError(err))
	}
	if len(entries) == 0 {
		return fmt.Errorf("rootfs %s: empty directory (build one with: minicontainer rootfs busybox DIR)", s.Base)
	}
	for _, l := range s.Layers {
		if st, err := os.Stat(l); err != nil {
			return fmt.Errorf("rootfs layer %s: %w", l, unwrapPathError(err))
		} else if !st.IsDir() {
			return fmt.Errorf("rootfs layer %s: not a directory", l)
		}
	}
	if s.Scratch != "" {
		base, _ := filepath.Abs(s.Base)
		scratch, _ := filepath.Abs(s.Scratch)
		if scratch == base || strings.HasPrefix(scratch, base+"/") || strings.HasPrefix(base, scratch+"/") {
			return fmt.Errorf("rootfs: scratch dir %s and base %s must not contain each other", s.Scratch, s.Base)
		}
	}
	if err := ValidateHostname(s.Hostname); err != nil && s.Hostname != "" {
		return err
	}
	seen := map[string]bool{}
	for _, v := range s.Volumes {
		if !filepath.IsAbs(v.Container) || filepath.Clean(v.Container) == "/" {
			return fmt.Errorf("volume %s: container path must be absolute and not /", v)
		}
		c := filepath.Clean(v.Container)
		if c == "/dev" || c == "/dev/pts" || c == "/proc" || c == "/sys" ||
			strings.HasPrefix(c, "/proc/") || strings.HasPrefix(c, "/sys/") {
			return fmt.Errorf("volume %s: %s is set up by the runtime and cannot be a volume", v, c)
		}
		if seen[c] {
			return fmt.Errorf("volume %s: %s is mounted twice", v, c)
		}
		seen[c] = true
		if _, err := os.Stat(v.Host); err != nil {
			return fmt.Errorf("volume %s: host path: %w", v, unwrapPathError(err))
		}
	}
	paths := make([]string, 0, len(s.Files))
	for p := range s.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
			return fmt.Errorf("file %q: path inside the container must be absolute and not /", p)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			return fmt.Errorf("mount %s on %q: target inside the container must be absolute and not /", m.FSType, m.Target)
		}
	}
	return nil
}

// ValidateHostname checks a host name as sethostname(2) and RFC 1123 want
// it: 1 to 64 bytes of letters, digits, '-' and '.', not starting with '-'.
func ValidateHostname(h string) error {
	if h == "" {
		return errors.New("hostname: empty")
	}
	if len(h) > HostNameMax {
		return fmt.Errorf("hostname %q: %d bytes, longer than HOST_NAME_MAX (%d)", h, len(h), HostNameMax)
	}
	if h[0] == '-' || h[0] == '.' {
		return fmt.Errorf("hostname %q: must start with a letter or digit", h)
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("hostname %q: %q is not allowed (letters, digits, '-' and '.')", h, c)
		}
	}
	return nil
}

// unwrapPathError drops the operation and path that os adds, when the
// caller's message already names the path.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
