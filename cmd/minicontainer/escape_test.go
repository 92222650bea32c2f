package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// The escape suite (issue 10): what container root could do to the host
// before the confinement, tried inside a container. Each escape must fail
// under the defaults and succeed under --privileged or the --cap-add it
// names, so that every row can fail: a row that never escapes would prove
// nothing about the defaults. Every demonstration only reads, or writes
// back the value it read; hostcheck runs around each, and the host
// settings the rows touch are compared before and after (hostValues).
//
// The container is `minicontainer run` with the flags; the two rows that
// change the Spec where no flag can (edit) run it as a bundle.

// escape is one row.
type escape struct {
	name   string
	script string   // sh -c SCRIPT: exit 0 means it escaped
	with   []string // the flags under which it must succeed
	flags  []string // flags for both legs
	denied string   // in the default leg's output: it failed for this reason
	// edit changes the Spec of both legs where no flag says it (the
	// release_agent row needs the host's cgroup namespace, as Docker on
	// cgroup v1 gave it).
	edit func(*specs.Spec)
	// skip says why this host cannot run the row ("" when it can).
	skip func(e *escapeEnv) string
	// hostOnly: the escaping leg acts on the host itself (a marker only),
	// and runs only with MCTEST_ESCAPE_HOST=1.
	hostOnly bool
	// always: the row must fail under the escaping flags too, with this
	// in the output (a namespace that holds even for --privileged).
	always string
	// undo puts back what the escaping leg cannot help leaving, before
	// the host is compared.
	undo func(t *testing.T)
}

// escapeEnv is what the rows need to know of the host.
type escapeEnv struct {
	dir, root string // the test's dir and its rootfs copy (root.path)
	vars      []string
	noHandle  string // why name_to_handle_at does not work here
	noRootDev string // why the host's root device cannot be shown
	volume    string // the :ro volume's host dir
}

var escapeSeq atomic.Int32

