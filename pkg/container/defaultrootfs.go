package container

import (
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
)

// ImageStore is this caller's image store (image.DefaultStore): root's
// /var/lib/minicontainer/images, a user's $XDG_DATA_HOME/minicontainer/images.
func ImageStore() (string, error) { return image.DefaultStore() }

// builtinLayer is the built-in image's unpacked layer in this caller's
// store, or "" when it is not made yet. It reads three small files and
// stats a directory: a run after the first hashes and reads no layer.
func builtinLayer() (string, error) {
	root, err := ImageStore()
	if err != nil {
		return "", err
	}
	return image.BuiltinLayer(root)
}

// BuiltinRootfs returns the built-in image's unpacked layer, the root
// filesystem of a run with no image and no rootfs, making the image
// (image.BuiltinRef) from the host's busybox-static on first use.
func BuiltinRootfs(x *explain.Narrator) (string, error) {
	if dir, err := builtinLayer(); err != nil || dir != "" {
		return dir, err
	}
	root, err := ImageStore()
	if err != nil {
		return "", err
	}
	s, err := image.Open(root)
	if err != nil {
		return "", err
	}
	return s.Builtin(x)
}
