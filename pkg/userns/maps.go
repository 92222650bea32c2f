// Package userns is what a user namespace needs from the host: the id
// maps (their syntax and the kernel's rules for them), the subordinate id
// ranges of /etc/subuid and /etc/subgid, the setuid helpers newuidmap(1)
// and newgidmap(1) that write maps an unprivileged user may not write
// itself, and the sysctls that forbid user namespaces altogether
// (user_namespaces(7)).
package userns

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxMaps is how many lines a uid_map or gid_map may have since Linux
// 4.15 (user_namespaces(7), "Defining user and group ID mappings").
const MaxMaps = 340

// noID is (uid_t)-1, which no map may cover: setresuid(2) reads it as
// "no change", and the kernel refuses a range that reaches it.
const noID = 1<<32 - 1

// Parse reads maps as podman's --uidmap and --gidmap spell them:
// "CONTAINER:HOST:SIZE", several separated by commas. The result is not
// checked: see Check.
func Parse(s string) ([]specs.LinuxIDMapping, error) {
	var maps []specs.LinuxIDMapping
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("id map %q: want CONTAINER:HOST:SIZE", part)
		}
		var n [3]uint32
		for i, v := range f {
			u, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map %q: %q is not an id (0-%d)", part, v, uint32(noID))
			}
			n[i] = uint32(u)
		}
		maps = append(maps, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return maps, nil
}

// Format writes maps as /proc/PID/uid_map takes them: one
// "INSIDE OUTSIDE SIZE" line each.
func Format(maps []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// MapError is a map Check refuses: Field names it ("linux.uidMappings[1]").
type MapError struct {
	Field, Msg string
}

func (e *MapError) Error() string { return e.Field + ": " + e.Msg }

func bad(field, format string, a ...any) error {
	return &MapError{field, fmt.Sprintf(format, a...)}
}

// Check applies the kernel's rules for a map, so that a bad one is
// refused before anything is created (user_namespaces(7)): at least one
// line and at most MaxMaps, no empty range, no range that reaches
// (uid_t)-1, and no two ranges that overlap, inside or outside. kind
// names the map in the error ("linux.uidMappings").
func Check(kind string, maps []specs.LinuxIDMapping) error {
	if len(maps) == 0 {
		return bad(kind, "no map: a user namespace needs at least one line")
	}
	if len(maps) > MaxMaps {
		return bad(kind, "%d maps, the kernel takes at most %d", len(maps), MaxMaps)
	}
	for i, m := range maps {
		if m.Size == 0 {
			return bad(fmt.Sprintf("%s[%d]", kind, i), "size 0 maps nothing")
		}
		for _, first := range []uint32{m.ContainerID, m.HostID} {
			if uint64(first)+uint64(m.Size) > noID {
				return bad(fmt.Sprintf("%s[%d]", kind, i), "%d+%d reaches %d, (uid_t)-1, which no map may cover", first, m.Size, uint32(noID))
			}
		}
	}
	if i, j, ok := overlap(maps, func(m specs.LinuxIDMapping) uint32 { return m.ContainerID }); ok {
		return bad(fmt.Sprintf("%s[%d]", kind, j), "overlaps [%d] inside the container (%s)", i, inside(maps, i, j))
	}
	if i, j, ok := overlap(maps, func(m specs.LinuxIDMapping) uint32 { return m.HostID }); ok {
		return bad(fmt.Sprintf("%s[%d]", kind, j), "overlaps [%d] on the host (%s)", i, outside(maps, i, j))
	}
	return nil
}

// overlap finds two ranges, by start, that share an id; i < j.
func overlap(maps []specs.LinuxIDMapping, start func(specs.LinuxIDMapping) uint32) (int, int, bool) {
	idx := make([]int, len(maps))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return start(maps[idx[a]]) < start(maps[idx[b]]) })
	for k := 1; k < len(idx); k++ {
		prev, cur := maps[idx[k-1]], maps[idx[k]]
		if uint64(start(prev))+uint64(prev.Size) > uint64(start(cur)) {
			i, j := idx[k-1], idx[k]
			if i > j {
				i, j = j, i
			}
			return i, j, true
		}
	}
	return 0, 0, false
}

func inside(maps []specs.LinuxIDMapping, i, j int) string {
	return span(maps[i].ContainerID, maps[i].Size) + " and " + span(maps[j].ContainerID, maps[j].Size)
}

func outside(maps []specs.LinuxIDMapping, i, j int) string {
	return span(maps[i].HostID, maps[i].Size) + " and " + span(maps[j].HostID, maps[j].Size)
}

// span writes a range as FIRST-LAST.
func span(first, size uint32) string {
	return fmt.Sprintf("%d-%d", first, uint64(first)+uint64(size)-1)
}

// ToHost maps an id inside the container to the host's; false when no
// map covers it (the kernel shows such an id as the overflow id, 65534).
func ToHost(maps []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return m.HostID + (id - m.ContainerID), true
		}
	}
	return 0, false
}
