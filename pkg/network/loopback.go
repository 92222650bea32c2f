package network

// The loopback device of a new network namespace is created DOWN (see
// network_namespaces(7)), so even 127.0.0.1 does not work until it is up.
// The container's init brings it up itself, in every mode with a network
// namespace of its own.

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// LoopbackUp sets IFF_UP on "lo" in the calling thread's network namespace,
// as `ip link set lo up` does. It uses the two classic ioctls on any socket
// (see netdevice(7), SIOCGIFFLAGS/SIOCSIFFLAGS) rather than netlink: two
// system calls, nothing to parse, cheap at container start.
func LoopbackUp(x *explain.Narrator) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for SIOCSIFFLAGS: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl(SIOCGIFFLAGS, lo): %w", err)
	}
	flags := ifr.Uint16() | unix.IFF_UP
	ifr.SetUint16(flags)
	err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	x.Call("netdevice(7)", fmt.Sprintf("ioctl(%d, SIOCSIFFLAGS, {ifr_name=\"lo\", ifr_flags=%s})", fd, ifFlagString(flags)), nil, err)
	if err != nil {
		return fmt.Errorf("ioctl(SIOCSIFFLAGS, lo up): %w", err)
	}
	return nil
}

var ifFlags = []explain.Flag{
	{Value: unix.IFF_UP, Name: "IFF_UP"},
	{Value: unix.IFF_BROADCAST, Name: "IFF_BROADCAST"},
	{Value: unix.IFF_LOOPBACK, Name: "IFF_LOOPBACK"},
	{Value: unix.IFF_RUNNING, Name: "IFF_RUNNING"},
	{Value: unix.IFF_NOARP, Name: "IFF_NOARP"},
	{Value: unix.IFF_MULTICAST, Name: "IFF_MULTICAST"},
}

func ifFlagString(f uint16) string { return explain.Flags(uint64(f), ifFlags) }
