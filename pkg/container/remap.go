package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// `run --userns remap`, as root (docker's --userns-remap, per run): the
// container gets a user namespace whose ids 0-65535 are the range that
// /etc/subuid and /etc/subgid give to "minicontainer" (userns.RemapMaps,
// the entry added on first use). Its root is then an unprivileged uid of
// the host: a process that escapes the container (through a volume, a
// kernel bug) meets the host's files as uid 100000, not as root.
//
// It is nothing but Spec fields: linux.namespaces "user" with
// linux.uidMappings and gidMappings, which `spec --userns remap` prints
// and a bundle's create takes as well. What `run` adds is its overlay's
// view of the base rootfs and the image's layers, which host root owns and
// which the container's root would otherwise see as nobody's (65534),
// unwritable: each lower dir is an idmapped mount (rootfs.IDMapTree),
// shown through the container's own user namespace, so a file of host
// uid 0 is uid 0 inside.
//
// Why idmapped mounts rather than a chowned copy of each layer per
// mapping (docker's userns-remap keeps one under /var/lib/docker/UID.GID,
// podman's storage one per mapping): a copy costs its whole size on disk
// and a walk that chowns every file on first use of each layer and
// mapping, and a cache to keep in step with rmi; an idmapped mount costs
// three system calls per layer at each start, and nothing on disk. The
// price is the kernel: overlayfs takes idmapped layers since Linux 5.19
// (Debian 12 has 6.1), on a file system that supports them.

// Userns modes of run's --userns: "" or "host" (none of its own, as
// docker's default), or "remap".
const (
	UsernsHost  = "host"
	UsernsRemap = "remap"
)

// CheckUserns refuses an unknown --userns mode, and remap for a user
// other than root, who gets a user namespace of its own anyway (its maps
// are its own id and its ranges: rootlessMaps).
func CheckUserns(mode string) error {
	switch mode {
	case "", UsernsHost:
		return nil
	case UsernsRemap:
		if rootless() {
			return errors.New("--userns remap is for root: a run by another user already has a user namespace, with your own uid as its root")
		}
		return nil
	}
	return fmt.Errorf("--userns %q: want remap (or host)", mode)
}

// RemapMaps are the maps of --userns remap (userns.RemapMaps on
// /etc/subuid and /etc/subgid). With add false nothing is written: the
// maps are those the entries have, or would have once added (what
// `spec` prints and run validates); with add true a missing entry is
// added. nil maps for any other mode.
func RemapMaps(mode string, add bool, x *explain.Narrator) (uids, gids []specs.LinuxIDMapping, err error) {
	if err := CheckUserns(mode); err != nil || mode != UsernsRemap {
		return nil, nil, err
	}
	if !add {
		return userns.PlanRemapMaps(userns.SubUIDFile, userns.SubGIDFile)
	}
	return userns.RemapMaps(userns.SubUIDFile, userns.SubGIDFile, x)
}

// addRemap is run's last step before it creates anything: the entries
// are added if missing, and the Spec gets the maps they have (another
// run may have added them since the Spec was made).
func addRemap(mode string, s *specs.Spec, x *explain.Narrator) error {
	if mode != UsernsRemap {
		return nil
	}
	uids, gids, err := RemapMaps(mode, true, x)
	if err != nil {
		return err
	}
	s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
	return nil
}

// idmapRoot says whether run's overlay gets idmapped lower dirs: root
// runs it in a user namespace (--userns remap), where host root's files
// would be nobody's.
func idmapRoot(s *specs.Spec) bool { return !rootless() && userNS(s) }

// chownScratch gives the scratch dir to the container's root (its uid
// and gid 0, on the host): the init makes the overlay's upper, work and
// merged dirs in it as that uid, which may not enter a dir of host root
// with mode 0700 (a capability counts only on files whose owner its
// namespace maps: capabilities(7), "Interaction with user namespaces").
func chownScratch(scratch string, s *specs.Spec, x *explain.Narrator) error {
	uid, uok := userns.ToHost(s.Linux.UIDMappings, 0)
	gid, gok := userns.ToHost(s.Linux.GIDMappings, 0)
	if !uok || !gok {
		return errors.New("user namespace: the maps give the container no root (uid or gid 0) for its overlay's dirs")
	}
	err := os.Chown(scratch, int(uid), int(gid))
	x.Call("chown(2)", fmt.Sprintf("chown(%q, %d, %d)", scratch, uid, gid), nil, err)
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	return nil
}

// idmapLowers makes one idmapped tree per lower dir, the base and then
// the layers, with the user namespace of the init pid (its maps written):
// the descriptors go to the init with its config. The caller closes them.
func idmapLowers(pid int, base string, layers []string, x *explain.Narrator) ([]int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/user"
	ns, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	x.Call("open(2)", fmt.Sprintf("open(%q, O_RDONLY)", path), ns, err)
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	defer unix.Close(ns)
	x.Note("--userns remap: idmap each lower dir with the container's user namespace, so that host root's files are root's inside (mount_setattr(2))")
	var fds []int
	for _, d := range append([]string{base}, layers...) {
		fd, err := rootfs.IDMapTree(d, ns, x)
		if err != nil {
			closeAll(fds)
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
