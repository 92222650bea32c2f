package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// keepSubIDFiles saves /etc/subuid and /etc/subgid (their bytes, mode
// and owner, or that they were missing) and, when the test ends, puts
// them back as useradd(8) replaces them (a new file renamed over the old)
// and checks that they are byte for byte what they were. Register the
// test's hostcheck.Take first: its Verify, with "account ", then runs
// after this restore and proves it too.
func keepSubIDFiles(t *testing.T) {
	t.Helper()
	type saved struct {
		path string
		data []byte
		st   *syscall.Stat_t // nil: missing
	}
	var files []saved
	for _, p := range []string{userns.SubUIDFile, userns.SubGIDFile} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			files = append(files, saved{path: p})
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, saved{p, data, &st})
	}
	t.Cleanup(func() {
		for _, f := range files {
			if f.st == nil {
				if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
					t.Errorf("restore %s: %v", f.path, err)
				}
				continue
			}
			tmp := f.path + ".mctest"
			err := os.WriteFile(tmp, f.data, 0o600)
			if err == nil {
				err = os.Chown(tmp, int(f.st.Uid), int(f.st.Gid))
			}
			if err == nil {
				err = os.Chmod(tmp, os.FileMode(f.st.Mode&0o7777))
			}
			if err == nil {
				err = os.Rename(tmp, f.path)
			}
			if err != nil {
				os.Remove(tmp)
				t.Errorf("restore %s: %v", f.path, err)
				continue
			}
			var st syscall.Stat_t
			data, err := os.ReadFile(f.path)
			if err != nil || syscall.Stat(f.path, &st) != nil || !bytes.Equal(data, f.data) ||
				st.Mode != f.st.Mode || st.Uid != f.st.Uid || st.Gid != f.st.Gid {
				t.Errorf("%s not restored: %q mode %#o %d:%d, want %q mode %#o %d:%d",
					f.path, data, st.Mode, st.Uid, st.Gid, f.data, f.st.Mode, f.st.Uid, f.st.Gid)
			}
		}
	})
}

