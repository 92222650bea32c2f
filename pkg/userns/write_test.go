package userns

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/testuser"
)

// asUserEnv makes the test binary, run as the test's user, write maps
// for a child (see asUser) instead of running the tests.
const asUserEnv = "USERNS_TEST_AS_USER"

func TestMain(m *testing.M) {
	if os.Getenv(asUserEnv) != "" {
		os.Exit(asUser())
	}
	os.Exit(m.Run())
}

// inNewUserNS starts a shell in a new user namespace that waits for a
// line on stdin, then prints what it is: its uid_map, gid_map, setgroups
// and `id -u`. The caller writes the maps meanwhile, then calls the
// returned function to let it go on and collect its output.
func inNewUserNS() (pid int, finish func() (string, error), err error) {
	cmd := exec.Command("/bin/sh", "-c", "read go; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, nil, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	return cmd.Process.Pid, func() (string, error) {
		io.WriteString(in, "go\n")
		in.Close()
		err := cmd.Wait()
		return squeeze(out.String()), err
	}, nil
}

// squeeze makes /proc's padded map lines comparable: "0 1000 1".
func squeeze(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// asUser is the unprivileged side of TestWriteAsUser: the maps podman
// would give this user, written by Write (newuidmap and newgidmap when
// there is a range, its own write(2) when not).
func asUser() int {
	u, err := user.Current()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	uid, gid := os.Getuid(), os.Getgid()
	subu, err1 := SubIDs(SubUIDFile, u.Username, uid)
	subg, err2 := SubIDs(SubGIDFile, u.Username, uid)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, err1, err2)
		return 1
	}
	if err := Forbidden(ProcSys, false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pid, finish, err := inNewUserNS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	werr := Write(pid, Rootless(uint32(uid), subu), Rootless(uint32(gid), subg), false, explain.New(os.Stderr, true))
	out, err := finish()
	if werr != nil {
		fmt.Fprintln(os.Stderr, werr)
		return 1
	}
	fmt.Println(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestWriteAsUser writes the maps as an unprivileged user the test makes:
// with a range through newuidmap/newgidmap, without one directly (and
// setgroups denied).
func TestWriteAsUser(t *testing.T) {
	if _, err := Helper("newuidmap"); err != nil {
		t.Skip(err)
	}
	defer hostcheck.Take(t).Verify(t)
	bin := testuser.Executable(t, "")
	for _, sub := range []int{65536, 0} {
		t.Run(fmt.Sprintf("range %d", sub), func(t *testing.T) {
			u := testuser.Make(t, sub)
			cmd := u.Command(bin)
			cmd.Env = append(cmd.Env, asUserEnv+"=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("as %s: %v\n%s%s", u.Name, err, out, stderr.String())
			}
			t.Logf("as %s (uid %d):\n%s", u.Name, u.UID, stderr.String())
			want := fmt.Sprintf("0 %d 1\n1 %d %d\n0 %d 1\n1 %d %d\nallow\n0\n0", u.UID, u.SubStart, sub, u.GID, u.SubStart, sub)
			if sub == 0 {
				want = fmt.Sprintf("0 %d 1\n0 %d 1\ndeny\n0\n0", u.UID, u.GID)
			}
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("inside:\n%s\nwant:\n%s", got, want)
			}
			if n := strings.Count(stderr.String(), "newuidmap"); (sub > 0) != (n > 0) {
				t.Errorf("newuidmap ran %d times with a range of %d", n, sub)
			}
		})
	}
}

// TestWriteAsRoot writes maps no unprivileged user could (several lines,
// 100000-165534 to 1-65535) directly, and setgroups stays allowed. The
// child is host root, so 0 maps to 0: unmapped, it would be 65534 inside.
func TestWriteAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	pid, finish, err := inNewUserNS()
	if err != nil {
		t.Fatal(err)
	}
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65535}}
	var narration bytes.Buffer
	werr := Write(pid, m, m, true, explain.New(&narration, true))
	out, err := finish()
	if werr != nil || err != nil {
		t.Fatalf("Write: %v; child: %v: %s", werr, err, out)
	}
	if want := "0 0 1\n1 100000 65535\n0 0 1\n1 100000 65535\nallow\n0\n0"; out != want {
		t.Errorf("inside:\n%s\nwant:\n%s", out, want)
	}
	want := "write(/proc/" + strconv.Itoa(pid) + "/uid_map, \"0 0 1\\n1 100000 65535\\n\") = 0"
	if !strings.Contains(narration.String(), want) {
		t.Errorf("narration %q lacks %q", narration.String(), want)
	}
}
