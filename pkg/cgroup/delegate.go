package cgroup

// Rootless limits: a cgroup v2 subtree delegated to the user.
//
// Only root may make cgroups in a hierarchy's own tree. cgroup v2 lets a
// subtree be handed to a user instead ("delegation", the kernel's
// Documentation/admin-guide/cgroup-v2.rst, "Delegation"): the user gets
// write access to a cgroup's directory and to its cgroup.procs,
// cgroup.threads and cgroup.subtree_control files, and may then make
// cgroups below it, enable the controllers it was given for them, set
// their limits (the files of a cgroup the user made belong to the user)
// and move its own processes between them. systemd does this for every
// logged-in user: user@UID.service, the user's service manager, is
// delegated to UID (systemd's "Control Group APIs and Delegation"), with
// the controllers user@.service's Delegate= names (pids, memory and cpu
// on recent systemd releases).
//
// A rootless container's cgroup goes into the subtree the caller's own
// cgroup is in:
//
//	/proc/self/cgroup        0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u5.scope
//	delegation root          /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service
//	                         (yours; its parent user-1000.slice is root's)
//	the container's cgroup   <delegation root>/minicontainer/ID
//
// The root is found by walking up from the caller's cgroup while the
// user may write the cgroup (its directory, cgroup.procs and
// cgroup.subtree_control); the last such cgroup is where the delegation
// begins. Three rules of cgroup-v2.rst decide the rest:
//   - Top-down constraint: a controller can be enabled for the children
//     of a cgroup only if its parent enabled it for it, so a limit needs
//     its controller in the root's cgroup.controllers (what was
//     delegated); one that is not there is refused, naming the file.
//   - No internal process constraint: a (non-root) cgroup that enables
//     controllers for its children may hold no processes itself, so the
//     container's cgroup is never the caller's own: it goes one level
//     below minicontainer/, which holds no process, beside the caller's
//     cgroup; a root that holds processes itself cannot pass controllers
//     on, and is refused.
//   - Delegation containment: moving a process from one cgroup to another
//     (cgroup.procs, or clone3(2)'s CLONE_INTO_CGROUP) needs write access
//     to the cgroup.procs of their common ancestor. The caller's cgroup
//     and the container's are both below the root, whose cgroup.procs the
//     user may write: the init can be born in its cgroup.
//
// systemd itself asks (as podman does) for a scope of its own with
// Delegate=yes over D-Bus; this runtime has no D-Bus client and drives
// cgroupfs only, as runc's cgroupfs driver does. A caller outside any
// delegated subtree (an ssh login's session-N.scope is root's) is told to
// start minicontainer under its service manager: `systemd-run --user
// --scope minicontainer run ...`.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Delegation is what a user other than root may do with cgroups here: the
// cgroup v2 subtree delegated to it, if any, around the caller's cgroup.
type Delegation struct {
	Mount string // where the cgroup2 hierarchy is mounted, "/sys/fs/cgroup"
	Own   string // the caller's cgroup below Mount, "/user.slice/.../run-u5.scope"
	// Root is the delegation root below Mount ("/user.slice/.../user@1000.service"),
	// "" when the caller's cgroup is not in a subtree the user may write.
	Root        string
	Controllers []string // the root's cgroup.controllers: what was delegated
	Enabled     []string // the root's cgroup.subtree_control
	Busy        bool     // the root holds processes itself (cgroup.procs not empty)
	Mode        Mode     // the host's: on a hybrid host the cgroup2 has no controllers
}

// ParseProcCgroup finds the caller's cgroup v2 path in the text of
// /proc/self/cgroup (see cgroups(7), /proc/PID/cgroup): the line
// "0::/path" is the unified hierarchy's (hierarchy ID 0, no controller
// list). A v1 hierarchy's lines ("4:memory:/...") are skipped.
func ParseProcCgroup(text string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || id != "0" {
			continue
		}
		ctrls, p, ok := strings.Cut(rest, ":")
		if !ok || ctrls != "" {
			continue
		}
		// cgroup_namespaces(7): a cgroup outside the reader's cgroup
		// namespace shows as "/.." and above.
		if !strings.HasPrefix(p, "/") || p == "/.." || strings.HasPrefix(p, "/../") {
			return "", fmt.Errorf("/proc/self/cgroup: the cgroup v2 path %q is outside this cgroup namespace", p)
		}
		return path.Clean(p), nil
	}
	return "", errors.New("/proc/self/cgroup has no cgroup v2 line (0::/PATH): this host has no cgroup2 hierarchy")
}