// escapes is the table.
var escapes = []escape{
	{
		name:   "write core_pattern back to its own value",
		script: `cat /proc/sys/kernel/core_pattern > /tmp/cp && cat /tmp/cp > /proc/sys/kernel/core_pattern`,
		with:   []string{"--privileged"},
		denied: "Read-only file system",
	},
	{
		// MKNOD is one of Docker's 14, and SYSLOG is given to both legs
		// (reading /dev/kmsg needs it): only the device rules stop it.
		name:   "mknod c 1 11 (/dev/kmsg) and read it",
		script: `mknod /dev/kmsg2 c 1 11 && dd if=/dev/kmsg2 of=/tmp/kmsg bs=8192 count=1 && test -s /tmp/kmsg`,
		flags:  []string{"--cap-add", "SYSLOG"},
		with:   []string{"--privileged"},
		denied: "Operation not permitted",
	},
	{
		name:   "mount a tmpfs",
		script: `mkdir -p /tmp/m && mount -t tmpfs none /tmp/m`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
	},
	{
		name:   "mount a new proc and open core_pattern for writing",
		script: `mkdir -p /tmp/p && mount -t proc proc /tmp/p && : >> /tmp/p/sys/kernel/core_pattern`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
	},
	{
		name:   "mount a new sysfs and open uevent_helper for writing",
		script: `mkdir -p /tmp/s && mount -t sysfs none /tmp/s && : >> /tmp/s/kernel/uevent_helper`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
		skip: func(*escapeEnv) string {
			return missing("/sys/kernel/uevent_helper", "the kernel has no uevent_helper (CONFIG_UEVENT_HELPER unset)")
		},
	},
	{
		// CVE-2022-0492's road, shown with a marker file: the kernel runs
		// release_agent as host root in the host's namespaces, so the
		// agent is named by its host path, and writes a marker next to
		// it. A v1 hierarchy can be created only from the initial cgroup
		// namespace, hence the edit.
		name: "cgroup v1 release_agent through a new named hierarchy",
		script: `mkdir -p /tmp/c && mount -t cgroup -o none,name=mctest_escape cgroup /tmp/c || exit 1
mkdir /tmp/c/x && echo 1 > /tmp/c/x/notify_on_release
printf '#!/bin/sh\necho escaped > %s/agent-marker\n' "$HOSTROOT" > /agent && chmod +x /agent
echo "$HOSTROOT/agent" > /tmp/c/release_agent
sh -c 'echo $$ > /tmp/c/x/cgroup.procs'
i=0; while [ ! -e /agent-marker ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
i=0; until rmdir /tmp/c/x 2>/dev/null || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done
umount /tmp/c; cat /agent-marker`,
		with:   []string{"--privileged"},
		denied: "permission denied",
		edit: func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
		},
		skip:     func(*escapeEnv) string { return v1Missing() },
		hostOnly: true,
		// The kernel frees a v1 hierarchy at a umount that finds it
		// without children (cgroup_kill_sb); x, just removed, is still
		// dying at the container's umount, so the empty hierarchy stays,
		// listed in every process's /proc/PID/cgroup. The test unmounts
		// it again from the host.
		undo: removeHierarchy,
	},
	{
		name:   "unshare -U",
		script: `unshare -U true`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "Operation not permitted",
		skip: func(*escapeEnv) string {
			if err := exec.Command("unshare", "-U", "true").Run(); err != nil {
				return fmt.Sprintf("unshare -U fails on this host itself (%v): user namespaces off", err)
			}
			return ""
		},
	},
	{
		// "shocker" (2014): a file handle names an inode on the file
		// system, whatever the mount or the root; the test makes a
		// directory beside the rootfs copy, outside the container's root,
		// and gives its handle. The root is an overlay, so the mount fd
		// is the :ro volume's, a bind of the host's file system (the
		// original used /.dockerinit, a bind-mounted file, the same way).
		name:   "open_by_handle_at a directory outside the root (shocker)",
		script: `probe shocker $HANDLE /data`,
		with:   []string{"--cap-add", "DAC_READ_SEARCH"},
		denied: "EPERM",
		skip:   func(e *escapeEnv) string { return e.noHandle },
	},
	{
		name:   "add_key: the keyrings are not namespaced",
		script: `probe keys`,
		with:   []string{"--privileged"},
		denied: "add_key: operation not permitted",
	},
	{
		name:   "read /proc/timer_list (every task's timers on the host)",
		script: `test -n "$(head -c 100 /proc/timer_list)"`,
		with:   []string{"--privileged"},
		skip:   func(*escapeEnv) string { return missing("/proc/timer_list", "the kernel has no /proc/timer_list") },
	},
	{
		name:   "write /sys/fs/cgroup",
		script: `f=$(find /sys/fs/cgroup -maxdepth 2 -name cgroup.procs | head -n1) && echo $$ > "$f"`,
		with:   []string{"--privileged"},
		denied: "Read-only file system",
	},
	{
		// Without a UTS namespace of its own (a Spec may leave it out,
		// as --uts host does) the container shares the test's: the same
		// name goes back.
		name:   "sethostname on the host's UTS namespace",
		script: `hostname "$(hostname)"`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "Operation not permitted",
		edit: func(s *specs.Spec) {
			s.Hostname = ""
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace })
		},
	},
	{
		name:   "create a bpf() map",
		script: `probe bpfmap`,
		with:   []string{"--cap-add", "BPF"},
		denied: "EPERM",
	},
	{
		name:   "perf_event_open",
		script: `probe perf`,
		with:   []string{"--cap-add", "PERFMON"},
		denied: "EPERM",
		skip: func(*escapeEnv) string {
			// Debian's kernels add a level 3 to perf_event_paranoid (their
			// default): perf_event_open is then refused with EACCES to
			// anyone without CAP_SYS_ADMIN, so CAP_PERFMON alone cannot
			// escape there (seen on the v2 VM); the SYS_ADMIN rows cover it.
			v, _ := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
			if level, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil && level > 2 {
				return fmt.Sprintf("kernel.perf_event_paranoid is %d (Debian's level: CAP_SYS_ADMIN only), so CAP_PERFMON cannot open an event", level)
			}
			attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
			fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
			if err != nil {
				return fmt.Sprintf("perf_event_open fails on the host itself: %v", err)
			}
			unix.Close(fd)
			return ""
		},
	},
	{
		// The PID namespace holds even for --privileged: the host's
		// processes have no number inside.
		name:   "ptrace a host pid",
		script: `probe ptrace $HOSTPID`,
		with:   []string{"--privileged"},
		always: "ESRCH",
	},
	{
		// Tried: the mount reused the host's live superblock, and a
		// marker written there appeared in the host's /tmp. Here the
		// escaping leg only reads a marker the test made.
		name:   "mknod the host's root block device and mount it",
		script: `mknod /dev/hostroot b $ROOTMAJOR $ROOTMINOR && mkdir -p /tmp/r && mount -t $ROOTFSTYPE -o noatime /dev/hostroot /tmp/r || exit 1; cat "/tmp/r$MARKER"; r=$?; umount /tmp/r; exit $r`,
		with:   []string{"--privileged"},
		denied: "permission denied",
		skip:   func(e *escapeEnv) string { return e.noRootDev },
	},
	{
		// Tried: the host saw the limit go.
		name: "lift its own memory limit: remount cgroupfs rw and write the limit back",
		script: `if [ -d /sys/fs/cgroup/memory ]; then d=/sys/fs/cgroup/memory f=memory.limit_in_bytes; else d=/sys/fs/cgroup f=memory.max; fi
mount -o remount,bind,rw $d && cat $d/$f > /tmp/v && cat /tmp/v > $d/$f`,
		flags:  []string{"--memory", "64m"},
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
	},
	{
		// Tried: the host file changed.
		name:   "make a :ro volume writable",
		script: `mount -o remount,bind,rw /data && cat /data/f > /tmp/v && cat /tmp/v > /data/f`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
	},
	{
		// Tried: transparent_hugepage. Its file shows every choice with
		// the current one in brackets; that one goes back.
		name: "remount /sys rw and write a host-wide setting back (transparent_hugepage)",
		script: `t=/sys/kernel/mm/transparent_hugepage/enabled
mount -o remount,rw /sys && v=$(sed 's/.*\[\(.*\)\].*/\1/' $t) && echo "$v" > $t`,
		with:   []string{"--cap-add", "SYS_ADMIN"},
		denied: "permission denied",
		skip: func(*escapeEnv) string {
			return missing("/sys/kernel/mm/transparent_hugepage/enabled", "the kernel has no transparent hugepages")
		},
	},
	{
		// dmesg shows other containers' OOM kills with host PIDs.
		name:   "read the kernel log (dmesg)",
		script: `dmesg > /tmp/log && test -s /tmp/log`,
		with:   []string{"--cap-add", "SYSLOG"},
		denied: "Operation not permitted",
	},
	{
		name: "read real addresses in /proc/kallsyms",
		// The first address that is not zero: the per-CPU symbols at the
		// top of x86_64's list (fixed_percpu_data...) are at 0 for
		// everyone, so the first line alone proves nothing (it read 0 on
		// the v2 VM's Debian kernel even with CAP_SYSLOG).
		script: `a=$(grep -m1 -v '^0000000000000000 ' /proc/kallsyms | cut -d' ' -f1); echo "${a:-0000000000000000}"; [ -n "$a" ]`,
		with:   []string{"--cap-add", "SYSLOG"},
		denied: "0000000000000000",
		skip: func(*escapeEnv) string {
			if v, _ := os.ReadFile("/proc/sys/kernel/kptr_restrict"); strings.TrimSpace(string(v)) == "2" {
				return "kernel.kptr_restrict is 2: the addresses are hidden from everyone"
			}
			return ""
		},
	},
}

