package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/rootfs"
	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// ociWatched narrows hostcheck to what these tests make (other tests'
// cgroups may come and go meanwhile).
var ociWatched = []string{"mctest-oci", "process ", "mount ", "state "}

// bundle makes an OCI bundle in a temporary dir: a busybox rootfs of its
// own (the process may write to it) and config.json from spec.Default
// with args, the cgroup under mctest-oci, then edit applied.
func bundle(t *testing.T, id string, args []string, edit func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if err := rootfs.BuildBusybox(filepath.Join(dir, "rootfs"), nil); err != nil {
		t.Fatal(err)
	}
	s := spec.Default()
	s.Process.Args = args
	s.Linux.CgroupsPath = "/mctest-oci/" + id
	if edit != nil {
		edit(s)
	}
	writeConfig(t, dir, s)
	return dir
}

func writeConfig(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// oci runs an OCI verb with stdio on files: create leaves its init
// holding them, and a pipe would keep exec's copying open until the
// container exits.
func oci(t *testing.T, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	out, _ := os.Create(filepath.Join(dir, "out"))
	errf, _ := os.Create(filepath.Join(dir, "err"))
	defer out.Close()
	defer errf.Close()
	cmd := exec.Command("minicontainer", args...)
	cmd.Stdout, cmd.Stderr = out, errf
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("minicontainer %q: %v", args, err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return result{string(o), string(e), code}
}

// ociState is `minicontainer state ID`, parsed.
func ociState(t *testing.T, id string) specs.State {
	t.Helper()
	r := oci(t, "state", id)
	if r.code != 0 {
		t.Fatalf("state %s: exit %d: %s", id, r.code, r.stderr)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state %s: %v in %q", id, err, r.stdout)
	}
	return st
}

func mustOCI(t *testing.T, args ...string) result {
	t.Helper()
	r := oci(t, args...)
	if r.code != 0 {
		t.Fatalf("minicontainer %q: exit %d: %s", args, r.code, r.stderr)
	}
	return r
}

// reap collects an init the test process was made subreaper of
// (hostcheck.Take), so no zombie is left; killed first, should a failed
// test have left it running. (Not yet reaped, its PID cannot be reused.)
func reap(pid int) {
	if pid <= 0 {
		return // kill(2) of 0 or -1 would reach far more than the init
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

func waitStatus(t *testing.T, id string, want specs.ContainerState) specs.State {
	t.Helper()
	var st specs.State
	if !waitUntil(10*time.Second, func() bool { st = ociState(t, id); return st.Status == want }) {
		t.Fatalf("%s: status %q, want %q", id, st.Status, want)
	}
	return st
}

// runToEnd creates the container of bundle b (with create's extra
// flags), starts it, waits for its process to end and deletes it; a
// failure on the way still deletes and reaps it, so no test leaves a
// container, its cgroup or its mounts behind. It returns the state
// create left (the init's PID).
func runToEnd(t *testing.T, b, id string, createFlags ...string) specs.State {
	t.Helper()
	mustOCI(t, append(append([]string{"create"}, createFlags...), "--bundle", b, id)...)
	st := ociState(t, id)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", id) // on failure; else gone already
	mustOCI(t, "start", id)
	waitStatus(t, id, specs.StateStopped)
	mustOCI(t, "delete", id)
	return st
}

func TestOCILifecycle(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-life"
	b := bundle(t, id, []string{"sh", "-c", "echo ran > /ran; exec sleep 1000"}, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustOCI(t, "create", "--bundle", b, "--pid-file", pidFile, id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(data))
	defer reap(pid)
	defer oci(t, "delete", "--force", id)
	st := ociState(t, id)
	if st.Status != specs.StateCreated || st.Pid != pid || st.ID != id || st.Bundle != b || st.Version != specs.Version {
		t.Fatalf("after create: %+v (pid file %d)", st, pid)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("init %d after create: %v", pid, err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(b, "rootfs/ran")); err == nil {
		t.Fatal("the process ran before start")
	}
	mustOCI(t, "start", id)
	if !waitUntil(5*time.Second, func() bool { _, err := os.Stat(filepath.Join(b, "rootfs/ran")); return err == nil }) {
		t.Fatal("the process did not run after start")
	}
	if st := ociState(t, id); st.Status != specs.StateRunning || st.Pid != pid {
		t.Fatalf("after start: %+v", st)
	}
	if r := oci(t, "start", id); r.code != 1 || !strings.Contains(r.stderr, "already running") {
		t.Fatalf("start of a running container: %+v", r)
	}
	mustOCI(t, "kill", id, "KILL")
	st = waitStatus(t, id, specs.StateStopped)
	if st.Pid != 0 {
		t.Fatalf("stopped with pid %d", st.Pid)
	}
	mustOCI(t, "delete", id)
	if r := oci(t, "state", id); r.code != 1 {
		t.Fatalf("state after delete: %+v", r)
	}
}

func TestOCIDeleteForce(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-force"
	b := bundle(t, id, []string{"sleep", "1000"}, nil)
	mustOCI(t, "create", "--bundle", b, id)
	st := ociState(t, id)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", id) // on failure; else gone already
	mustOCI(t, "start", id)
	r := oci(t, "delete", id)
	if r.code != 1 || r.stderr != "minicontainer: cannot delete container "+id+" that is not stopped: running\n" {
		t.Fatalf("delete of a running container: %+v", r)
	}
	mustOCI(t, "delete", "--force", id)
	if err := unix.Kill(st.Pid, 0); err == nil {
		var ps string
		if s, ok := procStatOK(st.Pid); ok {
			ps = s
		}
		if ps != "Z" {
			t.Fatalf("init %d still runs after delete --force (state %q)", st.Pid, ps)
		}
	}
}

func procStatOK(pid int) (string, bool) {
	s, _, ok := procStat(pid)
	return s, ok
}

func TestOCIUnknownID(t *testing.T) {
	needRoot(t)
	for _, verb := range [][]string{{"state"}, {"start"}, {"kill"}, {"delete"}} {
		r := oci(t, append(verb, "mctest-no-such")...)
		if r.code != 1 || r.stderr != "minicontainer: container mctest-no-such does not exist\n" {
			t.Errorf("%s of an unknown ID: exit %d, stderr %q", verb[0], r.code, r.stderr)
		}
	}
}

func TestOCIBadConfig(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-bad"
	for _, tc := range []struct {
		name string
		edit func(dir string, s *specs.Spec)
		want string
	}{
		{"not json", func(dir string, s *specs.Spec) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644)
		}, "config.json: "},
		{"no args", func(dir string, s *specs.Spec) { s.Process.Args = nil; writeConfig(t, dir, s) }, "process.args"},
		{"major version", func(dir string, s *specs.Spec) { s.Version = "2.0.0"; writeConfig(t, dir, s) }, "ociVersion"},
		{"seccomp", func(dir string, s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"nosuchcall"}, Action: specs.ActAllow}}}
			writeConfig(t, dir, s)
		}, "linux.seccomp.syscalls[0].names[0]"},
		{"relative cwd", func(dir string, s *specs.Spec) { s.Process.Cwd = "tmp"; writeConfig(t, dir, s) }, "process.cwd"},
		{"missing root", func(dir string, s *specs.Spec) { s.Root.Path = "nope"; writeConfig(t, dir, s) }, "root.path"},
		{"bad netns path", func(dir string, s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/proc/self/ns/uts"
			writeConfig(t, dir, s)
		}, "linux.namespaces[1].path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundle(t, id, []string{"true"}, nil)
			s := spec.Default()
			s.Process.Args = []string{"true"}
			s.Linux.CgroupsPath = "/mctest-oci/" + id
			tc.edit(b, s)
			r := oci(t, "create", "--bundle", b, id)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q: want 1 and one line naming %s", r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(testState, id)); err == nil {
				t.Errorf("a state dir was left")
			}
		})
	}
}

