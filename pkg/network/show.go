package network

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// PrintList writes `minicontainer network ls`: the bridges of this network
// namespace that containers use, with their subnet and how many.
func PrintList(w io.Writer, base string) error {
	states, err := ReadStates(base)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDRIVER\tSUBNET\tGATEWAY\tCONTAINERS")
	for _, st := range states {
		fmt.Fprintf(tw, "%s\tbridge\t%s\t%s\t%d\n", st.Bridge, st.Subnet, Gateway(st.Subnet), len(st.Leases))
	}
	return tw.Flush()
}

// Inspect writes `minicontainer network inspect NAME`: the bridge's state
// as JSON — subnet, gateway and every container's address, veth and ports.
func Inspect(w io.Writer, base, bridge string) error {
	states, err := ReadStates(base)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Bridge != bridge {
			continue
		}
		data, err := json.MarshalIndent(struct {
			*State
			Gateway string `json:"gateway"`
		}{st, Gateway(st.Subnet).String()}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	return fmt.Errorf("no network %s (a bridge exists only while containers use it)", bridge)
}