// missing is why when path does not exist, else "".
func missing(path, why string) string {
	if _, err := os.Stat(path); err != nil {
		return why
	}
	return ""
}

// v1Missing says why a named cgroup v1 hierarchy cannot be mounted here.
func v1Missing() string {
	data, _ := os.ReadFile("/proc/filesystems")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(l, "nodev")) == "cgroup" {
			return ""
		}
	}
	return "the kernel has no cgroup v1 file system"
}

// hostValues are the host-wide settings the rows write back, and the
// volume's file: Verify compares them too.
func hostValues(t *testing.T, e *escapeEnv) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"/proc/sys/kernel/core_pattern", "/sys/kernel/mm/transparent_hugepage/enabled",
		"/proc/sys/kernel/hostname", filepath.Join(e.volume, "f")} {
		data, _ := os.ReadFile(f)
		out[f] = string(data)
	}
	// A cgroup v1 hierarchy lives on after its last umount while it has
	// a child cgroup: every process's /proc/PID/cgroup would then list it.
	data, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "name=mctest_escape") {
			out["hierarchy"] = l
		}
	}
	return out
}

// removeHierarchy takes away a left named hierarchy: mounted, emptied of
// its child cgroups, unmounted (the kernel then frees it, cgroup_kill_sb).
func removeHierarchy(t *testing.T) {
	left := func() bool {
		data, _ := os.ReadFile("/proc/self/cgroup")
		return strings.Contains(string(data), "name=mctest_escape")
	}
	dir, err := os.MkdirTemp("", "mctest-escape-cg")
	if err != nil {
		t.Error(err)
		return
	}
	defer os.Remove(dir)
	// A child just removed may still be dying (its css offline but not
	// freed): try again until a umount frees the hierarchy.
	for i := 0; i < 50 && left(); i++ {
		if err := unix.Mount("cgroup", dir, "cgroup", 0, "none,name=mctest_escape"); err != nil {
			t.Errorf("remove the left hierarchy: %v", err)
			return
		}
		entries, _ := os.ReadDir(dir)
		for _, d := range entries {
			if d.IsDir() {
				os.Remove(filepath.Join(dir, d.Name()))
			}
		}
		unix.Unmount(dir, 0)
		time.Sleep(100 * time.Millisecond)
	}
}

