package userns

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The files that delegate ranges of ids to users (subuid(5), subgid(5)).
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// Range is a range of subordinate ids: Count ids from Start.
type Range struct {
	Start, Count uint32
}

func (r Range) String() string { return span(r.Start, r.Count) }

// SubIDs returns the ranges file delegates to a user, given by name or by
// uid: a line "LOGIN:START:COUNT" counts when LOGIN is the name or the uid
// in decimal, as newuidmap(1) reads it (subuid(5)). A missing file is no
// range. A malformed line is an error naming the file and line.
func SubIDs(file, name string, uid int) ([]Range, error) {
	entries, err := Entries(file)
	if err != nil {
		return nil, err
	}
	var ranges []Range
	for _, e := range entries {
		if e.Name == name || e.Name == strconv.Itoa(uid) {
			ranges = append(ranges, e.Range)
		}
	}
	return ranges, nil
}

// Rootless returns the maps podman gives an unprivileged user: the user's
// own id is 0 inside, and the first range, if any, follows from 1 up
// ("newuidmap PID 0 UID 1 1 START COUNT"). Without a range only id 0
// exists inside; chown(2) to any other id fails with EINVAL.
func Rootless(id uint32, ranges []Range) []specs.LinuxIDMapping {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: id, Size: 1}}
	if len(ranges) > 0 {
		maps = append(maps, specs.LinuxIDMapping{ContainerID: 1, HostID: ranges[0].Start, Size: ranges[0].Count})
	}
	return maps
}

// Allowed says whether an unprivileged user may have maps written for it
// (by newuidmap(1)): every host id must be the user's own or in one of its
// ranges. kind names the map and file the ranges' file, for the error.
func Allowed(kind, file string, maps []specs.LinuxIDMapping, own uint32, ranges []Range) error {
	for i, m := range maps {
		if m.Size == 1 && m.HostID == own {
			continue
		}
		ok := false
		for _, r := range ranges {
			if m.HostID >= r.Start && uint64(m.HostID)+uint64(m.Size) <= uint64(r.Start)+uint64(r.Count) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s[%d]: host ids %s are neither yours (%d) nor in a range %s gives you (%s)",
				kind, i, span(m.HostID, m.Size), own, file, rangeList(ranges))
		}
	}
	return nil
}

func rangeList(ranges []Range) string {
	if len(ranges) == 0 {
		return "none"
	}
	s := make([]string, len(ranges))
	for i, r := range ranges {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