// TestOCIConsoleSocket receives the pty master on a unix socket, as
// podman's conmon and containerd's shim do, and reads the process's
// output from it.
func TestOCIConsoleSocket(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-tty"
	b := bundle(t, id, []string{"sh", "-c", "tty; sleep 1000"}, func(s *specs.Spec) { s.Process.Terminal = true })
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			got <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		if len(fds) != 1 {
			got <- nil
			return
		}
		got <- os.NewFile(uintptr(fds[0]), "master")
	}()
	mustOCI(t, "create", "--bundle", b, "--console-socket", sock, id)
	st := ociState(t, id)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", id) // on failure; else gone already
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(10 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master came over the console socket")
	}
	defer master.Close()
	mustOCI(t, "start", id)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := master.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "/dev/pts/0") {
		t.Fatalf("read %q from the pty master, want /dev/pts/0", buf[:n])
	}
}

// TestOCINetnsPath joins a network namespace made with `ip netns add`
// (in this test's own /run under isotest): the process sees its dummy link.
func TestOCINetnsPath(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	const netns = "mctest-oci-ns"
	// ip netns add mounts /run/netns and the namespace: made before the
	// snapshot, removed (both) after the check.
	ipNetnsAdd(t, netns)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	var nsStat unix.Stat_t
	if err := unix.Stat("/run/netns/"+netns, &nsStat); err != nil {
		t.Fatal(err)
	}
	const id = "mctest-oci-netns"
	b := bundle(t, id, []string{"sh", "-c", "readlink /proc/self/ns/net > /netns"}, func(s *specs.Spec) {
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/run/netns/" + netns
			}
		}
	})
	runToEnd(t, b, id)
	got, _ := os.ReadFile(filepath.Join(b, "rootfs/netns"))
	if want := "net:[" + strconv.FormatUint(nsStat.Ino, 10) + "]\n"; string(got) != want {
		t.Fatalf("the process's network namespace: %q, want %q (the one joined by path)", got, want)
	}
}

