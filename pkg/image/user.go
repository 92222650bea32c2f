package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is the identity an image's config asks its process to run as.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
}

// Args is the command an image runs, as docker run builds it
// (docker/cli's run reference, "ENTRYPOINT (default command to execute
// at runtime)"): the Entrypoint, then the CMD given on the command line,
// else the image's Cmd. An --entrypoint (entrypoint non-nil) replaces the
// image's Entrypoint and also drops the image's Cmd: that Cmd was written
// as arguments for the Entrypoint it replaces.
func (c ContainerConfig) Args(entrypoint *string, cmd []string) []string {
	ep := c.Entrypoint
	if entrypoint != nil {
		ep = nil
		if *entrypoint != "" {
			ep = []string{*entrypoint}
		}
	} else if len(cmd) == 0 {
		cmd = c.Cmd
	}
	return append(append([]string{}, ep...), cmd...)
}

// ResolveUser reads the config's User, "" or USER[:GROUP], where each is
// a name or a number, against the image's own /etc/passwd and /etc/group
// (not the host's: the names are the image's), as docker does
// (moby/sys/user's GetExecUser):
//
//	""          root: 0:0
//	NAME        its uid and primary gid from /etc/passwd (it must be there)
//	UID         itself; its gid from /etc/passwd if listed there, else 0
//	U:GROUP     the group by name from /etc/group, or a number
//
// and the user's supplementary groups: the /etc/group entries that list
// its name (initgroups(3)'s rule), unless a GROUP was given.
func (img *Image) ResolveUser(spec string) (User, error) {
	if spec == "" {
		return User{}, nil
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, err := img.readFile("etc/passwd")
	if err != nil {
		return User{}, err
	}
	var u User
	name := ""
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		if e := findEntry(passwd, 2, userPart); e != nil {
			name = e[0]
			u.GID = parseID(e[3])
		}
	} else {
		e := findEntry(passwd, 0, userPart)
		if e == nil || len(e) < 4 {
			return User{}, fmt.Errorf("user %q: no such user in the image's /etc/passwd", userPart)
		}
		name, u.UID, u.GID = e[0], parseID(e[2]), parseID(e[3])
	}
	group, err := img.readFile("etc/group")
	if err != nil {
		return User{}, err
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else if e := findEntry(group, 0, groupPart); e != nil && len(e) >= 3 {
			u.GID = parseID(e[2])
		} else {
			return User{}, fmt.Errorf("group %q: no such group in the image's /etc/group", groupPart)
		}
		return u, nil
	}
	if name != "" {
		for _, e := range entries(group) {
			if len(e) < 4 {
				continue
			}
			for _, m := range strings.Split(e[3], ",") {
				if gid := parseID(e[2]); m == name && gid != u.GID {
					u.AdditionalGids = append(u.AdditionalGids, gid)
				}
			}
		}
	}
	return u, nil
}

func parseID(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// entries splits an /etc/passwd or /etc/group file (passwd(5), group(5)):
// colon-separated fields, one entry a line.
func entries(b []byte) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}

// findEntry is the first entry whose field i is v.
func findEntry(b []byte, i int, v string) []string {
	for _, e := range entries(b) {
		if len(e) > i && e[i] == v {
			return e
		}
	}
	return nil
}

// readFile reads name (relative, no "..") as the image's merged root
// would show it, without mounting: from the topmost layer that has it,
// stopping at a layer that deletes it (a whiteout: character device 0:0)
// or hides its directory (opaque), as overlayfs(5) resolves a lookup. A
// file no layer has reads as empty. A symbolic link is not followed (an
// image's /etc/passwd is a file; a link could point out of the layer).
func (img *Image) readFile(name string) ([]byte, error) {
	for i := len(img.Layers) - 1; i >= 0; i-- {
		dir := img.Layers[i]
		// a parent directory deleted or opaque in this layer ends the search
		stop := false
		for p := filepath.Dir(name); p != "."; p = filepath.Dir(p) {
			if isWhiteout(filepath.Join(dir, p)) {
				return nil, nil
			}
			if opaque(filepath.Join(dir, p)) {
				stop = true
			}
		}
		path := filepath.Join(dir, name)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err == nil {
			if isWhiteout(path) {
				return nil, nil
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				return nil, fmt.Errorf("image %s: /%s is not a regular file", img.Ref, name)
			}
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(io.LimitReader(f, 16<<20))
		} else if !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("image %s: %w", img.Ref, err)
		}
		if stop {
			return nil, nil
		}
	}
	return nil, nil
}

func isWhiteout(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// opaque says whether the directory path hides the layers below it: y
// in trusted.overlay.opaque (root's layers) or user.overlay.opaque (a
// user's, see Extract).
func opaque(path string) bool {
	buf := make([]byte, 1)
	for _, attr := range []string{OverlayOpaqueXattr, userOpaqueXattr} {
		if n, err := unix.Lgetxattr(path, attr, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}