// newEscapeEnv copies the test rootfs with the probe built into it, and
// finds what the rows need.
func newEscapeEnv(t *testing.T) *escapeEnv {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	e := &escapeEnv{dir: dir, root: filepath.Join(dir, "rootfs"), volume: filepath.Join(dir, "volume")}
	if out, err := exec.Command("cp", "-a", testRootfs, e.root).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v %s", err, out)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(e.root, "bin", "probe"), "./testdata/escape/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v %s", err, out)
	}
	os.MkdirAll(e.volume, 0o755)
	os.WriteFile(filepath.Join(e.volume, "f"), []byte("host data\n"), 0o644)

	// shocker: a directory outside the root, on the same file system.
	secret := filepath.Join(dir, "outside")
	os.MkdirAll(secret, 0o755)
	os.WriteFile(filepath.Join(secret, "marker"), []byte("mctest-outside-the-root\n"), 0o644)
	var handle string
	if h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, secret, 0); err != nil {
		e.noHandle = fmt.Sprintf("name_to_handle_at on the host: %v (the file system has no file handles)", err)
	} else {
		handle = fmt.Sprintf("%d %s", h.Type(), hex.EncodeToString(h.Bytes()))
	}

	// The host's root block device, and a marker on it.
	marker := filepath.Join(dir, "root-marker")
	os.WriteFile(marker, []byte("mctest-host-root-marker\n"), 0o644)
	var major, minor uint32
	var fstype string
	e.noRootDev = rootDevice(marker, &major, &minor, &fstype)

	e.vars = []string{
		"HOSTROOT=" + e.root, "HANDLE=" + handle, "HOSTPID=" + strconv.Itoa(os.Getpid()),
		"ROOTMAJOR=" + strconv.Itoa(int(major)), "ROOTMINOR=" + strconv.Itoa(int(minor)), "MARKER=" + marker, "ROOTFSTYPE=" + fstype,
	}
	return e
}

// rootDevice finds the block device of the host's / and checks that
// marker is on it under the same path (/ is that file system's root),
// and its type (busybox's mount, left to guess, reports the last type it
// tried); else it says why not.
func rootDevice(marker string, major, minor *uint32, fstype *string) string {
	var root, m unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return err.Error()
	}
	if err := unix.Stat(marker, &m); err != nil || m.Dev != root.Dev {
		return "the test's temporary dir is not on the root file system"
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[4] != "/" {
			continue
		}
		i := slices.Index(fields, "-")
		if fields[3] != "/" || i < 0 || !strings.HasPrefix(fields[i+2], "/dev/") {
			return "/ is not the root of a block device's file system: " + strings.Join(fields[i+1:i+3], " ")
		}
		*fstype = fields[i+1]
	}
	var st unix.Stat_t
	*major, *minor = unix.Major(root.Dev), unix.Minor(root.Dev)
	dev := fmt.Sprintf("/sys/dev/block/%d:%d", *major, *minor)
	if err := unix.Stat(dev, &st); err != nil {
		return fmt.Sprintf("/ is on device %d:%d, not a block device (%s)", *major, *minor, dev)
	}
	return ""
}

// leg runs row's script in a container with flags: `minicontainer run`
// with them, or, for a row whose edit changes what no flag says, the
// Spec from `minicontainer spec` with the same flags, edited, run with
// `run --bundle` (the road `run` takes too, through the same init).
func (e *escapeEnv) leg(t *testing.T, row escape, flags []string) result {
	t.Helper()
	args := []string{"--rootfs", e.root, "--net", "none", "-v", e.volume + ":/data:ro"}
	for _, v := range e.vars {
		args = append(args, "-e", v)
	}
	args = append(append(append(args, row.flags...), flags...), "--", "sh", "-c", row.script)
	if row.edit == nil {
		return mc(t, "", append([]string{"run"}, args...)...)
	}
	r := mc(t, "", append([]string{"spec"}, args...)...)
	if r.code != 0 {
		t.Fatalf("spec %q: exit %d: %s", flags, r.code, r.stderr)
	}
	var s specs.Spec
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	s.Linux.CgroupsPath = fmt.Sprintf("/mctest-escape/%d", escapeSeq.Add(1))
	row.edit(&s)
	bundle := t.TempDir()
	writeConfig(t, bundle, &s)
	return mc(t, "", "run", "--bundle", bundle)
}

