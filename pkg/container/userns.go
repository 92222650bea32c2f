package container

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/caps"
	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/image"
	"github.com/minicontainer/minicontainer/pkg/userns"
)

// A Spec's new user namespace, on the bundle road (user_namespaces(7)):
//
//  1. create checks, before anything is made, that the kernel allows one
//     (userns.Forbidden) and, for a caller other than root, that its maps
//     are the caller's own id and its /etc/subuid and /etc/subgid ranges,
//     and that newuidmap(1) and newgidmap(1) are there to write them;
//  2. the init is cloned with CLONE_NEWUSER and every capability raised
//     in its ambient set (bridgeCaps): it execs /proc/self/exe at once,
//     before any map exists, as an unmapped id, and an execve(2) by a
//     process that is not root in its namespace empties the permitted set
//     unless the ambient set keeps it (capabilities(7), "Transformation of
//     capabilities during execve()"). Go's own SysProcAttr.UidMappings
//     would write the maps before that execve, but only with write(2): an
//     unprivileged caller may write one line, its own id, and any other
//     map needs newuidmap, which Go cannot run between its fork and exec.
//     The other road, an init that execs itself again once the maps are
//     written, costs a second start of this program; the ambient set
//     costs a capset(2) and a few prctl(2) calls;
//  3. the parent writes the maps while the init waits for its config
//     (writeIDMaps): root with write(2), others through the helpers;
//  4. the init becomes root in its namespace (enterUserNS): its ids are
//     still its parent's, which a map may leave unmapped (host root, when
//     root maps 0 to 100000: "root out there is nobody in here"), and a
//     file it makes on a file system of the namespace would fail with
//     EOVERFLOW. setresgid(2) and setresuid(2) to 0, with CAP_SETUID and
//     CAP_SETGID in the namespace, keep the capabilities (a change to uid
//     0 keeps them, capabilities(7)); then it drops the bridge (its
//     ambient and inheritable sets) and goes on with every capability in
//     its namespace: mounts, hostname, and its process's own sets.

// userNS says whether the Spec asks for a new user namespace.
func userNS(s *specs.Spec) bool {
	if s.Linux == nil {
		return false
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.UserNamespace && n.Path == "" {
			return true
		}
	}
	return false
}

// checkUserNS is step 1: nothing is created when it fails.
func checkUserNS(s *specs.Spec) error {
	if !userNS(s) {
		return nil
	}
	root := os.Geteuid() == 0
	if err := userns.Forbidden(userns.ProcSys, root); err != nil {
		return err
	}
	if root {
		return nil
	}
	uid, gid := os.Geteuid(), os.Getegid()
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	for _, m := range []struct {
		kind, field, file string
		maps              []specs.LinuxIDMapping
		own               int
	}{
		{"uid", "linux.uidMappings", userns.SubUIDFile, s.Linux.UIDMappings, uid},
		{"gid", "linux.gidMappings", userns.SubGIDFile, s.Linux.GIDMappings, gid},
	} {
		ranges, err := userns.SubIDs(m.file, name, uid)
		if err != nil {
			return err
		}
		if err := userns.Allowed(m.field, m.file, m.maps, uint32(m.own), ranges); err != nil {
			return err
		}
		if _, err := userns.Writer(m.kind, m.maps, uint32(m.own), false); err != nil {
			return err
		}
	}
	return nil
}

// bridgeCaps is step 2: every capability this kernel has, ambient.
func bridgeCaps(attr *syscall.SysProcAttr) error {
	last, err := caps.Last()
	if err != nil {
		return err
	}
	attr.AmbientCaps = nil
	for c := 0; c <= last; c++ {
		attr.AmbientCaps = append(attr.AmbientCaps, uintptr(c))
	}
	return nil
}

// writeIDMaps is step 3, for the init pid.
func writeIDMaps(pid int, s *specs.Spec, x *explain.Narrator) error {
	x.Note("user namespace: write the init's id maps while it waits; its ids are unmapped (65534) until then")
	if err := userns.Write(pid, s.Linux.UIDMappings, s.Linux.GIDMappings, os.Geteuid() == 0, x); err != nil {
		return fmt.Errorf("user namespace: %w", err)
	}
	return nil
}

// enterUserNS is step 4, in the init. The ambient set is emptied and the
// inheritable set too, so that the process execs with the sets its Spec
// gives, as without a user namespace. The permitted and effective sets
// stay whole: the init is root in its namespace now.
func enterUserNS(x *explain.Narrator) error {
	// No supplementary group: the parent's are unmapped or host groups.
	// Where setgroups is denied (a map written without the helpers) the
	// kernel refuses it, and the list is already the parent's unmappable one.
	if !setgroupsDenied() {
		err := syscall.Setgroups(nil)
		x.Call("setgroups(2)", "setgroups(0, [])", nil, err)
		if err != nil {
			return fmt.Errorf("user namespace: %w", err)
		}
	}
	err := syscall.Setresgid(0, 0, 0)
	x.Call("setresgid(2)", "setresgid(0, 0, 0)", nil, err)
	if err != nil {
		return fmt.Errorf("user namespace: become gid 0 inside: %w", err)
	}
	err = syscall.Setresuid(0, 0, 0)
	x.Call("setresuid(2)", "setresuid(0, 0, 0)", nil, err)
	if err != nil {
		return fmt.Errorf("user namespace: become uid 0 inside: %w", err)
	}
	err = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	x.Call("prctl(2)", "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", nil, err)
	if err != nil {
		return fmt.Errorf("user namespace: clear the ambient set: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("user namespace: capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	err = unix.Capset(&hdr, &data[0])
	x.Call("capset(2)", "capset(inheritable=0)", nil, err)
	if err != nil {
		return fmt.Errorf("user namespace: empty the inheritable set: %w", err)
	}
	return nil
}

// RootlessStateRoot is the state root of a user other than root, as
// podman and runc place theirs: $XDG_RUNTIME_DIR/minicontainer (the
// user's own tmpfs, made by systemd-logind, gone at logout), else
// /tmp/minicontainer-UID.
func RootlessStateRoot() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d + "/minicontainer"
	}
	return "/tmp/minicontainer-" + strconv.Itoa(os.Geteuid())
}

