package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/fault"
)

// A container's cgroup (see pkg/cgroup and docs/07-cgroups.md):
//
//  1. validate: parse --memory/--pids/--cpus/..., detect the host's cgroup
//     mode, refuse what the host cannot do — before anything exists.
//  2. setupCgroup, before the init starts: record it in state.json (so gc
//     finds it), make <parent>/<ID> in every hierarchy, write the limits.
//  3. The init must be in the cgroup before the user's command runs:
//     - v2: clone3(CLONE_INTO_CGROUP) puts it there as it is born
//       (SysProcAttr.UseCgroupFD), and CLONE_NEWCGROUP at the same clone
//       makes that cgroup the root of its cgroup namespace;
//     - v1: CLONE_INTO_CGROUP needs cgroup2, so the host step "cgroup"
//       writes the PID into each hierarchy's cgroup.procs while the init
//       waits on the sync socket, and the init then unshare(2)s its cgroup
//       namespace itself — were it made at clone, its root would be the
//       cgroup minicontainer runs in, and the container would see
//       /../../minicontainer/ID instead of / (runc orders it the same way);
//     - both: the container gets a cgroup of its own in EVERY hierarchy
//       the host has, also those whose controllers it does not use
//       (devices, blkio, name=systemd, a hybrid host's cgroup2), so that
//       each is "/" in its namespace; --cgroup2 on a hybrid host is born
//       in its cgroup2 cgroup, then placed in the v1 ones like v1.
//  4. Inside, /sys/fs/cgroup is mounted read-only (cgroup.ContainerMounts).
//  5. At the end: was PID 1 killed by the OOM killer? Then say so. The undo
//     kills what is left in the cgroup and removes it (and the parent, if
//     empty); gc does the same for a run that was SIGKILLed.

// DefaultCgroupParent is the directory under each cgroup hierarchy that
// holds the containers' cgroups (as runc's cgroupsPath /minicontainer/ID).
const DefaultCgroupParent = cgroup.Parent

// cgroupPlan is what validation found: the host, the parsed limits.
type cgroupPlan struct {
	host   *cgroup.Host
	limits cgroup.Limits
	parent string
}

// MinPidsWithInit is the smallest --pids accepted with --init: the tiny
// init stays PID 1 as a Go program beside the command, and its runtime's
// threads count against pids.max for the container's whole life. On a
// loaded host the container failed to start ("fork/exec: resource
// temporarily unavailable", exit 126) 5 times in 100 at 10 and once in 100
// at 12, never in 150 at 14; 16 leaves a margin.
const MinPidsWithInit = 16

// validateCgroup parses and checks the resource flags against the host. A
// host without any cgroup file system runs containers without a cgroup,
// unless limits were asked for.
func (c *Config) validateCgroup(x *explain.Narrator) (*cgroupPlan, error) {
	limits, err := c.Resources.Limits()
	if err != nil {
		return nil, err
	}
	if c.Init && limits.Pids != 0 && limits.Pids < MinPidsWithInit {
		return nil, fmt.Errorf("--pids %d: the minimum with --init is %d: the init stays a Go program beside the command, and each of its threads counts as a task",
			limits.Pids, MinPidsWithInit)
	}
	if c.CgroupParent == "" {
		c.CgroupParent = DefaultCgroupParent
	}
	// One directory name, no path: the rule of container names (ValidName).
	if !ValidName(c.CgroupParent) {
		return nil, fmt.Errorf("--cgroup-parent %q: want one directory name (letters, digits, _ . -)", c.CgroupParent)
	}
	if rootless() {
		return c.rootlessCgroup(limits, x)
	}
	host, err := cgroup.Detect()
	if errors.Is(err, cgroup.ErrCgroupsHidden) && limits == (cgroup.Limits{}) && !c.CgroupV2 {
		// No limit asked for: run, as on a host without cgroups, and say
		// why under --explain. (Lesson 08 runs every container this way;
		// a line on stderr would be in all its transcripts.)
		x.Note("no cgroup for this container: %v", err)
		return nil, nil
	}
	if errors.Is(err, cgroup.ErrCgroupsHidden) {
		return nil, fmt.Errorf("cannot apply resource limits: %w", err)
	}
	if err != nil {
		if limits != (cgroup.Limits{}) || c.CgroupV2 {
			return nil, fmt.Errorf("cannot apply resource limits: %w", err)
		}
		return nil, nil
	}
	if c.CgroupV2 {
		if err := host.UseUnified(); err != nil {
			return nil, fmt.Errorf("--cgroup2: %w", err)
		}
	}
	if err := limits.Check(host); err != nil {
		return nil, err
	}
	return &cgroupPlan{host: host, limits: limits, parent: c.CgroupParent}, nil
}

