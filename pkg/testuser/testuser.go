// Package testuser makes an unprivileged user for a test, with a range of
// subordinate ids, and runs programs as that user: what a student without
// root has. The account files are put back byte for byte when the test
// ends (hostcheck records them).
//
//	u := testuser.Make(t, 65536)
//	out, err := u.Command("id", "-u").Output()
package testuser

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// User is the test's user.
type User struct {
	Name     string
	UID, GID int
	// SubStart and SubCount are its range in /etc/subuid and /etc/subgid
	// (SubCount 0: none).
	SubStart, SubCount int
}

// SubStart is where the test users' ranges begin: above the 100000-
// 600100000 that useradd(8) hands out by default (login.defs(5),
// SUB_UID_MIN and SUB_UID_MAX), so that no real user's range is touched.
const SubStart = 700000000

// Make adds a user (useradd(8)) with sub ids of its own, unless subCount
// is 0, and removes it when the test ends by putting the account files
// back as they were (userdel(8) would leave its "-" backups changed). It
// skips the test without root, or without useradd.
func Make(t testing.TB, subCount int) *User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a user needs root")
	}
	for _, p := range []string{"useradd", "usermod", "setpriv"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed", p)
		}
	}
	saved := save(t)
	t.Cleanup(func() { restore(t, saved) })
	name := fmt.Sprintf("mctest%d", rand.IntN(1e6))
	// -M: no home; -l: no lastlog/faillog records; SUB_*_COUNT=0: no range
	// of useradd's choosing, the test's comes next.
	run(t, "useradd", "-M", "-l", "-U", "-s", "/usr/sbin/nologin", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	tu := &User{Name: name}
	tu.UID, _ = strconv.Atoi(u.Uid)
	tu.GID, _ = strconv.Atoi(u.Gid)
	if subCount > 0 {
		tu.SubStart, tu.SubCount = SubStart, subCount
		r := fmt.Sprintf("%d-%d", SubStart, SubStart+subCount-1)
		run(t, "usermod", "--add-subuids", r, "--add-subgids", r, name)
	}
	return tu
}

// Command runs a program as the user (setpriv(1): its uid, its gid, no
// other group), with an environment of PATH, HOME=/ and the extra vars.
func (u *User) Command(name string, args ...string) *exec.Cmd {
	a := append([]string{"--reuid", strconv.Itoa(u.UID), "--regid", strconv.Itoa(u.GID), "--clear-groups", "--", name}, args...)
	cmd := exec.Command("setpriv", a...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/", "USER=" + u.Name, "LOGNAME=" + u.Name}
	return cmd
}

// Executable copies the running test binary where the user can execute
// it (go test builds it in a directory only root may enter), under name
// (testscript's commands go by their argv[0]) or its own when "", and
// returns its path; removed when the test ends.
func Executable(t testing.TB, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "testuser")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if name == "" {
		name = filepath.Base(self)
	}
	dst := filepath.Join(dir, name)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

type file struct {
	path string
	data []byte
	info os.FileInfo // nil: it did not exist
}

func save(t testing.TB) []file {
	var saved []file
	for _, f := range hostcheck.AccountFiles {
		for _, p := range []string{f, f + "-"} {
			info, err := os.Stat(p)
			if err != nil {
				saved = append(saved, file{path: p})
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			saved = append(saved, file{p, data, info})
		}
	}
	return saved
}

// restore writes each file back (a temporary file renamed over it, with
// its mode and owner, as useradd itself replaces them), or removes it if
// it did not exist.
func restore(t testing.TB, saved []file) {
	for _, f := range saved {
		if f.info == nil {
			if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
				t.Errorf("restore %s: %v", f.path, err)
			}
			continue
		}
		tmp := f.path + ".testuser"
		err := os.WriteFile(tmp, f.data, f.info.Mode().Perm())
		if err == nil {
			err = os.Chmod(tmp, f.info.Mode().Perm())
		}
		if err == nil {
			st := f.info.Sys().(*syscall.Stat_t)
			err = os.Chown(tmp, int(st.Uid), int(st.Gid))
		}
		if err == nil {
			err = os.Rename(tmp, f.path)
		}
		if err != nil {
			os.Remove(tmp)
			t.Errorf("restore %s: %v", f.path, err)
		}
	}
}