// DefaultRoot is the state root for this caller: DefaultStateRoot for
// root, RootlessStateRoot for any other user.
func DefaultRoot() string {
	if os.Geteuid() == 0 {
		return DefaultStateRoot
	}
	return RootlessStateRoot()
}

// checkRootlessRoot refuses a state root another user made: in /tmp,
// anyone may have made /tmp/minicontainer-UID first, with a link in it.
func checkRootlessRoot(root string) error {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil // lockStateRoot makes it
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return fmt.Errorf("state root %s: not a directory of yours that only you may write (uid %d, mode %#o)", root, st.Uid, st.Mode&0o7777)
	}
	return nil
}

// planRootless is create's cgroup plan for a user other than root. Without
// limits there is none: the container runs in its caller's cgroup. With
// linux.resources limits, the cgroup goes into the cgroup v2 subtree
// delegated to the caller (cgroup.Delegated, as run's rootlessCgroup);
// where there is none, or it lacks a controller, the limit is refused in
// one line rather than silently not applied. linux.resources.devices is
// not enforced: the v2 device program needs bpf(2), which a user may not
// load, and it is not needed: in a user namespace no device node can be
// made (mknod(2) needs CAP_MKNOD in the initial user namespace), and the
// ones bound from the host keep the host's permissions for this user.
func planRootless(plan *bundlePlan, id string, x *explain.Narrator) error {
	cg, name, err := planCgroup(plan.spec, id)
	if err != nil {
		return err
	}
	if r := plan.spec.Linux.Resources; r != nil && len(r.Devices) > 0 {
		x.Note("rootless: linux.resources.devices not enforced: no device node can be made in a user namespace")
	}
	plan.cgroup, plan.devices = nil, nil
	if cg == nil || cg.limits == (cgroup.Limits{}) {
		return nil
	}
	host, err := cgroup.Delegated(cg.limits, x)
	if err != nil {
		return fmt.Errorf("linux.resources: rootless: %w", err)
	}
	if err := cg.limits.Check(host); err != nil {
		return fmt.Errorf("linux.resources: %w", err)
	}
	plan.cgroup, plan.cgroupName = &cgroupPlan{host: host, limits: cg.limits, parent: cg.parent}, name
	return nil
}

// setgroupsDenied says whether this process's user namespace refuses
// setgroups(2): "deny" in /proc/self/setgroups, which an unprivileged
// writer of a gid map must write first (user_namespaces(7)).
func setgroupsDenied() bool {
	data, _ := os.ReadFile("/proc/self/setgroups")
	return strings.TrimSpace(string(data)) == "deny"
}

// rootless says whether this run is a user's other than root: `run` then
// goes into a user namespace of its own (rootlessMaps).
func rootless() bool { return os.Geteuid() != 0 }

// RootlessDataDir is where a user other than root keeps what outlives a
// run (its image store, the containers' mount points):
// image.UserDataDir, $XDG_DATA_HOME/minicontainer.
func RootlessDataDir() (string, error) { return image.UserDataDir() }

// containersDir is ContainersDir for root, else RootlessDataDir's
// containers/: there each container's scratch dir is only a mount point,
// the init mounts a tmpfs on it (rootfs.Overlay.UserNS).
func containersDir() (string, error) {
	if !rootless() {
		return ContainersDir, nil
	}
	d, err := RootlessDataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "containers"), nil
}

// rootlessMaps are a rootless run's maps, podman's (userns.Rootless): the
// caller's uid and gid are 0 inside, and its ranges in /etc/subuid and
// /etc/subgid, if any, follow from 1. note is one line for the user
// when it has no range.
func rootlessMaps() (uids, gids []specs.LinuxIDMapping, note string, err error) {
	uid, gid := os.Geteuid(), os.Getegid()
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	subuids, err := userns.SubIDs(userns.SubUIDFile, name, uid)
	if err != nil {
		return nil, nil, "", err
	}
	subgids, err := userns.SubIDs(userns.SubGIDFile, name, uid)
	if err != nil {
		return nil, nil, "", err
	}
	if len(subuids) == 0 || len(subgids) == 0 {
		// Both or neither: a uid range without a gid range would give
		// files of ids whose group is unmapped.
		subuids, subgids = nil, nil
		note = fmt.Sprintf("rootless: %s has no range in %s and %s: only your own ids are mapped (0 inside), chown to any other id will fail", name, userns.SubUIDFile, userns.SubGIDFile)
	}
	return userns.Rootless(uint32(uid), subuids), userns.Rootless(uint32(gid), subgids), note, nil
}