// TestEscapes runs the table: each row fails under the defaults, and
// succeeds with its flags.
func TestEscapes(t *testing.T) {
	e := newEscapeEnv(t)
	hostOK := os.Getenv("MCTEST_ESCAPE_HOST") == "1"
	for _, row := range escapes {
		t.Run(row.name, func(t *testing.T) {
			if row.skip != nil {
				if why := row.skip(e); why != "" {
					t.Skip(why)
				}
			}
			defer hostcheck.Take(t, "mctest-escape", "process ", "mount ", "state ").Verify(t)
			before := hostValues(t, e)
			defer func() {
				after := hostValues(t, e)
				for k := range after {
					if _, ok := before[k]; !ok {
						before[k] = ""
					}
				}
				for k, v := range before {
					if after[k] != v {
						t.Errorf("the host changed: %s: %q, now %q", k, v, after[k])
					}
				}
			}()
			if row.undo != nil {
				defer row.undo(t)
			}
			def := e.leg(t, row, nil)
			t.Logf("default: exit %d: %s%s", def.code, def.stdout, def.stderr)
			want := row.denied
			if row.always != "" {
				want = row.always
			}
			if def.code == 0 {
				t.Errorf("escaped under the defaults: %s%s", def.stdout, def.stderr)
			} else if def.code == 125 {
				t.Errorf("the container did not start: %s", def.stderr)
			} else if want != "" && !strings.Contains(def.stdout+def.stderr, want) {
				t.Errorf("failed, but not with %q: %s%s", want, def.stdout, def.stderr)
			}
			if row.hostOnly && !hostOK {
				t.Logf("the %q leg acts on the host itself: set MCTEST_ESCAPE_HOST=1 to run it", strings.Join(row.with, " "))
				return
			}
			esc := e.leg(t, row, row.with)
			t.Logf("%s: exit %d: %s%s", strings.Join(row.with, " "), esc.code, esc.stdout, esc.stderr)
			switch {
			case row.always != "":
				if esc.code == 0 || !strings.Contains(esc.stdout+esc.stderr, row.always) {
					t.Errorf("%s: want a failure with %s", strings.Join(row.with, " "), row.always)
				}
			case esc.code != 0:
				t.Errorf("%s: did not escape (exit %d), so the row proves nothing: %s%s", strings.Join(row.with, " "), esc.code, esc.stdout, esc.stderr)
			}
		})
	}
}

// TestConfinedOrdinaryWork: what containers are for still works under the
// defaults: a shell, chown, ping (CAP_NET_RAW) in the container's own
// network namespace, a server on port 80 (CAP_NET_BIND_SERVICE); and
// /proc/self/status shows the confinement as amicontained reads it.
func TestConfinedOrdinaryWork(t *testing.T) {
	e := newEscapeEnv(t)
	defer hostcheck.Take(t, "mctest-escape", "process ", "mount ", "state ").Verify(t)
	for _, c := range []struct {
		name, script, want string
		flags              []string
	}{
		{"shell", `echo hello from $(busybox | head -n1 | cut -d' ' -f1-2)`, "hello from BusyBox", nil},
		{"chown", `touch /tmp/o && chown 1:2 /tmp/o && stat -c %u:%g /tmp/o`, "1:2", nil},
		{"ping (NET_RAW)", `ping -c1 -W2 127.0.0.1 >/dev/null && echo pinged`, "pinged", nil},
		{"port 80 (NET_BIND_SERVICE)", `nc -l -p 80 & sleep 0.3; netstat -ltn | grep -q ':80 ' && echo listening; kill $!`, "listening", nil},
		{"status", `grep -E '^(CapBnd|CapEff|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' '`,
			"CapInh: 0000000000000000\nCapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nCapAmb: 0000000000000000\nNoNewPrivs: 0\nSeccomp: 2", nil},
		{"no-new-privileges", `grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' '`, "NoNewPrivs: 1\nSeccomp: 2", []string{"--security-opt", "no-new-privileges"}},
		{"seccomp=unconfined", `grep -E '^Seccomp:' /proc/self/status | tr -s '\t' ' '`, "Seccomp: 0", []string{"--security-opt", "seccomp=unconfined"}},
		{"--cap-drop NET_RAW", `ping -c1 -W2 127.0.0.1 2>&1; grep CapBnd /proc/self/status | tr -s '\t' ' '`, "CapBnd: 00000000a80405fb", []string{"--cap-drop", "NET_RAW"}},
	} {
		r := e.leg(t, escape{script: c.script}, c.flags)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", c.name, r.code, r.stdout, r.stderr, c.want)
		}
	}
}

