package container

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// ListOptions are ps's flags.
type ListOptions struct {
	All     bool // -a: also the containers that ended (exited, or an OCI one stopped)
	NoTrunc bool // --no-trunc: commands in full
}

// PrintList writes the containers as `ps` shows them. Without All, only
// those that may still run, and the dead ones gc will reclaim (a leftover
// to see, not a container that ended).
func PrintList(w io.Writer, root string, now time.Time, o ListOptions) error {
	states, err := List(root)
	if err != nil {
		return err
	}
	// minwidth 10: a PID (at most 7 digits) never changes the column width.
	tw := tabwriter.NewWriter(w, 10, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPID\tCOMMAND\tSTATUS\tCREATED")
	for _, s := range states {
		status := s.Status()
		if !o.All && (status == "exited" || status == "stopped") {
			continue
		}
		if status == "exited" {
			status = fmt.Sprintf("Exited (%d) %s", s.ExitCode, since(now, s.Finished))
		}
		command := strings.Join(s.Command, " ")
		if !o.NoTrunc {
			command = ellipsis(command, commandWidth)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", short(s.ID), s.Name, s.Pid, command, status, since(now, s.Created))
	}
	return tw.Flush()
}

// commandWidth is docker ps's: a longer command is cut to 19 characters
// and "…".
const commandWidth = 20

// ellipsis cuts s to width runes, the last one "…", as docker's
// stringutils.Ellipsis.
func ellipsis(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// since is how long ago t was, as docker ps words it. A time not
// recorded (a state.json missing or unreadable, or written before the
// field existed) is the zero time: "unknown", not the 292 years a
// time.Duration tops out at ("106751 days ago"). A time after now (the
// clock was set back) is "unknown" too.
func since(now, t time.Time) string {
	if t.IsZero() || t.After(now) {
		return "unknown"
	}
	return age(now.Sub(t))
}

// age is how docker ps words it: "5 seconds ago".
func age(d time.Duration) string {
	unit := func(n int, u string) string {
		if n == 1 {
			return fmt.Sprintf("1 %s ago", u)
		}
		return fmt.Sprintf("%d %ss ago", n, u)
	}
	switch {
	case d < time.Minute:
		return unit(int(d.Seconds()), "second")
	case d < time.Hour:
		return unit(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return unit(int(d.Hours()), "hour")
	}
	return unit(int(d.Hours()/24), "day")
}