// TestOCIHooks checks each host hook gets the state JSON on stdin.
func TestOCIHooks(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-hooks"
	out := t.TempDir()
	hook := func(name string) []specs.Hook {
		return []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(out, name)}}}
	}
	b := bundle(t, id, []string{"true"}, func(s *specs.Spec) {
		// A failing poststart or poststop hook is a warning: the next one
		// still runs (runtime-spec config.md).
		fails := specs.Hook{Path: "/bin/false"}
		s.Hooks = &specs.Hooks{CreateRuntime: hook("createRuntime"), CreateContainer: hook("createContainer"),
			Poststart: append([]specs.Hook{fails}, hook("poststart")...), Poststop: append([]specs.Hook{fails}, hook("poststop")...)}
		// createContainer runs in the container's namespaces: its
		// hostname is the container's.
		s.Hooks.CreateContainer = append(s.Hooks.CreateContainer, specs.Hook{Path: "/bin/sh",
			Args: []string{"sh", "-c", "hostname > " + filepath.Join(out, "createContainer.hostname")}})
		s.Hostname = "hooked"
	})
	st := runToEnd(t, b, id)
	if got, _ := os.ReadFile(filepath.Join(out, "createContainer.hostname")); string(got) != "hooked\n" {
		t.Errorf("createContainer hook's hostname: %q, want the container's", got)
	}
	for name, status := range map[string]specs.ContainerState{"createRuntime": specs.StateCreating,
		"createContainer": specs.StateCreating, "poststart": specs.StateRunning, "poststop": specs.StateStopped} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Errorf("hook %s did not run: %v", name, err)
			continue
		}
		var got specs.State
		if err := json.Unmarshal(data, &got); err != nil || got.ID != id || got.Status != status || got.Bundle != b {
			t.Errorf("hook %s got %q (%v), want id %s status %s", name, data, err, id, status)
		}
		if status != specs.StateStopped && got.Pid != st.Pid {
			t.Errorf("hook %s: pid %d, want %d", name, got.Pid, st.Pid)
		}
	}
}

// TestOCIOutlivesGC: a created container belongs to create's caller;
// gc (and every run, which reclaims first) must leave it alone.
func TestOCIOutlivesGC(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-gc"
	b := bundle(t, id, []string{"sleep", "1000"}, nil)
	mustOCI(t, "create", "--bundle", b, id)
	st := ociState(t, id)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", id) // on failure; else gone already
	mustOCI(t, "gc")
	if got := ociState(t, id); got.Status != specs.StateCreated {
		t.Fatalf("after gc: %+v", got)
	}
	mustOCI(t, "delete", id)
}

