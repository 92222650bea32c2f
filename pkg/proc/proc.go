// Package proc tells whether a recorded process is still the same process.
//
// A PID alone is not an identity: once a process is reaped its PID can be
// given to an unrelated one. The pair (PID, start time) is, because the
// start time (field 22 of /proc/PID/stat, clock ticks since boot; see
// proc(5)) of a new process with the same PID differs. State files store
// both, and gc acts only on processes that are really gone.
package proc

import (
	"os"
	"strconv"
	"strings"
)

// stat returns the fields of /proc/PID/stat after the command name, which
// may itself hold spaces and ')': fields[0] is the state, fields[19] the
// start time. nil when there is no such process.
func stat(pid int) []string {
	if pid <= 0 {
		return nil
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return nil
	}
	return fields
}

// StartTime is pid's start time in clock ticks since boot, or 0 when there
// is no such process.
func StartTime(pid int) uint64 {
	fields := stat(pid)
	if fields == nil {
		return 0
	}
	t, _ := strconv.ParseUint(fields[19], 10, 64)
	return t
}

// Alive reports whether pid is still the process that started at start and
// has not exited. A zombie (state Z, or X while it is being reaped) has
// exited and only waits for its parent to collect its status: it will
// never release anything, so it counts as gone.
func Alive(pid int, start uint64) bool {
	fields := stat(pid)
	if fields == nil || start == 0 {
		return false
	}
	t, _ := strconv.ParseUint(fields[19], 10, 64)
	return t == start && fields[0] != "Z" && fields[0] != "X"
}