// FindDelegation looks for the delegation root above own, the caller's
// cgroup below the cgroup2 mount: the highest cgroup from own up that the
// caller may manage (mayWrite its directory, cgroup.procs and
// cgroup.subtree_control), every cgroup between them being so too. The
// hierarchy's root cgroup is never one: it is the host's. mayWrite is
// the permission check (the kernel's, access(2), outside tests). x
// narrates why the root is where it is.
func FindDelegation(mount, own string, mayWrite func(path string) bool, x *explain.Narrator) (*Delegation, error) {
	d := &Delegation{Mount: mount, Own: own, Mode: Unified}
	yours := func(cg string) bool {
		dir := filepath.Join(mount, cg)
		return cg != "/" && mayWrite(dir) && mayWrite(filepath.Join(dir, "cgroup.procs")) &&
			mayWrite(filepath.Join(dir, "cgroup.subtree_control"))
	}
	x.Note("rootless cgroup: yours is %s (the 0:: line of /proc/self/cgroup, see cgroups(7))", filepath.Join(mount, own))
	if !yours(own) {
		x.Note("rootless cgroup: you may not write %s (or its cgroup.procs, cgroup.subtree_control): nothing is delegated to you here (cgroup-v2.rst, \"Model of Delegation\")", filepath.Join(mount, own))
		return d, nil
	}
	root := own
	for yours(path.Dir(root)) {
		root = path.Dir(root)
	}
	d.Root = root
	dir := filepath.Join(mount, root)
	x.Note("rootless cgroup: delegation root %s: you may write it, its cgroup.procs and cgroup.subtree_control, but not its parent %s (cgroup-v2.rst, \"Model of Delegation\")",
		dir, filepath.Join(mount, path.Dir(root)))
	for _, f := range []struct {
		name string
		into *[]string
	}{{"cgroup.controllers", &d.Controllers}, {"cgroup.subtree_control", &d.Enabled}} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, f.name), err)
		}
		*f.into = strings.Fields(string(data))
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "cgroup.procs"), err)
	}
	d.Busy = strings.TrimSpace(string(procs)) != ""
	busy := ""
	if d.Busy {
		busy = ", and holds processes itself (cgroup.procs)"
	}
	x.Note("rootless cgroup: %s offers %q (cgroup.controllers) and enables %q for its children (cgroup.subtree_control)%s",
		dir, strings.Join(d.Controllers, " "), strings.Join(d.Enabled, " "), busy)
	return d, nil
}

// Check refuses, in one line, limits this delegation cannot apply: no
// delegation at all, a controller the root was not given, a root that
// holds processes (and so may not enable controllers for children). It
// creates nothing.
func (d *Delegation) Check(l Limits) error {
	need := l.Controllers()
	if len(need) == 0 {
		return nil
	}
	what := fmt.Sprintf("the %s limit needs", need[0])
	if len(need) > 1 {
		what = fmt.Sprintf("the %s and %s limits need", strings.Join(need[:len(need)-1], ", "), need[len(need)-1])
	}
	if d.Root == "" {
		// The cgroup itself is in -x's narration; the line stays the same
		// wherever the caller runs.
		return fmt.Errorf("%s a cgroup v2 subtree delegated to you, and your cgroup (see /proc/self/cgroup) is not in one: "+
			"run minicontainer inside one, as `systemd-run --user --scope minicontainer run ...` does, or as root", what)
	}
	dir := filepath.Join(d.Mount, d.Root)
	for _, c := range need {
		if !slices.Contains(d.Controllers, c) {
			why := "not delegated to you"
			if d.Mode == Hybrid {
				why = "this hybrid host has its controllers in cgroup v1, whose cgroups only root may make"
			}
			return fmt.Errorf("the %s limit needs the %s controller, and %s does not list it (%s): run as root, or without that limit",
				c, c, filepath.Join(dir, "cgroup.controllers"), why)
		}
	}
	if d.Busy {
		return fmt.Errorf("%s controllers enabled in %s, and that cgroup holds processes itself, which cgroup v2 forbids (\"no internal process\" rule): "+
			"start minicontainer from a child cgroup of it (`systemd-run --user --scope minicontainer run ...`)",
			what, filepath.Join(dir, "cgroup.subtree_control"))
	}
	return nil
}

// Host is the host to create the container's cgroup on: the v2 driver
// with the delegation root as its hierarchy root, so that it makes,
// enables and removes nothing above it, and enables in it and below only
// the controllers l needs (the root's cgroup.subtree_control is shared
// with the user's other cgroups, systemd's among them).
func (d *Delegation) Host(l Limits, onlineCPUs []int) *Host {
	return &Host{Mode: Unified, Unified: filepath.Join(d.Mount, d.Root), V2: d.Controllers, OnlineCPUs: onlineCPUs,
		Delegated: d.Root, enable: l.Controllers()}
}

// Delegated is a rootless run's cgroup host for limits l: the subtree
// delegated to the caller (FindDelegation on this host's cgroup2 and
// /proc/self/cgroup), refused in one line when l cannot be applied there
// (Check). x narrates the search.
func Delegated(l Limits, x *explain.Narrator) (*Host, error) {
	h, err := Detect()
	if err != nil {
		return nil, err
	}
	if h.Unified == "" {
		return nil, fmt.Errorf("limits need a cgroup v2 subtree delegated to you, and this host has no cgroup2 hierarchy (%s, whose cgroups only root may make): run as root, or without limits", h.Mode)
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("finding your cgroup: %w", err)
	}
	own, err := ParseProcCgroup(string(data))
	if err != nil {
		return nil, err
	}
	d, err := FindDelegation(h.Unified, own, mayWrite, x)
	if err != nil {
		return nil, err
	}
	d.Mode = h.Mode
	if err := d.Check(l); err != nil {
		return nil, err
	}
	return d.Host(l, h.OnlineCPUs), nil
}

// mayWrite asks the kernel whether this process may write path, with its
// effective ids (faccessat(2) with AT_EACCESS): cgroupfs checks a write
// to a cgroup file against the file's owner and mode, as any file system.
func mayWrite(path string) bool {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS) == nil
}

// InDelegation makes h the host of a delegated subtree, root below its
// cgroup2 mount (Host.Delegated, as recorded with a container), so that
// gc, stats, exec and delete open the container's cgroup where it was
// made.
func (h *Host) InDelegation(root string) error {
	if h.Unified == "" {
		return fmt.Errorf("this host has no cgroup2 hierarchy (%s)", h.Mode)
	}
	root = path.Clean("/" + root)
	dir := filepath.Join(h.Unified, root)
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, "cgroup.controllers"), err)
	}
	h.Mode, h.Unified, h.V2, h.Hierarchy, h.Delegated = Unified, dir, strings.Fields(string(data)), nil, root
	return nil
}
