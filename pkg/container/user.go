package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// LookupUser turns exec's -u USER[:GROUP] into a Process user, as docker
// exec does: a number is taken as it is, a name is looked up in the
// container's own /etc/passwd (or /etc/group); without a group, the
// user's primary group from /etc/passwd, else 0.
//
// The files are read through the init's root (/proc/PID/root) with
// openat2(2)'s RESOLVE_IN_ROOT: a symbolic link the container planted at
// /etc/passwd (say, to /etc/shadow) resolves inside its own root, never
// on the host's, as a plain open through /proc/PID/root would let an
// absolute link do.
func LookupUser(root, id, user string) (specs.User, error) {
	name, group, hasGroup := strings.Cut(user, ":")
	if name == "" || hasGroup && group == "" {
		return specs.User{}, errors.New("want USER[:GROUP], names or numbers")
	}
	s, err := load(root, id)
	if err != nil {
		return specs.User{}, err
	}
	var u specs.User
	uid, numeric := parseID(name)
	if numeric && hasGroup {
		if gid, ok := parseID(group); ok {
			return specs.User{UID: uid, GID: gid}, nil // nothing to read
		}
	}
	passwd, err := readInRoot(s.Pid, "etc/passwd")
	if err != nil && !numeric {
		return u, fmt.Errorf("no user %q: %w", name, err)
	}
	found := false
	for _, f := range passwd {
		if len(f) < 4 {
			continue
		}
		fuid, ok1 := parseID(f[2])
		fgid, ok2 := parseID(f[3])
		if ok1 && ok2 && (f[0] == name || numeric && fuid == uid) {
			u.UID, u.GID, found = fuid, fgid, true
			break
		}
	}
	switch {
	case !found && !numeric:
		return u, fmt.Errorf("no user %q in the container's /etc/passwd", name)
	case !found:
		u.UID = uid
	}
	if !hasGroup {
		return u, nil
	}
	if gid, ok := parseID(group); ok {
		u.GID = gid
		return u, nil
	}
	groups, err := readInRoot(s.Pid, "etc/group")
	if err != nil {
		return u, fmt.Errorf("no group %q: %w", group, err)
	}
	for _, f := range groups {
		if len(f) >= 3 && f[0] == group {
			if gid, ok := parseID(f[2]); ok {
				u.GID = gid
				return u, nil
			}
		}
	}
	return u, fmt.Errorf("no group %q in the container's /etc/group", group)
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// readInRoot reads a colon-separated file (passwd(5), group(5)) at path
// inside the root of process pid, resolved in that root (openat2(2)).
func readInRoot(pid int, path string) ([][]string, error) {
	rootFd, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, errors.New("the container is not running")
	}
	defer unix.Close(rootFd)
	fd, err := unix.Openat2(rootFd, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.Split(l, ":"))
		}
	}
	return lines, sc.Err()
}