// TestOCIProcessFields checks what the init sets from process and linux
// before the exec: user, additional groups, cwd, env, rlimits,
// no_new_privs, oom_score_adj, capabilities, masked and read-only paths,
// a sysctl, the hostname.
func TestOCIProcessFields(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-fields"
	script := `exec > /out/fields 2>&1; id -u; id -g; id -G; pwd; echo $FOO; ulimit -n; ` +
		`grep -E '^(NoNewPrivs|CapBnd)' /proc/self/status; cat /proc/self/oom_score_adj; ` +
		`wc -c < /etc/passwd; echo x > /proc/sys/kernel/domainname || echo ro; ` +
		`cat /proc/sys/net/ipv4/ip_forward; hostname; umask; echo $(ls /proc/self/fd)`
	oom := 123
	var out string
	b := bundle(t, id, []string{"sh", "-c", script}, func(s *specs.Spec) {
		out = t.TempDir()
		os.Chmod(out, 0o777)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind"}})
		umask := uint32(0o027)
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{20}, Umask: &umask}
		s.Process.Cwd = "/work/dir"
		s.Process.Env = append(s.Process.Env, "FOO=bar")
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 321}}
		s.Process.NoNewPrivileges = true
		s.Process.OOMScoreAdj = &oom
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}
		s.Linux.MaskedPaths = []string{"/etc/passwd"}
		s.Linux.ReadonlyPaths = []string{"/proc/sys"}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		s.Hostname = "fields"
	})
	runToEnd(t, b, id)
	got, _ := os.ReadFile(filepath.Join(out, "fields"))
	want := "1000\n1000\n1000 20\n/work/dir\nbar\n321\nCapBnd:\t0000000000000020\nNoNewPrivs:\t1\n123\n0\n" +
		"sh: can't create /proc/sys/kernel/domainname: Read-only file system\nro\n1\nfields\n0027\n" +
		"0 1 2 3\n" // stdio, and ls's own directory: no descriptor of the runtime's
	if string(got) != want {
		t.Fatalf("inside the container:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunBundle runs a bundle in the foreground: the process's output and
// exit code, and nothing left after it.
func TestRunBundle(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	b := bundle(t, "mctest-oci-run", []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, nil)
	r := mc(t, "", "run", "--bundle", b)
	if r.code != 7 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("run --bundle: %+v, want exit 7, out and err", r)
	}
	if r := mc(t, "", "run", "--bundle", b, "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "takes no command") {
		t.Fatalf("run --bundle with a command: %+v", r)
	}
}

// TestRunBundleKilledRuntime: a SIGKILLed `run --bundle` takes its
// container with it (PR_SET_PDEATHSIG), as `run` does.
func TestRunBundleKilledRuntime(t *testing.T) {
	needRoot(t)
	const id = "mctest-oci-killed"
	b := bundle(t, id, []string{"sh", "-c", "echo started > /started; exec sleep 1000"}, nil)
	check := hostcheck.Take(t, ociWatched...)
	defer check.Verify(t)
	// What the killed runtime leaves (state dir, cgroup) is gc's.
	defer oci(t, "gc")
	cmd := exec.Command("minicontainer", "run", "--bundle", b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if !waitUntil(10*time.Second, func() bool { _, err := os.Stat(filepath.Join(b, "rootfs/started")); return err == nil }) {
		t.Fatal("the container did not start")
	}
	// The container's processes, by its cgroup (not by name: other
	// tests' sleeps run on this host too).
	procs := func() string {
		files, _ := filepath.Glob("/sys/fs/cgroup/*/mctest-oci/" + id + "/cgroup.procs")
		more, _ := filepath.Glob("/sys/fs/cgroup/mctest-oci/" + id + "/cgroup.procs")
		for _, f := range append(files, more...) {
			if data, _ := os.ReadFile(f); len(data) > 0 {
				return string(data)
			}
		}
		return ""
	}
	if procs() == "" {
		t.Fatal("no process in the container's cgroup")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !waitUntil(5*time.Second, func() bool { return procs() == "" }) {
		t.Fatalf("the container outlived its SIGKILLed minicontainer: %s", procs())
	}
}

// TestOCIHookTimeout: a createRuntime hook past its timeout fails create,
// in one line, and create undoes everything.
func TestOCIHookTimeout(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-hooktime"
	one := 1
	b := bundle(t, id, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
	})
	start := time.Now()
	defer oci(t, "delete", "--force", id) // should create have succeeded
	r := oci(t, "create", "--bundle", b, id)
	if r.code != 1 || !strings.Contains(r.stderr, "createRuntime hook 0 (/bin/sleep): timed out after 1 s") || time.Since(start) > 10*time.Second {
		t.Fatalf("create with a hook past its timeout: %+v after %v", r, time.Since(start))
	}
	if _, err := os.Stat(filepath.Join(testState, id)); err == nil {
		t.Fatal("a state dir was left")
	}
}

// TestOCIDevices: linux.resources.devices reach the device cgroup: with
// Docker's list, /dev/null opens and a /dev/kmsg made with mknod does not.
func TestOCIDevices(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-devices"
	b := bundle(t, id, []string{"sh", "-c", "exec > /out 2>&1; echo x > /dev/null && echo null-ok; " +
		"mknod /dev/kmsg c 1 11 && (exec 3</dev/kmsg) 2>/dev/null && echo kmsg-opened || echo kmsg-denied"}, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Devices: cgroup.DefaultDeviceRules}
	})
	runToEnd(t, b, id)
	if got, _ := os.ReadFile(filepath.Join(b, "rootfs/out")); string(got) != "null-ok\nkmsg-denied\n" {
		t.Fatalf("inside: %q, want null-ok and kmsg-denied", got)
	}
}

