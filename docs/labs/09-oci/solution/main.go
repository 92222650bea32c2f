// Lab 09's solution: a bundle's config.json from flags. The project's
// own version of this program is `minicontainer spec` (pkg/spec/run.go
// turns all of run's flags into a Spec, on Docker's defaults in
// pkg/spec/default.go); this one writes only what the article's Go demo
// did, as data.
//
//	demo -rootfs DIR -hostname NAME BUNDLE COMMAND [ARG...]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	rootfs := flag.String("rootfs", "", "the container's root filesystem (a directory)")
	hostname := flag.String("hostname", "", "the container's hostname")
	flag.Parse()
	if *rootfs == "" || *hostname == "" || flag.NArg() < 2 {
		fmt.Fprintf(os.Stderr, "Usage: %s -rootfs DIR -hostname NAME BUNDLE COMMAND [ARG...]\n", os.Args[0])
		os.Exit(2)
	}
	bundle, command := flag.Arg(0), flag.Args()[1:]
	root, err := filepath.Abs(*rootfs)
	if err != nil {
		fail(err)
	}

	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: root},
		Process: &specs.Process{
			Args: command,
			Cwd:  "/",
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		// The article's Cloneflags (UTS, mount, PID) and Unshareflags
		// (mount again) as namespaces; the runtime makes them with one
		// clone(2).
		Hostname: *hostname,
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
			},
		},
		// The article's mount of proc, with the options every runtime
		// adds (runc spec, Docker): no set-uid, no exec, no devices.
		Mounts: []specs.Mount{{
			Destination: "/proc",
			Type:        "proc",
			Source:      "proc",
			Options:     []string{"nosuid", "noexec", "nodev"},
		}},
	}

	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		fail(err)
	}
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), append(data, '\n'), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	os.Exit(1)
}
