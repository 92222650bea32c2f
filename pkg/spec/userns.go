package spec

import (
	"errors"
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/userns"
)

// checkUserNamespace: a "user" namespace and linux.uidMappings and
// gidMappings go together (config-linux.md, "User namespace mappings").
// A new one needs both maps, each valid by the kernel's rules (userns.Check):
// without a map its processes would be nobody, 65534, with no capability
// after execve(2). Maps without a new user namespace are refused, as runc
// refuses them: they would map nothing. Joining one by path is not
// supported: setns(2) into a user namespace needs a single-threaded
// process (pkg/nsenter), and the bundle's init is a Go program.
func checkUserNamespace(s *specs.Spec, _ string) error {
	l := linux(s)
	newNS := false
	for i, n := range l.Namespaces {
		if n.Type != specs.UserNamespace {
			continue
		}
		if n.Path != "" {
			return bad(fmt.Sprintf("linux.namespaces[%d].path", i), "joining a user namespace by path is not supported yet")
		}
		newNS = true
	}
	if !newNS {
		if len(l.UIDMappings) > 0 {
			return bad("linux.uidMappings", "maps ids, but linux.namespaces has no \"user\" namespace")
		}
		if len(l.GIDMappings) > 0 {
			return bad("linux.gidMappings", "maps ids, but linux.namespaces has no \"user\" namespace")
		}
		return nil
	}
	for _, m := range []struct {
		path string
		maps []specs.LinuxIDMapping
	}{{"linux.uidMappings", l.UIDMappings}, {"linux.gidMappings", l.GIDMappings}} {
		if len(m.maps) == 0 {
			return bad(m.path, "a new \"user\" namespace needs a map: without one its processes are nobody (65534) and lose every capability at execve(2)")
		}
		var me *userns.MapError
		if err := userns.Check(m.path, m.maps); errors.As(err, &me) {
			return bad(me.Field, "%s", me.Msg)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// withUserNS gives s a new user namespace with these maps, first among
// its namespaces (runc creates it first, so that it owns the others), and
// adapts the two mounts a user namespace cannot make as Default has them
// (mount(2) refuses both with EINVAL or EPERM):
//   - devpts's gid=5 (tty) when gid 5 has no map: the kernel refuses an
//     unmapped gid (`runc spec --rootless` drops it too);
//   - sysfs without a network namespace of the container's own: only the
//     owner of the network namespace may mount sysfs (sysfs shows its
//     devices), so the host's /sys is bound in instead, read-only, as
//     runc's rootless spec does.
func withUserNS(s *specs.Spec, uids, gids []specs.LinuxIDMapping) {
	s.Linux.Namespaces = append([]specs.LinuxNamespace{{Type: specs.UserNamespace}}, s.Linux.Namespaces...)
	s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
	netNS := slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
	for i, m := range s.Mounts {
		switch {
		case m.Type == "devpts":
			if _, ok := userns.ToHost(gids, 5); !ok {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "gid=5" })
			}
		case m.Type == "sysfs" && !netNS:
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}