// TestOCIRootOptions: --no-pivot (MS_MOVE and chroot), root.readonly and
// linux.rootfsPropagation, seen from inside.
func TestOCIRootOptions(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-root"
	out := t.TempDir()
	b := bundle(t, id, []string{"sh", "-c", "exec > /out/root 2>&1; touch /x || echo ro; " +
		"awk '$5 == \"/\"' /proc/self/mountinfo | grep -q shared: && echo shared; awk '$5 == \"/\"' /proc/self/mountinfo | wc -l"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind"}})
		s.Root.Readonly = true
		s.Linux.RootfsPropagation = "rshared"
	})
	runToEnd(t, b, id, "--no-pivot")
	got, _ := os.ReadFile(filepath.Join(out, "root"))
	// One mount on "/": with --no-pivot the old root is under it, out of
	// the chroot's sight (mountinfo lists what the process's root reaches).
	if want := "touch: /x: Read-only file system\nro\nshared\n1\n"; string(got) != want {
		t.Fatalf("inside: %q, want %q", got, want)
	}
}

// TestOCISeccomp: linux.seccomp, Docker's default profile, loaded in the
// init and kept across execve: the process is filtered (Seccomp: 2 in
// /proc/self/status), unshare(CLONE_NEWUSER) is refused (EPERM from the
// profile, where the kernel alone would allow it to root), and ordinary
// calls work. Both orders the init knows: with no_new_privs (the filter
// last) and without (the filter before the capabilities drop).
func TestOCISeccomp(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	for _, nnp := range []bool{true, false} {
		id := fmt.Sprintf("mctest-oci-seccomp-%v", nnp)
		b := bundle(t, id, []string{"sh", "-c", "exec > /out 2>&1; grep '^Seccomp:' /proc/self/status; " +
			"unshare -U true && echo unshare-ok || echo unshare-refused; echo done"}, func(s *specs.Spec) {
			s.Process.NoNewPrivileges = nnp
			s.Linux.Seccomp = seccomp.Default()
		})
		runToEnd(t, b, id)
		got, _ := os.ReadFile(filepath.Join(b, "rootfs/out"))
		if !strings.HasPrefix(string(got), "Seccomp:\t2\n") || !strings.HasSuffix(string(got), "unshare-refused\ndone\n") {
			t.Errorf("no_new_privs %v: inside: %q, want Seccomp 2 and unshare refused", nnp, got)
		}
	}
}

// TestOCILogOnUsageError: a command line minicontainer cannot parse (a
// verb or flag it does not know) still leaves its error in --log, in the
// --log-format asked for: containerd's shim shows the user the last error
// line of its log.json, and reads nothing from stderr.
func TestOCILogOnUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"--log", "LOG", "--log-format", "json", "nosuchverb", "x"},
		{"--log=LOG", "--log-format=json", "create", "--no-such-flag", "x"},
	} {
		log := filepath.Join(t.TempDir(), "log.json")
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "LOG", log)
		}
		r := oci(t, args...)
		data, err := os.ReadFile(log)
		var line struct{ Level, Msg, Time string }
		if r.code == 0 || err != nil || json.Unmarshal(data, &line) != nil || line.Level != "error" || line.Msg == "" ||
			!strings.Contains(r.stderr, line.Msg) {
			t.Errorf("%q: exit %d, stderr %q, log %q (%v): want the error as one JSON line", args, r.code, r.stderr, data, err)
		}
	}
}

// TestOCINoProc: a bundle whose /proc is no proc file system (the init
// waits for start on its exec fifo through /proc/self/fd) fails at create,
// exit 1, one line naming it, with nothing left; not at start, as a
// container that has stopped.
func TestOCINoProc(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-noproc"
	b := bundle(t, id, []string{"true"}, func(s *specs.Spec) {
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/proc" {
				s.Mounts[i].Type, s.Mounts[i].Source, s.Mounts[i].Options = "tmpfs", "tmpfs", nil
			}
		}
	})
	r := oci(t, "create", "--bundle", b, id)
	if r.code != 1 || !strings.Contains(r.stderr, "/proc is not a proc file system") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("create: exit %d, stderr %q: want 1 and one line about /proc", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(testState, id)); err == nil {
		t.Errorf("a state dir was left")
		oci(t, "delete", "--force", id)
	}
}

