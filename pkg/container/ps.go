package container

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintList writes the containers as `ps` shows them.
func PrintList(w io.Writer, root string, now time.Time) error {
	states, err := List(root)
	if err != nil {
		return err
	}
	// minwidth 10: a PID (at most 7 digits) never changes the column width.
	tw := tabwriter.NewWriter(w, 10, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPID\tCOMMAND\tSTATUS\tCREATED")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", short(s.ID), s.Name, s.Pid,
			strings.Join(s.Command, " "), s.Status(), age(now.Sub(s.Created)))
	}
	return tw.Flush()
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
