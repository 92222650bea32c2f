// Lab 13: unpack one image layer so that overlayfs can use it as a lower
// directory.
//
//	demo LAYER.tar DIR
//
// unpacks the (uncompressed) layer tar into DIR, which it creates. A layer
// says "deleted" with files of special names (the OCI image spec,
// layer.md "Whiteouts"); overlayfs says it otherwise
// (Documentation/filesystems/overlayfs.rst), and the program translates:
//
//	.wh.NAME        → NAME, a character device with device number 0:0
//	.wh..wh..opq    → the xattr trusted.overlay.opaque=y on its directory
//
// And a layer is a tar from someone else: no entry may write outside DIR.
// Read docs/13-images.md. Fill in the TODOs of unpack.
// Check your work as root: make lab LAB=13
package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "Usage: %s LAYER.tar DIR\n", os.Args[0])
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	defer f.Close()
	if err := os.MkdirAll(os.Args[2], 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	if err := unpack(tar.NewReader(f), os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func unpack(tr *tar.Reader, dir string) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		// TODO 3: refuse a name that leaves DIR ("../x", "/x"): filepath.Join
		// cleans "DIR/../x" into a path beside DIR.
		target := filepath.Join(dir, hdr.Name)
		base := filepath.Base(hdr.Name)
		if base == ".wh..wh..opq" {
			// TODO 2: set the xattr trusted.overlay.opaque to "y" on the
			// directory (unix.Setxattr), and write no file.
		}
		if name, ok := strings.CutPrefix(base, ".wh."); ok {
			// TODO 1: make NAME (in the same directory) a character device
			// 0:0 (unix.Mknod with unix.S_IFCHR, device 0), and write no
			// file.
			_ = name
		}
		// TODO 4: never write through a symlink an earlier entry planted
		// ("link" -> /somewhere, then "link/file"): open each parent
		// directory with O_NOFOLLOW (unix.Openat, one component at a
		// time) and create the file relative to it.
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, os.FileMode(hdr.Mode&0o777)); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(hdr.Mode&0o777))
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: tar type %q not handled", hdr.Name, hdr.Typeflag)
		}
	}
}