// TestOCICgroupsPath: linux.cgroupsPath of any depth. Absolute paths are
// below each hierarchy's root, relative ones below minicontainer's parent
// (see container.planCgroup); the init is in that cgroup in every
// hierarchy, with the Spec's limit, and delete removes the levels
// minicontainer made, never one that was there before.
func TestOCICgroupsPath(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	host, err := cgroup.Detect()
	if err != nil {
		t.Skip(err)
	}
	roots := []string{}
	for _, m := range host.Hierarchy {
		roots = append(roots, m.Dir)
	}
	if host.Unified != "" {
		roots = append(roots, host.Unified)
	}
	pidsRoot := host.V1["pids"]
	if host.Mode == cgroup.Unified {
		pidsRoot = host.Unified
	}
	// A level that exists before (an administrator's), in every hierarchy.
	const admin = "mctest-oci-admin"
	for _, r := range roots {
		if err := os.Mkdir(filepath.Join(r, admin), 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(r, admin))
	}
	const id = "mctest-oci-cgpath"
	for _, c := range []struct {
		path, dir, gone, kept string // dir: the cgroup below each root
	}{
		{"/mctest-oci-deep/a/b/" + id, "mctest-oci-deep/a/b/" + id, "mctest-oci-deep", ""},
		{"/" + id, id, id, ""},
		{"mctest-oci-rel/" + id, cgroup.Parent + "/mctest-oci-rel/" + id, cgroup.Parent + "/mctest-oci-rel", ""},
		{"/" + admin + "/x/" + id, admin + "/x/" + id, admin + "/x", admin},
	} {
		t.Run(c.path, func(t *testing.T) {
			b := bundle(t, id, []string{"true"}, func(s *specs.Spec) {
				s.Linux.CgroupsPath = c.path
				limit := int64(37)
				s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
			})
			mustOCI(t, "create", "--bundle", b, id)
			st := ociState(t, id)
			defer reap(st.Pid)
			defer oci(t, "delete", "--force", id)
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if f := strings.SplitN(line, ":", 3); len(f) != 3 || f[2] != "/"+c.dir {
					t.Errorf("/proc/%d/cgroup: %q, want every hierarchy at /%s", st.Pid, line, c.dir)
				}
			}
			if got, err := os.ReadFile(filepath.Join(pidsRoot, c.dir, "pids.max")); err != nil || strings.TrimSpace(string(got)) != "37" {
				t.Errorf("pids.max: %q, %v; want 37", got, err)
			}
			mustOCI(t, "delete", "--force", id)
			for _, r := range roots {
				if _, err := os.Stat(filepath.Join(r, c.gone)); err == nil {
					t.Errorf("%s is left after delete", filepath.Join(r, c.gone))
				}
				if _, err := os.Stat(filepath.Join(r, c.kept)); c.kept != "" && err != nil {
					t.Errorf("%s, there before, was removed", filepath.Join(r, c.kept))
				}
			}
		})
	}
}

// TestOCIMountNSPath: a mount namespace joined by path (linux_ns_path's
// "mnt" case) is the container's: the process runs in it, on its root,
// set up there. The runtime's own mount namespace is refused: setting up
// a root there would change the host's mounts.
func TestOCIMountNSPath(t *testing.T) {
	needRoot(t)
	// The namespace's holder, made before the snapshot, killed after the
	// check: the container's mounts are in its namespace, gone with it.
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "1000")
	if err := holder.Start(); err != nil {
		t.Skipf("unshare(1): %v", err)
	}
	defer holder.Wait()
	defer holder.Process.Kill()
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)
	var self, nsStat unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &self); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(5*time.Second, func() bool { return unix.Stat(nsPath, &nsStat) == nil && nsStat.Ino != self.Ino }) {
		t.Fatal("unshare(1) did not make its mount namespace")
	}
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const id = "mctest-oci-mntns"
	joining := func(path string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.MountNamespace {
					s.Linux.Namespaces[i].Path = path
				}
			}
		}
	}
	b := bundle(t, id, []string{"sh", "-c", "readlink /proc/self/ns/mnt > /mntns"}, joining(nsPath))
	runToEnd(t, b, id)
	got, _ := os.ReadFile(filepath.Join(b, "rootfs/mntns"))
	if want := "mnt:[" + strconv.FormatUint(nsStat.Ino, 10) + "]\n"; string(got) != want {
		t.Fatalf("the process's mount namespace: %q, want %q (the one joined by path)", got, want)
	}
	b = bundle(t, id, []string{"true"}, joining("/proc/self/ns/mnt"))
	if r := oci(t, "create", "--bundle", b, id); r.code != 1 || !strings.Contains(r.stderr, "is the runtime's own") {
		t.Fatalf("create joining the runtime's own mount namespace: %+v", r)
	}
}

