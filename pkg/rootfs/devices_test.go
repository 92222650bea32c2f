package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// makeDevices makes each node with mknod(2) first and unlinks only on
// EEXIST (a fresh tmpfs /dev has nothing to unlink). A /dev that comes
// with the rootfs may already hold a file of a node's name: it must be
// replaced by the device, not make the container fail or keep the file.
func TestMakeDevicesReplacesWhatIsThere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod(2) of character devices needs root")
	}
	root := t.TempDir()
	defer hostcheck.Take(t, root).Verify(t)
	dev := filepath.Join(root, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	// A regular file named null, and a device of the wrong numbers named zero.
	if err := os.WriteFile(filepath.Join(dev, "null"), []byte("not a device"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dev, "zero"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootfd)
	if err := makeDevices(explain.FromEnv(""), rootfd, root, nil, false); err != nil {
		t.Fatalf("makeDevices over an existing /dev: %v", err)
	}
	for _, d := range Devices {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dev, d.Name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != d.Major || unix.Minor(st.Rdev) != d.Minor || st.Mode&0o7777 != 0o666 {
			t.Errorf("/dev/%s: mode %#o, %d:%d; want a 0666 character device %d:%d", d.Name, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), d.Major, d.Minor)
		}
	}
}
