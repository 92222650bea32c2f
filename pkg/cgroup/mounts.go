package cgroup

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call of a container's /sys/fs/cgroup.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// SysFsCgroup is where cgroup file systems are mounted, on the host and
// inside a container.
const SysFsCgroup = "/sys/fs/cgroup"

// ContainerMounts returns the mounts that give a container a read-only
// /sys/fs/cgroup laid out like the host's. Made in the container's own
// cgroup namespace (cgroup_namespaces(7)), each cgroup file system shows
// the container's cgroup as its root: the container sees its own limits
// and usage and nothing above. The order is runc's (mountCgroupV1/V2):
//
//	v2:     cgroup2 on /sys/fs/cgroup, read-only
//	v1:     a tmpfs on /sys/fs/cgroup; in it one directory per hierarchy
//	        with the cgroup file system mounted read-only (the same
//	        options, "memory" or "cpu,cpuacct", attach the same hierarchy);
//	        the empty cgroup2 too on a hybrid host; then the tmpfs itself
//	        remounted read-only.
//
// Hierarchies mounted elsewhere than under /sys/fs/cgroup are left out.
func (h *Host) ContainerMounts() []Mount {
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if h.Mode == Unified {
		return []Mount{{Source: "cgroup2", Target: SysFsCgroup, FSType: "cgroup2", Flags: ro}}
	}
	m := []Mount{{Source: "tmpfs", Target: SysFsCgroup, FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "mode=755"}}
	for _, v := range h.Hierarchy {
		if filepath.Dir(v.Dir) != SysFsCgroup {
			continue
		}
		m = append(m, Mount{Source: "cgroup", Target: filepath.Join(SysFsCgroup, filepath.Base(v.Dir)), FSType: "cgroup", Flags: ro, Data: v.Options})
	}
	if h.Unified != "" && filepath.Dir(h.Unified) == SysFsCgroup {
		m = append(m, Mount{Source: "cgroup2", Target: h.Unified, FSType: "cgroup2", Flags: ro})
	}
	return append(m, Mount{Target: SysFsCgroup, Flags: unix.MS_REMOUNT | ro, Data: "mode=755"})
}
