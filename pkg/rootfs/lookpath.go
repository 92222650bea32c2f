package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultPath is the PATH a container gets when none is given (the OCI and
// docker default).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	// ErrCommandNotFound: exit status 127, as a shell and docker report it.
	ErrCommandNotFound = errors.New("command not found")
	// ErrNotExecutable: exit status 126.
	ErrNotExecutable = errors.New("permission denied (not an executable file)")
)

// LookPath finds cmd inside the root filesystem root as the container will
// see it: a name with a slash is taken as is, otherwise each directory of
// path (DefaultPath when "") is searched. Symlinks such as /bin/sh ->
// /bin/busybox are resolved inside root, never on the host. It returns the
// path inside the container, or an error wrapping ErrCommandNotFound or
// ErrNotExecutable.
func LookPath(root, cmd, path string) (string, error) {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	if strings.Contains(cmd, "/") {
		p := cmd
		if !filepath.IsAbs(p) {
			p = "/" + p // the container starts in "/" unless told otherwise
		}
		if err := executableInRoot(rootfd, p); err != nil {
			return "", fmt.Errorf("%s: %w", cmd, err)
		}
		return cmd, nil
	}
	if path == "" {
		path = DefaultPath
	}
	found := ErrCommandNotFound
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, cmd)
		err := executableInRoot(rootfd, p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrNotExecutable) {
			found = err
		}
	}
	return "", fmt.Errorf("%s: %w", cmd, found)
}

func executableInRoot(rootfd int, p string) error {
	fd, err := openInRoot(rootfd, p, unix.O_PATH, 0)
	if err != nil {
		return ErrCommandNotFound
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return ErrCommandNotFound
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return ErrNotExecutable
	}
	return nil
}
