package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

// EnsureDefaultRootfs returns DefaultRootfs, building it from the host's
// static busybox the first time. It is built in a temporary directory and
// renamed into place, under a lock, so concurrent first runs neither race
// nor ever see half a rootfs.
func EnsureDefaultRootfs(x *explain.Narrator) (string, error) {
	return ensureRootfs(DefaultRootfs, x)
}

// ensureRootfs is EnsureDefaultRootfs for the rootfs at DefaultRootfs, or
// at a rootless user's own (defaultRootfs).
func ensureRootfs(DefaultRootfs string, x *explain.Narrator) (string, error) {
	if _, err := os.Stat(DefaultRootfs); err == nil {
		return DefaultRootfs, nil
	}
	parent := filepath.Dir(DefaultRootfs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("default rootfs: %w", err)
	}
	fd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("default rootfs: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("default rootfs: flock %s: %w", parent, err)
	}
	if _, err := os.Stat(DefaultRootfs); err == nil {
		return DefaultRootfs, nil // another run built it while we waited
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("default rootfs: %w", err)
	}
	x.Note("first run: building the default rootfs %s from the host's busybox", DefaultRootfs)
	tmp := DefaultRootfs + ".building"
	os.RemoveAll(tmp) // left by a build that was killed
	if err := rootfs.BuildBusybox(tmp, x); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, DefaultRootfs); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("default rootfs: %w", err)
	}
	return DefaultRootfs, nil
}