// mountsUnder lists the mount points at or below dir in this process's
// mount table (proc(5), /proc/self/mountinfo: the 5th field; the test's
// paths have no characters mountinfo escapes).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4]+" "+strings.Join(f[6:slices.Index(f, "-")], " "))
		}
	}
	return out
}

// TestOCINoMountNS: a Spec without a mount namespace (runtime-tools'
// linux_ns_itype). The process is in the runtime's mount namespace,
// chrooted into its root with the Spec's mounts below it; those mounts
// are below a private bind of the root (no "shared:" peer group, so none
// reaches another mount of the host), and delete removes them all, and
// only them: the root here is itself a shared mount point before create
// (as podman's overlay is on a systemd host), and stays one. exec is
// refused in one line.
func TestOCINoMountNS(t *testing.T) {
	needRoot(t)
	const id = "mctest-oci-nomntns"
	b := bundle(t, id, []string{"sh", "-c", "readlink /proc/self/ns/mnt > /mntns; exec sleep 1000"}, func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.MountNamespace {
				keep = append(keep, n)
			}
		}
		s.Linux.Namespaces = keep
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Root.Readonly = nil, nil, false
	})
	root := filepath.Join(b, "rootfs")
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	// Shared, as mounts are on a systemd host: a mount below a bind of it
	// that is not made private would propagate back to it. Private first:
	// where the bind's source is itself shared (on the cgroup v2 VM /tmp
	// is a shared tmpfs) the bind joins the source's peer group, and a
	// root with peers is the case refused below; this is a root that is a
	// mount of its own, in a peer group of its own, as podman's overlay is.
	for _, f := range []uintptr{unix.MS_PRIVATE, unix.MS_SHARED} {
		if err := unix.Mount("", root, "", f, ""); err != nil {
			t.Fatal(err)
		}
	}
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	before := mountsUnder(t, root)
	// A root with a peer: the bind on it would propagate a copy to the
	// peer (in the host's peer group), and umount at delete would
	// propagate back. create refuses it in one line and mounts nothing.
	peer := t.TempDir()
	if err := unix.Mount(root, peer, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	peerBefore := mountsUnder(t, peer)
	if r := oci(t, "create", "--bundle", b, id); r.code != 1 || !strings.Contains(r.stderr, "peer group") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("create with a root that has a peer: %+v, want exit 1 and one line about its peer group", r)
	}
	if got := mountsUnder(t, root); !slices.Equal(got, before) {
		t.Errorf("mounts at and below the root after a refused create: %q, want %q", got, before)
	}
	if got := mountsUnder(t, peer); !slices.Equal(got, peerBefore) {
		t.Errorf("mounts at and below the peer after a refused create: %q, want %q", got, peerBefore)
	}
	if err := unix.Unmount(peer, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	oci(t, "delete", "--force", id)
	mustOCI(t, "create", "--bundle", b, id)
	st := ociState(t, id)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", id)
	during := mountsUnder(t, root)
	if !slices.ContainsFunc(during, func(m string) bool { return strings.HasPrefix(m, root+"/proc ") }) {
		t.Errorf("no proc below the root in the runtime's mount table: %q", during)
	}
	for _, m := range during[len(before):] {
		if strings.Contains(m, "shared:") {
			t.Errorf("a mount of the container is in a peer group of the host's: %s", m)
		}
	}
	mustOCI(t, "start", id)
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &self); err != nil {
		t.Fatal(err)
	}
	want := "mnt:[" + strconv.FormatUint(self.Ino, 10) + "]\n"
	if !waitUntil(5*time.Second, func() bool { got, _ := os.ReadFile(filepath.Join(root, "mntns")); return string(got) == want }) {
		got, _ := os.ReadFile(filepath.Join(root, "mntns"))
		t.Errorf("the process's mount namespace: %q, want the runtime's %q", got, want)
	}
	if r := oci(t, "exec", id, "true"); r.code == 0 || !strings.Contains(r.stderr, "no mount namespace") {
		t.Errorf("exec in a container without a mount namespace: %+v", r)
	}
	mustOCI(t, "delete", "--force", id)
	if after := mountsUnder(t, root); !slices.Equal(after, before) {
		t.Errorf("mounts at and below the root after delete: %q, want those before create: %q", after, before)
	}
}

