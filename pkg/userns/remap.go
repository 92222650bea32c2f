package userns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// `run --userns remap`, as root: the container gets a user namespace of
// its own whose root is an unprivileged id of the host, the first of a
// range of subordinate ids that /etc/subuid and /etc/subgid delegate to
// the name RemapUser, as dockerd's --userns-remap=default delegates one
// to "dockremap". The entry is added on first use (AddRemap), the way
// useradd(8) adds a user's: a range of RemapCount ids that no other
// entry of the file has.
const (
	RemapUser  = "minicontainer"
	RemapCount = 65536 // a container's ids 0-65535: root, the system users, nobody (65534)
	// RemapMin is the lowest id AddRemap hands out: useradd(8)'s
	// SUB_UID_MIN and SUB_GID_MIN (login.defs(5)), above every id a
	// host gives its own users.
	RemapMin = 100000
)

// Entry is one line of /etc/subuid or /etc/subgid.
type Entry struct {
	Name  string
	Range Range
	Line  int
}

// Entries reads every range a file delegates, in order (subuid(5)). A
// missing file has none.
func Entries(file string) ([]Entry, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseEntries(file, data)
}

func parseEntries(file string, data []byte) ([]Entry, error) {
	var entries []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fl := strings.Split(line, ":")
		if len(fl) != 3 {
			return nil, fmt.Errorf("%s:%d: want LOGIN:START:COUNT, got %q", file, n, line)
		}
		start, err1 := strconv.ParseUint(fl[1], 10, 32)
		count, err2 := strconv.ParseUint(fl[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > noID {
			return nil, fmt.Errorf("%s:%d: %q is not a range of ids", file, n, line)
		}
		entries = append(entries, Entry{fl[0], Range{uint32(start), uint32(count)}, n})
	}
	return entries, sc.Err()
}

// overlaps says whether two ranges share an id.
func (r Range) overlaps(o Range) bool {
	return uint64(r.Start) < uint64(o.Start)+uint64(o.Count) && uint64(o.Start) < uint64(r.Start)+uint64(r.Count)
}

// remapRange checks the RemapUser entry of a file, if it has one: the
// first such line must hold RemapCount ids or more, and share none with
// another name's range (two users whose ranges overlap could reach each
// other's files: newuidmap(1) checks only that a range is the caller's).
// ok is false when the file has no such entry.
func remapRange(file string, entries []Entry) (r Range, ok bool, err error) {
	for _, e := range entries {
		if e.Name != RemapUser {
			continue
		}
		if e.Range.Count < RemapCount {
			return Range{}, false, fmt.Errorf("%s:%d: %s's range %s has %d ids; --userns remap needs %d (a container's ids 0-%d): make it larger, or remove the line to have one added",
				file, e.Line, RemapUser, e.Range, e.Range.Count, RemapCount, RemapCount-1)
		}
		for _, o := range entries {
			if o.Name != RemapUser && o.Range.overlaps(e.Range) {
				return Range{}, false, fmt.Errorf("%s:%d: %s's range %s overlaps %s's %s (line %d): a container's ids would be that user's",
					file, e.Line, RemapUser, e.Range, o.Name, o.Range, o.Line)
			}
		}
		return Range{e.Range.Start, RemapCount}, true, nil
	}
	return Range{}, false, nil
}

// freeStart returns the lowest start, RemapMin or above, of RemapCount
// ids that overlap no range of any of the lists, trying prefer first
// (0: none). A start right after an existing range, or RemapMin, is the
// lowest candidate there can be.
func freeStart(prefer uint32, lists ...[]Entry) (uint32, error) {
	cands := []uint64{RemapMin}
	for _, l := range lists {
		for _, e := range l {
			cands = append(cands, uint64(e.Range.Start)+uint64(e.Range.Count))
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	if prefer != 0 {
		cands = append([]uint64{uint64(prefer)}, cands...)
	}
	for _, c := range cands {
		if c < RemapMin || c+RemapCount > noID {
			continue
		}
		r := Range{uint32(c), RemapCount}
		free := true
		for _, l := range lists {
			for _, e := range l {
				if e.Range.overlaps(r) {
					free = false
				}
			}
		}
		if free {
			return r.Start, nil
		}
	}
	return 0, fmt.Errorf("no free range of %d ids between %d and %d", RemapCount, RemapMin, uint32(noID))
}

// RemapMaps are the maps of `run --userns remap`: the container's ids
// 0-65535 are RemapUser's ranges in subuid and subgid (the files; "" for
// SubUIDFile and SubGIDFile). A file without the entry gets one
// (AddRemap), under the lock useradd(8) takes, in one rename(2); an
// entry too small, or one that overlaps another user's range, is an
// error naming the file and line, and nothing is written.
func RemapMaps(subuid, subgid string, x *explain.Narrator) (uids, gids []specs.LinuxIDMapping, err error) {
	if subuid == "" {
		subuid = SubUIDFile
	}
	if subgid == "" {
		subgid = SubGIDFile
	}
	u, g, err := AddRemap(subuid, subgid, x)
	if err != nil {
		return nil, nil, err
	}
	x.Note("--userns remap: the container's uids 0-%d are %s on the host, its gids %s (%s, %s)", RemapCount-1, u, g, subuid, subgid)
	return remapMaps(u), remapMaps(g), nil
}

// PlanRemapMaps returns the maps RemapMaps would return, and writes
// nothing: the entries' ranges, or the ones AddRemap would add. An error
// is one RemapMaps would return too.
func PlanRemapMaps(subuid, subgid string) (uids, gids []specs.LinuxIDMapping, err error) {
	p, err := planRemap(subuid, subgid)
	if err != nil {
		return nil, nil, err
	}
	return remapMaps(p.uid), remapMaps(p.gid), nil
}

// remapPlan is RemapUser's range in each file, and whether it is to be
// added there.
type remapPlan struct {
	uid, gid       Range
	addUID, addGID bool
}

// planRemap reads both files and checks their RemapUser entries; a file
// without one gets the lowest free range (freeStart), at the other
// file's start when that is free in it, so that a container's uid and gid
// are the same number on the host.
func planRemap(subuid, subgid string) (p remapPlan, err error) {
	ue, err := Entries(subuid)
	if err != nil {
		return p, err
	}
	ge, err := Entries(subgid)
	if err != nil {
		return p, err
	}
	uid, uok, err := remapRange(subuid, ue)
	if err != nil {
		return p, err
	}
	gid, gok, err := remapRange(subgid, ge)
	if err != nil {
		return p, err
	}
	p = remapPlan{uid: uid, gid: gid, addUID: !uok, addGID: !gok}
	var start uint32
	switch {
	case !uok && !gok:
		start, err = freeStart(0, ue, ge)
		p.uid, p.gid = Range{start, RemapCount}, Range{start, RemapCount}
	case !uok:
		start, err = freeStart(gid.Start, ue)
		p.uid = Range{start, RemapCount}
	case !gok:
		start, err = freeStart(uid.Start, ge)
		p.gid = Range{start, RemapCount}
	}
	return p, err
}

// AddRemap returns RemapUser's ranges in the two files, adding the
// entry to a file that has none (planRemap). Both files are checked
// before either is written.
func AddRemap(subuid, subgid string, x *explain.Narrator) (uid, gid Range, err error) {
	// Read without the lock first: once the entries exist (every run
	// but the first), nothing is written and no lock is needed.
	p, err := planRemap(subuid, subgid)
	if err != nil || !p.addUID && !p.addGID {
		return p.uid, p.gid, err
	}
	unlock, err := lockSubID(subuid, x)
	if err != nil {
		return Range{}, Range{}, err
	}
	defer unlock()
	unlockG, err := lockSubID(subgid, x)
	if err != nil {
		return Range{}, Range{}, err
	}
	defer unlockG()
	// Again under the locks: another run may have added them meanwhile.
	if p, err = planRemap(subuid, subgid); err != nil {
		return Range{}, Range{}, err
	}
	if p.addUID {
		if err := appendEntry(subuid, p.uid, x); err != nil {
			return Range{}, Range{}, err
		}
	}
	if p.addGID {
		if err := appendEntry(subgid, p.gid, x); err != nil {
			return Range{}, Range{}, err
		}
	}
	return p.uid, p.gid, nil
}

// remapMaps is one map: the container's ids 0-65535 onto r.
func remapMaps(r Range) []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.Start, Size: RemapCount}}
}

