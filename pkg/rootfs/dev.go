package rootfs

// Device is a character device node made in the container's /dev.
type Device struct {
	Name         string
	Major, Minor uint32
}

// Devices are the only nodes in the container's /dev: the ones every
// program expects and none that reach hardware (no disks, no /dev/mem, no
// /dev/kmsg). Numbers from the kernel's Documentation/admin-guide/devices.txt;
// the same list as runc's and the OCI runtime spec's default devices.
var Devices = []Device{
	{"null", 1, 3},
	{"zero", 1, 5},
	{"full", 1, 7},
	{"random", 1, 8},
	{"urandom", 1, 9},
	{"tty", 5, 0},
}

// DevLinks are the symbolic links programs expect in /dev. /dev/ptmx points
// into the container's own devpts instance, so a pty opened inside belongs
// to the container (see pts(4), "newinstance" in devpts docs).
var DevLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}
