package main

import (
	"fmt"
	"os"
	"strings"
)

// usage prints the C's usage text (argv[0] as given) and exits with
// EXIT_FAILURE. A bad option is first reported as getopt(3) reports it.
func usage(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", os.Args[0], getoptMessage(err))
	}
	fmt.Fprintf(os.Stderr, "Usage: %s [options] program [arg...]\n", os.Args[0])
	fmt.Fprintf(os.Stderr, "Options can be:\n")
	for _, line := range []string{"-C   unshare cgroup namespace", "-i   unshare IPC namespace",
		"-m   unshare mount namespace", "-n   unshare network namespace", "-p   unshare PID namespace",
		"-t   unshare time namespace", "-u   unshare UTS namespace", "-U   unshare user namespace"} {
		fmt.Fprintf(os.Stderr, "    %s\n", line)
	}
	os.Exit(1)
}

// getoptMessage words kong's "unknown flag" as getopt(3) does.
func getoptMessage(err error) string {
	msg := err.Error()
	if flag, ok := strings.CutPrefix(msg, "unknown flag "); ok {
		flag, _, _ = strings.Cut(flag, ",")
		if strings.HasPrefix(flag, "--") {
			return fmt.Sprintf("unrecognized option '%s'", flag)
		}
		return fmt.Sprintf("invalid option -- '%s'", strings.TrimPrefix(flag, "-"))
	}
	return msg
}
