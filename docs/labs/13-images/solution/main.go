// Lab 13's solution is minicontainer's own unpacking, pkg/image's Extract
// (pkg/image/extract.go): read it beside your program.
//
//	demo LAYER.tar DIR
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/image"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s LAYER.tar DIR\n", os.Args[0])
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(layer, dir string) error {
	f, err := os.Open(layer)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Every path is resolved from this descriptor, never from a string.
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	return image.Extract(rootfd, f)
}
