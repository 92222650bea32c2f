// Package fault is a test hook: it makes minicontainer fail, or die by
// SIGKILL, right after a named step of creating and starting a container,
// so a test can prove that the undo stack (after a failure) or `gc` (after
// a death) leaves the host as it was — at every step, not only at the
// steps someone thought of.
//
//	MINICONTAINER_FAULT=cgroup       the step "cgroup" returns an error
//	MINICONTAINER_FAULT=die:veth     minicontainer SIGKILLs itself after "veth"
//	MINICONTAINER_FAULT=trace        each step reached is printed on stderr
//
// The code marks a step with Point, right after the step is done and its
// undo registered (where the next real failure could happen):
//
//	if err := fault.Point(x, "veth"); err != nil {
//
// Every name given to Point is in Steps, and the test of cmd/minicontainer
// runs every one of them, failed and killed: a step added without its
// name in Steps, or a name without its test row, fails that test.
//
// The variable is read once, at start-up; unset, Point is one comparison.
package fault

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// EnvVar names the step to fail ("STEP"), to die at ("die:STEP"), or
// "trace".
const EnvVar = "MINICONTAINER_FAULT"

// Steps are the fault points, in the order a `run` with --net bridge, -p
// and a cgroup limit reaches them (the test checks that order, too).
var Steps = []string{
	"state-dir",         // pkg/container: the container's state directory made
	"name",              // pkg/container: state.json written: the ID and the name are claimed
	"scratch-dir",       // pkg/container: the overlay's scratch directory made
	"cgroup-parent",     // pkg/cgroup: the first parent directory made (minicontainer, or --cgroup-parent), no container cgroup in it yet
	"cgroup",            // pkg/container: the cgroup made
	"cgroup-limits",     // pkg/container: its limits written
	"clone",             // pkg/container: the init cloned, not yet recorded in state.json
	"pid",               // pkg/container: the init's PID recorded
	"host step cgroup",  // pkg/container: the init placed in its cgroup (v1; a no-op on v2)
	"network-lock",      // pkg/network: the bridge's lock file made and locked
	"bridge-address",    // pkg/network: the bridge made, with its address, not yet up
	"bridge",            // pkg/network: the bridge made, with its address, up
	"ip-forward",        // pkg/network: net.ipv4.ip_forward turned on
	"nat",               // pkg/network: the NAT table made
	"lease",             // pkg/container: the address leased, its undo registered
	"veth",              // pkg/network: the veth pair made (eth0 in the container), on the bridge, up
	"eth0",              // pkg/network: eth0 configured inside: address, up, default route
	"port-rules",        // pkg/network: the published ports' DNAT rules added
	"host step network", // pkg/container: the network host step done, the address recorded
	"config-sent",       // pkg/container: the init has its configuration and sets the container up
	"started",           // pkg/container: the command runs (the init exec'd)
	"exited",            // pkg/container: the command ended, nothing undone yet
}

var (
	mode  = os.Getenv(EnvVar) // read once: Point costs one comparison when unset
	die   bool
	step  string
	trace bool
)

func init() { parse() }

func parse() {
	switch {
	case mode == "trace":
		trace = true
	case len(mode) > 4 && mode[:4] == "die:":
		die, step = true, mode[4:]
	default:
		step = mode
	}
}

// Point marks the end of step name. It returns an error when EnvVar names
// this step, kills the process with SIGKILL when it says die:name, and
// otherwise returns nil. Unknown names in EnvVar fail at the first Point,
// so a misspelt test cannot pass without injecting anything.
func Point(x *explain.Narrator, name string) error {
	if mode == "" {
		return nil
	}
	if trace {
		fmt.Fprintf(os.Stderr, "fault point: %s\n", name)
		return nil
	}
	if !slices.Contains(Steps, step) {
		return fmt.Errorf("%s=%q: no such step (see fault.Steps)", EnvVar, mode)
	}
	if name != step {
		return nil
	}
	if die {
		x.Note("%s: SIGKILL to myself after step %q", EnvVar, name)
		unix.Kill(os.Getpid(), unix.SIGKILL)
		for {
			unix.Pause() // SIGKILL cannot be caught: the process ends here
		}
	}
	x.Note("%s: failing after step %q", EnvVar, name)
	return fmt.Errorf("injected fault after step %q (%s)", name, EnvVar)
}
