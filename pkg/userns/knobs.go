package userns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ProcSys is where the sysctls are (proc(5)); tests point Forbidden
// elsewhere.
const ProcSys = "/proc/sys"

// A knob is a sysctl that can forbid new user namespaces: to everyone, or
// only to unprivileged users (a process with CAP_SYS_ADMIN is exempt from
// the last two).
var knobs = []struct {
	name      string // sysctl(8)'s spelling
	forbids   string // the value that forbids
	allowedTo string // the value that allows
	root      bool   // forbids root too
	why       string
}{
	// user_namespaces(7), /proc/sys/user: the number of user namespaces a
	// user may create; 0 refuses clone(2) and unshare(2) with ENOSPC.
	{"user.max_user_namespaces", "0", "15000", true, "no user namespace may be created"},
	// Ubuntu 23.10 and later, with AppArmor: only programs whose profile
	// has "userns" may create one without CAP_SYS_ADMIN.
	{"kernel.apparmor_restrict_unprivileged_userns", "1", "0", false, "AppArmor lets no unprivileged program create a user namespace"},
	// Debian's kernels before 5.10 (and some others), patched:
	// unprivileged user namespaces off.
	{"kernel.unprivileged_userns_clone", "0", "1", false, "unprivileged user namespaces are switched off"},
}

// Forbidden returns an error naming the sysctl to change when one forbids
// a process with privileged (root) or without it to create a user
// namespace; nil when none does. A knob the kernel does not have forbids
// nothing. procSys is ProcSys but in tests.
func Forbidden(procSys string, privileged bool) error {
	for _, k := range knobs {
		if privileged && !k.root {
			continue
		}
		path := filepath.Join(procSys, strings.ReplaceAll(k.name, ".", "/"))
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(data)) == k.forbids {
			return fmt.Errorf("user namespaces are forbidden here: %s is %s (%s); as root: sysctl -w %s=%s",
				k.name, k.forbids, k.why, k.name, k.allowedTo)
		}
	}
	return nil
}
