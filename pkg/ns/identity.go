package ns

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// nsGetNstype is NS_GET_NSTYPE, _IO(0xb7, 0x3): "return the type of the
// namespace referred to by fd" (see ioctl_ns(2)). x/sys/unix lacks it.
const nsGetNstype = 0xb703

// ID identifies one namespace. Two processes share a namespace exactly when
// the device and inode of their /proc/PID/ns/X files are equal; that is the
// rule namespaces(7) gives under "The /proc/[pid]/ns/ directory".
type ID struct {
	Kind Kind
	Dev  uint64
	Ino  uint64
}

// String prints the identity as readlink(2) of /proc/PID/ns/X shows it:
// "uts:[4026531838]".
func (id ID) String() string { return fmt.Sprintf("%s:[%d]", id.Kind.Name, id.Ino) }

// Identify reads the identity of the namespace file at path (for example
// /proc/1234/ns/uts, or a bind mount of one). The kind comes from the
// kernel (ioctl NS_GET_NSTYPE), not from the file name.
func Identify(path string) (ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return ID{}, err
	}
	defer f.Close()
	k, err := KindOf(int(f.Fd()))
	if err != nil {
		return ID{}, fmt.Errorf("%s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return ID{Kind: k, Dev: st.Dev, Ino: st.Ino}, nil
}

// Of reads the identity of process pid's namespace of kind k (pid 0: self).
func Of(pid int, k Kind) (ID, error) { return Identify(Path(pid, k)) }

// KindOf asks the kernel which kind of namespace fd refers to. A file that
// is not a namespace fails with ENOTTY, which is reported as such.
func KindOf(fd int) (Kind, error) {
	t, err := unix.IoctlRetInt(fd, nsGetNstype)
	if err != nil {
		if err == unix.ENOTTY {
			return Kind{}, fmt.Errorf("not a namespace file: %w", err)
		}
		return Kind{}, fmt.Errorf("ioctl NS_GET_NSTYPE: %w", err)
	}
	return ByFlag(uintptr(t))
}