// TestSpecRootfsRelative: `spec --rootfs DIR` writes root.path relative to
// the current directory (the bundle, where config.json goes) when DIR is
// inside it, as runc spec writes "rootfs"; absolute otherwise.
func TestSpecRootfsRelative(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ rootfs, want string }{
		{"rootfs", "rootfs"},
		{filepath.Join(dir, "rootfs"), "rootfs"},
		{"./a/../b/c", "b/c"},
		{".", "."},
		{"../elsewhere", filepath.Join(filepath.Dir(dir), "elsewhere")},
		{"/srv/root", "/srv/root"},
	} {
		cmd := exec.Command("minicontainer", "spec", "--rootfs", c.rootfs)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("spec --rootfs %s: %v", c.rootfs, err)
		}
		var s specs.Spec
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatal(err)
		}
		if s.Root.Path != c.want {
			t.Errorf("spec --rootfs %s: root.path %q, want %q", c.rootfs, s.Root.Path, c.want)
		}
	}
}

// TestOCICgroupsPathTaken: a second container given the cgroupsPath of a
// running one is refused in one line, and the first keeps its process and
// its cgroup (the failed create's undo once killed and removed them).
func TestOCICgroupsPathTaken(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	const first, second = "mctest-oci-taken1", "mctest-oci-taken2"
	path := "/mctest-oci-taken/shared"
	withPath := func(s *specs.Spec) { s.Linux.CgroupsPath = path }
	mustOCI(t, "create", "--bundle", bundle(t, first, []string{"sleep", "1000"}, withPath), first)
	st := ociState(t, first)
	defer reap(st.Pid)
	defer oci(t, "delete", "--force", first)
	r := oci(t, "create", "--bundle", bundle(t, second, []string{"true"}, withPath), second)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("create with a cgroupsPath in use: %+v", r)
	}
	if err := unix.Kill(st.Pid, 0); err != nil {
		t.Fatalf("the first container's init after the second create: %v", err)
	}
	host, err := cgroup.Detect()
	if err != nil {
		t.Skip(err)
	}
	procs := filepath.Join(host.Unified, path, "cgroup.procs")
	if host.Mode != cgroup.Unified {
		procs = filepath.Join(host.V1["pids"], path, "cgroup.procs")
	}
	if data, err := os.ReadFile(procs); err != nil || !strings.Contains(string(data), strconv.Itoa(st.Pid)) {
		t.Fatalf("the first container's cgroup after the second create: %q, %v", data, err)
	}
	if r := oci(t, "state", second); r.code != 1 {
		t.Errorf("state of the refused container: %+v", r)
	}
}

// TestOCISmallAddressSpace: process.rlimits can leave the init's Go
// runtime no address space (runtime-tools' process_rlimits sets RLIMIT_AS
// to 1 GiB, below a Go process's reservations, and failed 1 run in 25 in
// CI), so the init compiles the seccomp profile before any limit and
// lowers the limits as its last step before execve (processLimits). With
// the limits set first, 4 of 20 runs at 128 MiB died in the init with
// "fatal error: runtime: out of memory"; none since.
func TestOCISmallAddressSpace(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, ociWatched...).Verify(t)
	b := bundle(t, "mctest-oci-as", []string{"true"}, func(s *specs.Spec) {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: 128 << 20, Hard: 1 << 30})
	})
	for i := 0; i < 20; i++ {
		if r := oci(t, "run", "--bundle", b); r.code != 0 {
			t.Fatalf("run %d under RLIMIT_AS 128 MiB: exit %d: %s", i, r.code, r.stderr)
		}
	}
}

// ipNetnsAdd makes the network namespace /run/netns/NAME with `ip netns
// add`, and undoes all it did when the test ends: ip(8) also makes
// /run/netns a mount point of its own (a shared bind mount of itself, so
// that the namespaces' bind mounts propagate), and `ip netns del` leaves
// that one behind. A host that had none gets none back.
func ipNetnsAdd(t *testing.T, name string) {
	t.Helper()
	_, statErr := os.Stat("/run/netns")
	before := mountsUnder(t, "/run/netns")
	mounted := slices.ContainsFunc(before, func(m string) bool { return strings.HasPrefix(m, "/run/netns ") })
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
		if !mounted {
			if err := unix.Unmount("/run/netns", unix.MNT_DETACH); err != nil {
				t.Errorf("umount /run/netns (made by ip netns add): %v", err)
			}
		}
		if statErr != nil {
			os.Remove("/run/netns")
		}
		if after := mountsUnder(t, "/run/netns"); !slices.Equal(before, after) {
			t.Errorf("mounts at /run/netns: %q before ip netns add, %q after its undoing", before, after)
		}
	})
}