// rootlessCgroup is validateCgroup for a user other than root. Without
// limits there is no cgroup: the container stays in its caller's (as a
// rootless podman with --cgroups=disabled). With limits, the cgroup goes
// into the cgroup v2 subtree delegated to the caller (cgroup.Delegated,
// <delegation root>/<parent>/ID); where there is none, or it lacks a
// controller, the limit is refused in one line, never silently dropped.
func (c *Config) rootlessCgroup(limits cgroup.Limits, x *explain.Narrator) (*cgroupPlan, error) {
	if limits == (cgroup.Limits{}) {
		return nil, nil
	}
	host, err := cgroup.Delegated(limits, x)
	if err != nil {
		return nil, fmt.Errorf("rootless: %w", err)
	}
	if err := limits.Check(host); err != nil {
		return nil, err
	}
	return &cgroupPlan{host: host, limits: limits, parent: c.CgroupParent}, nil
}

// parseRecorded splits a Resource{Kind: "cgroup"} name,
// "DRIVER:PARENT/ID". PARENT may have several levels, or none (a Spec's
// cgroupsPath "/ID"). A "v2user" cgroup names its delegation root first,
// "v2user:ROOT:PARENT/ID" (ROOT may hold a colon, PARENT and ID may not).
func parseRecorded(name string) (driver, delegated, parent, id string, err error) {
	driver, path, _ := strings.Cut(name, ":")
	if driver == "v2user" {
		j := strings.LastIndex(path, ":")
		if j <= 0 {
			return "", "", "", "", fmt.Errorf("bad cgroup resource %q", name)
		}
		delegated, path = path[:j], path[j+1:]
	}
	i := strings.LastIndex(path, "/")
	if i < 0 || (driver != "v1" && driver != "v2" && driver != "v2user") {
		return "", "", "", "", fmt.Errorf("bad cgroup resource %q", name)
	}
	return driver, delegated, path[:i], path[i+1:], nil
}

// resource is how state.json records the container's cgroup,
// "v1:minicontainer/ID", or "v2user:/DELEGATION/ROOT:minicontainer/ID" in
// a subtree delegated to a user: gc and stats open it with the same
// driver, in the same place.
func (p *cgroupPlan) resource(id string) Resource {
	name := p.host.Driver() + ":"
	if p.host.Delegated != "" {
		name += p.host.Delegated + ":"
	}
	return Resource{Kind: "cgroup", Name: name + p.parent + "/" + id}
}

