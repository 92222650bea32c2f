package userns

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// subFiles writes a subuid and a subgid file in a temporary dir.
func subFiles(t *testing.T, uid, gid string) (string, string) {
	t.Helper()
	d := t.TempDir()
	u, g := filepath.Join(d, "subuid"), filepath.Join(d, "subgid")
	for _, f := range []struct{ path, data string }{{u, uid}, {g, gid}} {
		if err := os.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return u, g
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRemapMapsAdd: the entry is added at the lowest free start of both
// files, after the lines already there (which stay as they were), with
// the file's mode; the maps are 0-65535 onto it.
func TestRemapMapsAdd(t *testing.T) {
	for _, c := range []struct {
		name, uid, gid string
		wantU, wantG   string // the line added
	}{
		{"empty", "", "", "minicontainer:100000:65536", "minicontainer:100000:65536"},
		{"after a user's range", "alice:100000:65536\n", "alice:100000:65536\n", "minicontainer:165536:65536", "minicontainer:165536:65536"},
		{"in a gap", "a:100000:1000\nb:300000:65536\n", "a:100000:1000\n", "minicontainer:101000:65536", "minicontainer:101000:65536"},
		{"too small a gap", "a:100000:1000\nb:150000:65536\n", "", "minicontainer:215536:65536", "minicontainer:215536:65536"},
		{"the same start in both", "a:100000:65536\n", "b:165536:65536\n", "minicontainer:231072:65536", "minicontainer:231072:65536"},
		{"no newline at the end", "# comment\nalice:100000:65536", "", "minicontainer:165536:65536", "minicontainer:165536:65536"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, g := subFiles(t, c.uid, c.gid)
			if err := os.Chmod(u, 0o640); err != nil {
				t.Fatal(err)
			}
			// The plan writes nothing, and is what RemapMaps does.
			pu, pg, err := PlanRemapMaps(u, g)
			if err != nil {
				t.Fatal(err)
			}
			if read(t, u) != c.uid || read(t, g) != c.gid {
				t.Errorf("PlanRemapMaps wrote a file")
			}
			uids, gids, err := RemapMaps(u, g, nil)
			if err != nil {
				t.Fatal(err)
			}
			if Format(pu) != Format(uids) || Format(pg) != Format(gids) {
				t.Errorf("planned %q %q, added %q %q", Format(pu), Format(pg), Format(uids), Format(gids))
			}
			for _, f := range []struct {
				path, before, want string
				maps               []specs.LinuxIDMapping
			}{{u, c.uid, c.wantU, uids}, {g, c.gid, c.wantG, gids}} {
				got := read(t, f.path)
				before := f.before
				if before != "" && !strings.HasSuffix(before, "\n") {
					before += "\n"
				}
				if got != before+f.want+"\n" {
					t.Errorf("%s: %q, want %q", filepath.Base(f.path), got, before+f.want+"\n")
				}
				start := strings.Split(f.want, ":")[1]
				if m := Format(f.maps); m != "0 "+start+" 65536\n" {
					t.Errorf("%s's map: %q, want 0 %s 65536", filepath.Base(f.path), m, start)
				}
			}
			if st, _ := os.Stat(u); st.Mode().Perm() != 0o640 {
				t.Errorf("subuid's mode: %v, want 0640 (kept)", st.Mode())
			}
			for _, p := range []string{u + "+", u + ".lock", g + ".lock"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s left behind", filepath.Base(p))
				}
			}
		})
	}
}

// TestRemapMapsExisting: once there, the entry is used and nothing is
// written (the same inode); a file missing only one gets one, at the
// other's start when it is free there.
func TestRemapMapsExisting(t *testing.T) {
	u, g := subFiles(t, "alice:100000:65536\nminicontainer:500000:70000\n", "minicontainer:500000:65536\n")
	var before [2]uint64
	for i, p := range []string{u, g} {
		st, _ := os.Stat(p)
		before[i] = st.Sys().(*syscall.Stat_t).Ino
	}
	uids, gids, err := RemapMaps(u, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Format(uids) != "0 500000 65536\n" || Format(gids) != "0 500000 65536\n" {
		t.Errorf("maps %q %q, want 0 500000 65536 each (only 65536 of a larger range)", Format(uids), Format(gids))
	}
	for i, p := range []string{u, g} {
		st, _ := os.Stat(p)
		if st.Sys().(*syscall.Stat_t).Ino != before[i] {
			t.Errorf("%s written again", filepath.Base(p))
		}
	}

	u, g = subFiles(t, "minicontainer:200000:65536\n", "x:100000:65536\n")
	if _, _, err := RemapMaps(u, g, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, g); got != "x:100000:65536\nminicontainer:200000:65536\n" {
		t.Errorf("subgid: %q, want the subuid entry's start", got)
	}
	u, g = subFiles(t, "minicontainer:200000:65536\n", "x:200000:65536\n")
	if _, _, err := RemapMaps(u, g, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, g); got != "x:200000:65536\nminicontainer:100000:65536\n" {
		t.Errorf("subgid: %q, want the lowest free one, 100000", got)
	}
}

// TestRemapMapsBad: an entry too small, one that overlaps another user's
// range, or a line that is no range: one line naming the file and line,
// and neither file is written.
func TestRemapMapsBad(t *testing.T) {
	for _, c := range []struct {
		name, uid, gid, want string
	}{
		{"too small", "minicontainer:100000:1000\n", "", "subuid:1: minicontainer's range 100000-100999 has 1000 ids; --userns remap needs 65536"},
		{"overlaps", "alice:100000:65536\nminicontainer:150000:65536\n", "", "subuid:2: minicontainer's range 150000-215535 overlaps alice's 100000-165535 (line 1)"},
		{"overlaps in subgid", "", "minicontainer:100000:65536\nbob:120000:10\n", "subgid:1: minicontainer's range 100000-165535 overlaps bob's 120000-120009 (line 2)"},
		{"not a range", "alice:x:1\n", "", "subuid:1: \"alice:x:1\" is not a range of ids"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, g := subFiles(t, c.uid, c.gid)
			_, _, err := RemapMaps(u, g, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line with %q", err, c.want)
			}
			if read(t, u) != c.uid || read(t, g) != c.gid {
				t.Errorf("a file was written: %q %q", read(t, u), read(t, g))
			}
			entries, _ := os.ReadDir(filepath.Dir(u))
			if len(entries) != 2 {
				t.Errorf("%d files in the dir, want subuid and subgid only", len(entries))
			}
		})
	}
}

// TestLockSubIDStale: a FILE.lock whose PID is gone is taken over (as
// shadow's commonio does); the lock is gone after the unlock.
func TestLockSubIDStale(t *testing.T) {
	u, g := subFiles(t, "", "")
	// A PID that is surely not running: above pid_max's ceiling (2^22).
	if err := os.WriteFile(u+".lock", []byte("4194305"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := RemapMaps(u, g, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(u + ".lock"); err == nil {
		t.Error("subuid.lock still there")
	}
}