// appendEntry writes file again with "RemapUser:START:COUNT" as its last
// line: a new file FILE+ with the old bytes, the line, the old file's
// mode and owner, fsync(2)ed, then rename(2)d over the old one, so that a
// reader (newuidmap(1), a crash) sees the old file or the new one, never
// half of it. shadow's useradd(8) writes it the same way, through FILE+.
func appendEntry(file string, r Range, x *explain.Narrator) error {
	old, err := os.ReadFile(file)
	mode, uid, gid := os.FileMode(0o644), -1, -1
	switch {
	case err == nil:
		var st unix.Stat_t
		if err := unix.Stat(file, &st); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		mode, uid, gid = os.FileMode(st.Mode&0o7777), int(st.Uid), int(st.Gid)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	line := fmt.Sprintf("%s:%d:%d\n", RemapUser, r.Start, r.Count)
	tmp := file + "+"
	x.Note("%s has no %s entry: add %q, %d ids no other entry has (subuid(5), useradd(8)'s way: a new file renamed over the old)", file, RemapUser, strings.TrimSpace(line), r.Count)
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, uint32(mode.Perm()))
	x.Call("open(2)", fmt.Sprintf("open(%q, O_WRONLY|O_CREAT|O_TRUNC, %#o)", tmp, mode.Perm()), fd, err)
	if err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(append(old, line...))
	if err == nil && uid >= 0 {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
		x.Call("fsync(2)", fmt.Sprintf("fsync(%q)", tmp), nil, err)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
		x.Call("rename(2)", fmt.Sprintf("rename(%q, %q)", tmp, file), nil, err)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// lockTries is how long lockSubID waits for another holder, in steps of
// lockWait.
const (
	lockTries = 50
	lockWait  = 100 * time.Millisecond
)

// lockSubID takes the lock shadow's tools take before they write file
// (useradd(8), usermod(8): lib/commonio.c): FILE.lock, made by link(2)
// from a file that holds the holder's PID, which fails with EEXIST while
// another holds it. A lock whose PID is gone (kill(2) with signal 0:
// ESRCH) was left by a crash, and is removed. The returned func unlocks.
func lockSubID(file string, x *explain.Narrator) (func(), error) {
	lock := file + ".lock"
	pidFile := fmt.Sprintf("%s.%d", file, os.Getpid())
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("lock %s: %w", file, err)
	}
	defer os.Remove(pidFile)
	for i := 0; ; i++ {
		err := unix.Link(pidFile, lock)
		x.Call("link(2)", fmt.Sprintf("link(%q, %q)", pidFile, lock), nil, err)
		if err == nil {
			return func() {
				err := os.Remove(lock)
				x.Call("unlink(2)", fmt.Sprintf("unlink(%q)", lock), nil, err)
			}, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("lock %s: %w", file, err)
		}
		if data, rerr := os.ReadFile(lock); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil && pid > 0 {
				if kerr := syscall.Kill(pid, 0); errors.Is(kerr, syscall.ESRCH) {
					x.Note("%s was left by process %d, which is gone: remove it", lock, pid)
					os.Remove(lock)
					continue
				}
			}
		}
		if i == lockTries {
			return nil, fmt.Errorf("lock %s: held by another process (%s) for %v", file, lock, lockTries*lockWait)
		}
		time.Sleep(lockWait)
	}
}