// TestConfinementNarrated: -x shows each layer being put in place (the
// bounding set dropped, capset, the masks, the filter with its length),
// and `minicontainer seccomp` disassembles the very filter the init
// loads: the same number of instructions.
func TestConfinementNarrated(t *testing.T) {
	e := newEscapeEnv(t)
	defer hostcheck.Take(t, "mctest-escape", "process ", "mount ", "state ").Verify(t)
	dis := mc(t, "", "seccomp", "--rootfs", e.root)
	first, _, _ := strings.Cut(dis.stdout, "\n")
	var n int
	if _, err := fmt.Sscanf(strings.SplitN(dis.stdout, "\n", 3)[1], "; %d instructions", &n); err != nil || dis.code != 0 || n < 100 {
		t.Fatalf("seccomp: exit %d, %q %v: %s", dis.code, first, err, dis.stderr)
	}
	if !strings.Contains(dis.stdout, "; AUDIT_ARCH of SCMP_ARCH_X86_64") || !strings.Contains(dis.stdout, "; ERRNO(ENOSYS)") || strings.Count(dis.stdout, "\n") != n+2 {
		t.Errorf("seccomp: not a disassembly of %d instructions:\n%.600s", n, dis.stdout)
	}
	if r := mc(t, "", "seccomp", "--privileged"); r.code != 0 || !strings.HasPrefix(r.stdout, "no seccomp filter") {
		t.Errorf("seccomp --privileged: %+v", r)
	}
	if r := mc(t, "", "seccomp", "--cap-add", "SYS_ADMIN"); r.code != 0 || strings.Contains(r.stdout, fmt.Sprintf("; %d instructions", n)) {
		t.Errorf("seccomp --cap-add SYS_ADMIN: the same filter as the default's: %.200s", r.stdout)
	}

	// The Spec that run executes, as a bundle's config.json: seccomp
	// --config compiles the same filter.
	r := mc(t, "", "spec", "--rootfs", e.root, "--net", "none", "--", "true")
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mc(t, "", "seccomp", "--config", filepath.Join(bundle, "config.json")); !strings.Contains(r.stdout, fmt.Sprintf("; %d instructions", n)) {
		t.Errorf("seccomp --config: %.200s %s", r.stdout, r.stderr)
	}
	// run -x prints the narration on stderr.
	x := mc(t, "", "run", "-x", "--rootfs", e.root, "--net", "none", "--", "true")
	for _, want := range []string{
		"prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN) = 0",
		"capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER|CAP_FSETID|CAP_KILL|CAP_SETGID|CAP_SETUID|CAP_SETPCAP|CAP_NET_BIND_SERVICE|CAP_NET_RAW|CAP_SYS_CHROOT|CAP_MKNOD|CAP_AUDIT_WRITE|CAP_SETFCAP,",
		"prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) = 0",
		fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=%d, filter=...}) = 0", n),
	} {
		if !strings.Contains(x.stderr, want) {
			t.Errorf("run -x: no %q in its narration", want)
		}
	}
	// A masked file and a read-only path: with the mount API (Linux 5.12),
	// or mount(2) on a kernel without it.
	for _, either := range [][2]string{
		{`</proc/timer_list>, "", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH) = 0`, "</proc/timer_list>, NULL, MS_BIND, NULL) = 0"},
		{`, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_RDONLY}) = 0`, "</proc/sys>, NULL, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND, NULL) = 0"},
	} {
		if !strings.Contains(x.stderr, either[0]) && !strings.Contains(x.stderr, either[1]) {
			t.Errorf("run -x: neither %q nor %q in its narration", either[0], either[1])
		}
	}
	// The device rules: v1 files, or a v2 program.
	if !strings.Contains(x.stderr, `devices.deny", "a")`) && !strings.Contains(x.stderr, "bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE") {
		t.Errorf("run -x: no device rules in its narration")
	}
	if x.code != 0 {
		t.Errorf("run -x: exit %d: %s", x.code, x.stderr)
	}
}