// setupCgroup creates the container's cgroup, name, with its limits and
// device rules (nil: none written). The undo is registered before
// anything is made, so a failure half way is cleaned up.
func (c *Container) setupCgroup(p *cgroupPlan, name string, devices []cgroup.DeviceRule) error {
	if p == nil {
		return nil
	}
	cg, err := cgroup.New(p.host, p.parent, name, c.x)
	if err != nil {
		return err
	}
	// create recorded it in state.json already (plan.resource).
	theirs := false
	c.OnCleanup(cgroupUndo(cg, &theirs))
	c.x.Note("cgroup (%s): %s", p.host.Mode, strings.Join(cg.Paths(), " "))
	if err := cg.Create(); err != nil {
		theirs = errors.Is(err, cgroup.ErrExists)
		return err
	}
	if err := fault.Point(c.x, "cgroup"); err != nil {
		return err
	}
	if err := cg.Apply(p.limits); err != nil {
		return err
	}
	if err := fault.Point(c.x, "cgroup-limits"); err != nil {
		return err
	}
	if devices != nil {
		if err := cg.SetDevices(devices, c.x); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	c.cgroup, c.cgroupPlan = cg, p
	return nil
}

// cgroupUndo is the undo of a container's cgroup, registered before
// Create so that a run that fails half way is cleaned up: kill what is
// left in it and remove it, unless Create found it there (*theirs:
// cgroup.ErrExists, another container's cgroupsPath or one gc has not
// reclaimed), whose processes and directories are not this container's.
func cgroupUndo(cg cgroup.Cgroup, theirs *bool) func() error {
	return func() error {
		if *theirs {
			return nil
		}
		if err := cg.KillAll(); err != nil {
			return err
		}
		return cg.Destroy()
	}
}

// cgroupClone sets up how the init enters the cgroup: the clone flags to
// use and, on v2, the cgroup descriptor for CLONE_INTO_CGROUP. It returns
// whether the init must unshare its cgroup namespace itself (v1), and a
// function that closes the descriptor once the init has started.
func (c *Container) cgroupClone(attr *syscall.SysProcAttr) (unshareInInit bool, done func(), err error) {
	done = func() {}
	if c.cgroup == nil {
		return false, done, nil
	}
	f, ok, err := c.cgroup.CloneFD()
	if err != nil {
		return false, done, err
	}
	if ok {
		attr.UseCgroupFD, attr.CgroupFD = true, int(f.Fd())
		done = func() { f.Close() }
		if c.cgroup.Joined() {
			return false, done, nil
		}
	}
	// The init is placed in (the rest of) its cgroups after clone, by
	// the host step: the namespace must wait for that (see step 3).
	attr.Cloneflags &^= unix.CLONE_NEWCGROUP
	return true, done, nil
}

// placeInCgroup is the host step for v1: the init exists and waits; put it
// in the cgroup before it may go on. (On v2 it was born there.)
func placeInCgroup(c *Container) error {
	if c.cgroup == nil || c.placedAtClone {
		return nil
	}
	return c.cgroup.Add(c.State.Pid)
}

// reportOOM tells the user that PID 1 was killed by the OOM killer rather
// than by someone's SIGKILL: the cgroup counted an OOM kill.
func (c *Container) reportOOM(status syscall.WaitStatus, w io.Writer) {
	if c.cgroup == nil || !status.Signaled() || status.Signal() != unix.SIGKILL {
		return
	}
	st, err := c.cgroup.Stats()
	if err != nil || st.OOMKills == 0 {
		return
	}
	c.x.Note("the cgroup counted %d OOM kill(s); memory peak %d bytes", st.OOMKills, st.MemoryPeak)
	if limit := c.cgroupPlan.limits.Memory; limit > 0 {
		fmt.Fprintf(w, "minicontainer: container killed: out of memory (limit %s)\n", cgroup.FormatSize(limit))
	} else { // the host ran out (memory.events counts any OOM kill of its tasks)
		fmt.Fprintf(w, "minicontainer: container killed: out of memory\n")
	}
}

// unshareCgroupNS is the init's side of step 3 on v1: now that the parent
// has put it in its cgroup, a new cgroup namespace makes that cgroup "/".
// unshare(2) affects the calling thread only, so the init stays locked to
// this thread until it execs (the command inherits the thread's namespaces).
func unshareCgroupNS(x *explain.Narrator) error {
	runtime.LockOSThread() // never unlocked: this thread becomes the command
	err := unix.Unshare(unix.CLONE_NEWCGROUP)
	x.Call("unshare(2)", "unshare(CLONE_NEWCGROUP)", nil, err)
	if err != nil {
		return fmt.Errorf("unshare(CLONE_NEWCGROUP): %w", err)
	}
	return nil
}

// openRecorded opens the cgroup a Resource{Kind: "cgroup"} names (see
// parseRecorded) with the driver it was made with, where it was made.
func openRecorded(name string) (cgroup.Cgroup, error) {
	driver, delegated, parent, id, err := parseRecorded(name)
	if err != nil {
		return nil, err
	}
	host, err := cgroup.Detect()
	if err != nil {
		return nil, err
	}
	if driver == "v2user" {
		if err := host.InDelegation(delegated); err != nil {
			return nil, err
		}
	} else if driver == "v2" {
		if err := host.UseUnified(); err != nil {
			return nil, err
		}
	} else if host.Mode == cgroup.Unified {
		return nil, fmt.Errorf("cgroup %s was made on cgroup v1; this host is v2 now", name)
	}
	return cgroup.New(host, parent, id, nil)
}

// reclaimCgroup is gc's reclaimer for a Resource{Kind: "cgroup"}: kill
// what is left in the cgroup and remove it.
func reclaimCgroup(r Resource) error {
	cg, err := openRecorded(r.Name)
	if err != nil {
		return err
	}
	if err := cg.KillAll(); err != nil {
		return err
	}
	return cg.Destroy()
}

// PrintStats writes the resource use of running containers (all of them,
// or the one whose ID starts with, or whose name is, which), like docker
// stats --no-stream.
func PrintStats(w io.Writer, root, which string) error {
	states, err := List(root)
	if err != nil {
		return err
	}
	if which != "" {
		// A name or an ID prefix, resolved once (Resolve: the exact name
		// wins; an ambiguous prefix is an error, not two rows).
		id, err := Resolve(root, which)
		if errors.Is(err, ErrNotExist) {
			return fmt.Errorf("no running container %q", which)
		}
		if err != nil {
			return err
		}
		which = id
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMEMORY\tPEAK\tLIMIT\tPIDS\tCPU\tOOM KILLS")
	found := false
	for _, s := range states {
		if which != "" && s.ID != which {
			continue
		}
		if s.Status() != "running" {
			continue
		}
		var name string
		for _, r := range s.Resources {
			if r.Kind == "cgroup" {
				name = r.Name
			}
		}
		if name == "" {
			continue // ran without a cgroup
		}
		cg, err := openRecorded(name)
		if err != nil {
			return err
		}
		st, err := cg.Stats()
		if errors.Is(err, os.ErrNotExist) {
			continue // ended just now
		}
		if err != nil {
			return fmt.Errorf("stats of %s: %w", short(s.ID), err)
		}
		found = true
		limit, pids := "-", fmt.Sprint(st.PidsCurrent)
		if st.MemoryLimit > 0 {
			limit = humanSize(uint64(st.MemoryLimit))
		}
		if st.PidsLimit > 0 {
			pids += fmt.Sprintf("/%d", st.PidsLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", short(s.ID), s.Name, humanSize(st.MemoryCurrent),
			humanSize(st.MemoryPeak), limit, pids, st.CPUUsage.Round(time.Millisecond), st.OOMKills)
	}
	if which != "" && !found {
		return fmt.Errorf("no running container %q", which)
	}
	return tw.Flush()
}

// humanSize is bytes in binary units with one decimal: "1.5MiB".
func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f%s", v, []string{"B", "KiB", "MiB", "GiB", "TiB"}[u])
}
