package userns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Helper finds newuidmap(1) or newgidmap(1): on PATH, or in /usr/bin,
// where Debian's uidmap package installs them setuid root.
func Helper(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/bin/" + name
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install the Debian package uidmap (it writes the id maps an unprivileged user may not write itself)", name)
}

// Writer says how the maps of kind ("uid" or "gid") will be written for a
// process with effective id own: "direct" (write(2) to /proc/PID/KIND_map)
// when privileged, or when the map is the one line an unprivileged
// process may write (its own id, user_namespaces(7)); otherwise the path
// of newuidmap(1) or newgidmap(1), or an error when it is missing.
func Writer(kind string, maps []specs.LinuxIDMapping, own uint32, privileged bool) (string, error) {
	if privileged || len(maps) == 1 && maps[0].HostID == own && maps[0].Size == 1 {
		return "direct", nil
	}
	return Helper("new" + kind + "map")
}

// Write writes the uid and gid maps of pid, a process in a new user
// namespace that waits for them: the kernel takes each file once, in one
// write(2) (user_namespaces(7)). As root (privileged) it writes them
// itself; as another user it writes its own id itself, with "deny" to
// /proc/PID/setgroups first for the gid map (Linux 3.19: otherwise a
// user could drop a group that denies it access, by setgroups(2)), and
// has newuidmap(1) and newgidmap(1) write the rest, which check the ranges
// of /etc/subuid and /etc/subgid.
func Write(pid int, uids, gids []specs.LinuxIDMapping, privileged bool, x *explain.Narrator) error {
	if err := write(pid, "uid", uids, uint32(os.Geteuid()), privileged, x); err != nil {
		return err
	}
	return write(pid, "gid", gids, uint32(os.Getegid()), privileged, x)
}

func write(pid int, kind string, maps []specs.LinuxIDMapping, own uint32, privileged bool, x *explain.Narrator) error {
	how, err := Writer(kind, maps, own, privileged)
	if err != nil {
		return err
	}
	if how != "direct" {
		return runHelper(how, pid, maps, x)
	}
	if kind == "gid" && !privileged {
		if err := writeProc(pid, "setgroups", "deny", x); err != nil {
			return err
		}
	}
	return writeProc(pid, kind+"_map", Format(maps), x)
}

// writeProc writes data to /proc/PID/FILE in one write(2).
func writeProc(pid int, file, data string, x *explain.Narrator) error {
	path := "/proc/" + strconv.Itoa(pid) + "/" + file
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte(data))
		unix.Close(fd)
	}
	x.Call("write(2)", fmt.Sprintf("write(%s, %q)", path, data), nil, err)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// runHelper runs "newuidmap PID INSIDE OUTSIDE SIZE...".
func runHelper(path string, pid int, maps []specs.LinuxIDMapping, x *explain.Narrator) error {
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	cmd := exec.Command(path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	x.Call(helperPage(path), path+" "+strings.Join(args, " "), nil, err)
	if err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		var ee *exec.ExitError
		if msg != "" && errors.As(err, &ee) {
			return fmt.Errorf("%s: %s", path, msg)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func helperPage(path string) string {
	name := path[strings.LastIndex(path, "/")+1:]
	return name + "(1)"
}