// writeSubIDFile writes a subuid or subgid file of the test's.
func writeSubIDFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// withoutRemapLines is the file's content without "minicontainer" lines.
func withoutRemapLines(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, userns.RemapUser+":") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// TestUsernsRemap: root's run --userns remap, on first use (the host's
// /etc/subuid and /etc/subgid without a "minicontainer" entry, put back
// as they were afterwards). The entry is added, a range no other has;
// inside, the container's root is 0 and /proc/self/uid_map maps it to
// the range; the built-in image's files, host root's, are root's inside
// (idmapped lower dirs) and the root file system is writable; outside, a
// file written to a volume belongs to the range's first uid, and a host
// file only root may read stays unreadable through a volume. -x narrates
// the entry added, the maps written and the idmapped mount calls. A
// second run writes neither file again. Nothing is left behind.
func TestUsernsRemap(t *testing.T) {
	needRoot(t)
	snap := hostcheck.Take(t, "mctest", "process ", "mount ", "state ", "account ")
	t.Cleanup(func() { snap.Verify(t) })
	keepSubIDFiles(t)
	subuid, subgid := withoutRemapLines(t, userns.SubUIDFile), withoutRemapLines(t, userns.SubGIDFile)
	writeSubIDFile(t, userns.SubUIDFile, subuid)
	writeSubIDFile(t, userns.SubGIDFile, subgid)
	uids, gids, err := userns.PlanRemapMaps(userns.SubUIDFile, userns.SubGIDFile)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uids[0].HostID, gids[0].HostID

	dir := t.TempDir()
	// The container's root is uid on the host: it must be able to enter
	// the dirs above the volume (t.TempDir's are root's, 0700).
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vol, secret := filepath.Join(dir, "vol"), filepath.Join(dir, "secret")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(vol, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := "id -u; id -g; stat -c %u:%g /bin/busybox /etc/passwd; cat /proc/self/uid_map /proc/self/gid_map; " +
		"echo hi > /vol/f; touch /etc/new && echo rootfs writable; cat /secret || echo secret refused"
	r := mc(t, "", "run", "-x", "--userns", "remap", "--net", "none", "-v", vol+":/vol", "-v", secret+":/secret:ro", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("run --userns remap: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{"0", "0", "0:0", "0:0", fmt.Sprintf("0 %d 65536", uid), fmt.Sprintf("0 %d 65536", gid), "rootfs writable", "secret refused"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inside:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(r.stderr, "can't open '/secret': Permission denied") {
		t.Errorf("cat /secret: no EACCES in:\n%s", r.stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("the file the container's root wrote is %d:%d on the host, want %d:%d", st.Uid, st.Gid, uid, gid)
	}
	for _, c := range []struct{ path, before string }{{userns.SubUIDFile, subuid}, {userns.SubGIDFile, subgid}} {
		data, _ := os.ReadFile(c.path)
		if line := fmt.Sprintf("%s:%d:65536\n", userns.RemapUser, map[string]uint32{userns.SubUIDFile: uid, userns.SubGIDFile: gid}[c.path]); string(data) != c.before+line {
			t.Errorf("%s: %q, want the old lines and %q", c.path, data, line)
		}
	}
	for _, n := range []string{
		"/etc/subuid has no minicontainer entry",
		`link("/etc/subuid.`, `rename("/etc/subuid+", "/etc/subuid") = 0`, `rename("/etc/subgid+", "/etc/subgid") = 0`,
		fmt.Sprintf(`/uid_map, "0 %d 65536\n") = 0   [write(2)]`, uid),
		`open_tree(AT_FDCWD, "/var/lib/minicontainer/images/`,
		"MOUNT_ATTR_IDMAP|MOUNT_ATTR_RDONLY", "[mount_setattr(2)]",
		"[container]", "MOVE_MOUNT_F_EMPTY_PATH) = 0   [move_mount(2)]",
	} {
		if !strings.Contains(r.stderr, n) {
			t.Errorf("-x does not narrate %q:\n%s", n, r.stderr)
		}
	}

	// Once there, the entries are used as they are: nothing written.
	var before syscall.Stat_t
	syscall.Stat(userns.SubUIDFile, &before)
	r = mc(t, "", "run", "--userns", "remap", "--net", "none", "--", "stat", "-c", "%u", "/bin/busybox")
	if r.code != 0 || r.stdout != "0\n" {
		t.Errorf("second run: exit %d, %q %s; want 0", r.code, r.stdout, r.stderr)
	}
	var after syscall.Stat_t
	syscall.Stat(userns.SubUIDFile, &after)
	if after.Ino != before.Ino {
		t.Errorf("/etc/subuid written again by the second run")
	}
}

// TestUsernsRemapBadRange: a "minicontainer" range too small, or one
// that overlaps another user's, is refused in one line, exit 125, by run
// and by spec, and nothing is created or written (hostcheck, taken once
// the test's files are in place, with the account files' bytes). An
// unknown mode too.
func TestUsernsRemapBadRange(t *testing.T) {
	needRoot(t)
	outer := hostcheck.Take(t, "mctest", "process ", "mount ", "state ", "account ")
	t.Cleanup(func() { outer.Verify(t) })
	keepSubIDFiles(t)
	for _, c := range []struct {
		name, subuid, subgid, want string
	}{
		{"too small", "minicontainer:100000:1000\n", "minicontainer:100000:65536\n",
			"minicontainer: /etc/subuid:1: minicontainer's range 100000-100999 has 1000 ids; --userns remap needs 65536"},
		{"overlaps", "minicontainer:100000:65536\n", "alice:100000:65536\nminicontainer:150000:65536\n",
			"minicontainer: /etc/subgid:2: minicontainer's range 150000-215535 overlaps alice's 100000-165535 (line 1)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			writeSubIDFile(t, userns.SubUIDFile, c.subuid)
			writeSubIDFile(t, userns.SubGIDFile, c.subgid)
			snap := hostcheck.Take(t, "mctest", "process ", "mount ", "state ", "account ")
			for _, args := range [][]string{
				{"run", "--userns", "remap", "--net", "none", "--", "true"},
				{"spec", "--userns", "remap"},
			} {
				r := mc(t, "", args...)
				if r.code != 125 || !strings.HasPrefix(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("%s: exit %d, %q; want 125 and one line starting %q", args[0], r.code, r.stderr, c.want)
				}
			}
			snap.Verify(t)
		})
	}
	r := mc(t, "", "run", "--userns", "private", "--", "true")
	if want := "minicontainer: --userns \"private\": want remap (or host)\n"; r.code != 125 || r.stderr != want {
		t.Errorf("--userns private: exit %d, %q; want 125, %q", r.code, r.stderr, want)
	}
}
