// Lab 09: write a bundle's config.json from flags, as `minicontainer spec`
// and `runc spec` do: the article's Go demo, its steps written down as data
// (lesson 09, "config.json: the article's steps written down").
//
//	demo -rootfs DIR -hostname NAME BUNDLE COMMAND [ARG...]
//
// writes BUNDLE/config.json (making BUNDLE if needed). Then, as root:
//
//	minicontainer --root /tmp/lab09/state create --bundle BUNDLE lab09
//	minicontainer --root /tmp/lab09/state start lab09
//
// runs COMMAND in the container that config.json describes. Read
// docs/09-oci.md and the runtime spec's config.md and config-linux.md.
// Fill in the TODOs. Check your work as root: make lab LAB=09
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
		Version: specs.Version, // "ociVersion": the runtime refuses a major version it does not know
		Root:    &specs.Root{Path: root},
		Process: &specs.Process{
			Cwd: "/",
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			// TODO 1: the command and its arguments (process.args): the
			// article's exec.Command("/bin/busybox", "ash"), here
			// whatever follows BUNDLE on the command line.
		},
		Linux: &specs.Linux{
			// The article's Unshareflags: a mount namespace, so that the
			// root and the mounts below change nothing on the host.
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}},
			// TODO 2: the rest of the article's Cloneflags: a UTS
			// namespace (CLONE_NEWUTS) and a PID namespace (CLONE_NEWPID).
		},
	}
	// TODO 3: the hostname (s.Hostname). The runtime refuses it without a
	// UTS namespace: it would rename the host.
	_, _ = hostname, command

	// TODO 4: the article's mount("proc", "/proc", "proc", ...) as an
	// entry of s.Mounts: destination /proc, type proc, source proc, and
	// the options nosuid, noexec, nodev.

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
