package rootfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// The test binary is also the container's init: TestMain lets pkg/reexec
// run these entry points when the binary is re-executed under their names.
const (
	containerEntry = "rootfs-test-container" // Setup, then exec argv
	sandboxEntry   = "rootfs-test-sandbox"   // a mount namespace whose "/" is shared
	leakEntry      = "rootfs-test-leak"      // mounts WITHOUT private propagation
	trapEntry      = "rootfs-test-gotrap"    // Cloneflags vs Unshareflags, from a shared "/"
	probeEntry     = "rootfs-test-probe"     // prints the propagation of its "/"
	bareEntry      = "rootfs-test-bare"      // execs argv with no Setup (benchmark baseline)
	specEnv        = "MCTEST_ROOTFS_SPEC"
)

// testBase is a busybox root filesystem (plus the escape program) built
// once by TestMain and shared, read-only, by the tests.
var testBase string

func init() {
	reexec.Register(containerEntry, containerMain)
	reexec.Register(sandboxEntry, sandboxMain)
	reexec.Register(leakEntry, leakMain)
	reexec.Register(trapEntry, trapMain)
	reexec.Register(probeEntry, probeMain)
	reexec.Register(bareEntry, bareMain)
}

func TestMain(m *testing.M) {
	reexec.Init()
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "mctest-rootfs-base-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			testBase = filepath.Join(dir, "busybox")
			if err := BuildBusybox(testBase, nil); err != nil {
				fmt.Fprintln(os.Stderr, "building the test rootfs:", err)
				return 1
			}
			build := exec.Command("go", "build", "-o", filepath.Join(testBase, "escape"), "./testdata/escape")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building testdata/escape: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// containerMain is the container's init: it sets up the root from the spec
// in its environment and execs its arguments, as pkg/container's will.
func containerMain() {
	var s Spec
	if err := json.Unmarshal([]byte(os.Getenv(specEnv)), &s); err != nil {
		fmt.Fprintln(os.Stderr, "container: spec:", err)
		os.Exit(125)
	}
	if err := Setup(s, explain.FromEnv("")); err != nil {
		fmt.Fprintln(os.Stderr, "container:", err)
		os.Exit(125)
	}
	path, err := LookPath("/", os.Args[1], "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "container:", err)
		os.Exit(127)
	}
	env := []string{"PATH=" + DefaultPath, "HOME=/root"}
	err = unix.Exec(path, os.Args[1:], env)
	fmt.Fprintln(os.Stderr, "container: exec:", err)
	os.Exit(126)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces, mounts and pivot_root need root: run the tests with sudo (make test does)")
	}
}

// containerCmd prepares a container running argv on the spec, in new
// mount, PID, UTS and IPC namespaces.
func containerCmd(t *testing.T, s Spec, argv ...string) *exec.Cmd {
	t.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := reexec.Command(containerEntry, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.Env = append(os.Environ(), specEnv+"="+string(spec))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Cloneflags, not Unshareflags: with Unshareflags Go would make "/"
		// private for us, and the test would not prove Setup does it.
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// run starts a container and returns its combined output and error.
func run(t *testing.T, s Spec, argv ...string) (string, error) {
	t.Helper()
	cmd := containerCmd(t, s, argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// sh runs a shell script in a container and fails the test if it fails.
func sh(t *testing.T, s Spec, script string) string {
	t.Helper()
	out, err := run(t, s, "/bin/sh", "-c", script)
	if err != nil {
		t.Fatalf("container %q: %v\n%s", script, err, out)
	}
	return out
}

// newSpec gives a test its own scratch dir and the shared base, and checks
// at the end that no mount or process the test could have made is left.
func newSpec(t *testing.T) (Spec, string) {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	snap := hostcheck.Take(t, dir, testBase, "rootfs-test")
	t.Cleanup(func() { snap.Verify(t) })
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	return Spec{Base: testBase, Scratch: scratch, Hostname: "box"}, dir
}

func lines(s string) []string { return strings.Fields(strings.TrimSpace(s)) }

func TestContainerSeesOnlyItsMounts(t *testing.T) {
	s, _ := newSpec(t)
	out := sh(t, s, `cut -d' ' -f5 /proc/self/mountinfo | sort`)
	want := []string{"/", "/dev", "/dev/pts", "/dev/shm", "/etc/hostname", "/etc/hosts", "/proc", "/sys"}
	if got := lines(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mount points inside: %q, want %q", got, want)
	}
	// The overlay is the root, and no mount of the host is there but the
	// runtime's own /etc/hostname and /etc/hosts (files of the scratch dir).
	out = sh(t, s, `grep -c . /proc/self/mountinfo; awk '$5 !~ /^\/etc\/host/ {for (i = 7; i < NF; i++) if ($i == "-") print $(i+1)}' /proc/self/mountinfo | sort | tr '\n' ' '`)
	if got := strings.Fields(out); len(got) != 7 || got[0] != "8" {
		t.Errorf("mountinfo inside: %q, want 8 mounts", out)
	} else if fs := strings.Join(got[1:], " "); fs != "devpts overlay proc sysfs tmpfs tmpfs" {
		t.Errorf("file system types inside: %q", fs)
	}
}

func TestProcShowsInitAsPID1(t *testing.T) {
	s, _ := newSpec(t)
	out := sh(t, s, `echo $$; ls -d /proc/[0-9]* | wc -l`)
	got := lines(out)
	if len(got) != 2 || got[0] != "1" {
		t.Fatalf("inside: %q, want the shell as PID 1", out)
	}
	// The shell (1) and ls (and maybe wc): nothing of the host.
	if got[1] != "2" && got[1] != "3" {
		t.Errorf("%s processes in the container's /proc, want the shell and ls", got[1])
	}
}

func TestSysIsReadOnly(t *testing.T) {
	s, _ := newSpec(t)
	out, err := run(t, s, "/bin/sh", "-c", `grep ' /sys ' /proc/mounts; mkdir /sys/mctest`)
	if err == nil {
		t.Fatalf("mkdir in /sys worked:\n%s", out)
	}
	if !strings.Contains(out, "sysfs /sys sysfs ro,") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("/sys not read-only:\n%s", out)
	}
}

func TestDev(t *testing.T) {
	s, _ := newSpec(t)
	out := sh(t, s, `ls -A /dev | tr '\n' ' '`)
	want := "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
	if out != want {
		t.Errorf("ls /dev: %q, want %q", out, want)
	}
	// Device numbers in hex, as stat(1) prints them, and mode 0666.
	out = sh(t, s, `for d in null zero full random urandom tty; do stat -c '%n %t:%T %a %F' /dev/$d; done`)
	for _, d := range Devices {
		l := fmt.Sprintf("/dev/%s %x:%x 666 character special file", d.Name, d.Major, d.Minor)
		if !strings.Contains(out, l+"\n") {
			t.Errorf("want %q in:\n%s", l, out)
		}
	}
	sh(t, s, `echo x > /dev/null && head -c 4 /dev/zero | wc -c | grep -qx 4 && ! echo x 2>/dev/null > /dev/full`)
	out = sh(t, s, `for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done`)
	if got := strings.Join(lines(out), " "); got != "pts/ptmx /proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2" {
		t.Errorf("/dev links: %q", got)
	}
}

func TestNewDevpts(t *testing.T) {
	s, _ := newSpec(t)
	// A new instance starts empty but for ptmx; opening /dev/ptmx makes
	// pty 0 of THIS instance, whatever ptys the host has.
	out := sh(t, s, `grep devpts /proc/mounts; ls /dev/pts | tr '\n' ' '; echo; exec 3<>/dev/ptmx; ls /dev/pts | tr '\n' ' '`)
	if !strings.Contains(out, "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666") {
		t.Errorf("devpts options:\n%s", out)
	}
	if !strings.Contains(out, "\nptmx \n0 ptmx ") {
		t.Errorf("devpts is not a new instance:\n%s", out)
	}
}

// TestIdentityFilesAreTheRuntimes: /etc/hostname, /etc/hosts and the
// extra files are the runtime's own, in the scratch dir, bound in; neither
// the base nor the overlay's upper dir gets them. The container's address
// (extra /etc/hosts lines) comes before 127.0.1.1.
func TestIdentityFilesAreTheRuntimes(t *testing.T) {
	s, _ := newSpec(t)
	baseHostname, _ := os.ReadFile(filepath.Join(testBase, "etc/hostname"))
	s.Files = map[string][]byte{"/etc/resolv.conf": []byte("nameserver 10.0.0.1\n"), "/etc/hosts": []byte("10.0.0.2\tbox peer\n")}
	out := sh(t, s, `cat /etc/hostname; grep -e box -e peer /etc/hosts; cat /etc/resolv.conf; grep -c ' /etc/' /proc/self/mountinfo`)
	if want := "box\n10.0.0.2\tbox peer\n127.0.1.1\tbox\nnameserver 10.0.0.1\n3\n"; out != want {
		t.Errorf("inside: %q, want %q", out, want)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Scratch, FilesDir, "etc/hostname")); string(got) != "box\n" {
		t.Errorf("%s/etc/hostname = %q", FilesDir, got)
	}
	if got, err := os.ReadFile(filepath.Join(s.Scratch, "upper/etc/hostname")); err == nil && len(got) > 0 {
		t.Errorf("upper/etc/hostname = %q, want the file bound from %s", got, FilesDir)
	}
	if now, _ := os.ReadFile(filepath.Join(testBase, "etc/hostname")); !bytes.Equal(now, baseHostname) {
		t.Errorf("the base's /etc/hostname changed: %q", now)
	}
	if _, err := os.Stat(filepath.Join(testBase, "etc/resolv.conf")); err == nil {
		t.Error("resolv.conf written to the base")
	}
}

// TestVolumeOverIdentityFilesWins: a user's volume on /etc, or on
// /etc/hosts itself, read-only or not, is what the container sees, and
// the runtime writes nothing into it (issue 8: -v $PWD/d:/etc rewrote
// d/hostname and d/hosts; with :ro the run failed).
func TestVolumeOverIdentityFilesWins(t *testing.T) {
	s, dir := newSpec(t)
	etc := filepath.Join(dir, "etc")
	os.Mkdir(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "hostname"), []byte("users-own\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "hosts"), []byte("10.9.9.9\tusers-entry\n"), 0o644)
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("10.8.8.8\tmine\n"), 0o644)
	s.Files = map[string][]byte{"/etc/resolv.conf": []byte("nameserver 10.0.0.1\n")}
	for _, c := range []struct {
		vols []Volume
		want string
	}{
		{[]Volume{{Host: etc, Container: "/etc"}}, "users-own\n10.9.9.9\tusers-entry\n"},
		{[]Volume{{Host: etc, Container: "/etc", ReadOnly: true}}, "users-own\n10.9.9.9\tusers-entry\n"},
		{[]Volume{{Host: hosts, Container: "/etc/hosts", ReadOnly: true}}, "box\n10.8.8.8\tmine\n"},
		{[]Volume{{Host: hosts, Container: "/etc/hosts"}}, "box\n10.8.8.8\tmine\n"},
	} {
		s.Volumes = c.vols
		out := sh(t, s, `cat /etc/hostname /etc/hosts`)
		if out != c.want {
			t.Errorf("%v: inside %q, want %q", c.vols, out, c.want)
		}
	}
	entries, _ := os.ReadDir(etc)
	if len(entries) != 2 {
		t.Errorf("the volume on /etc got files: %v", entries)
	}
	if got, _ := os.ReadFile(filepath.Join(etc, "hosts")); string(got) != "10.9.9.9\tusers-entry\n" {
		t.Errorf("the volume's hosts file was written: %q", got)
	}
	if got, _ := os.ReadFile(hosts); string(got) != "10.8.8.8\tmine\n" {
		t.Errorf("the volume on /etc/hosts was written: %q", got)
	}
}

// TestVolumesSortedByDepth: -v A:/data/sub -v B:/data must not hide A
// under B: mounts go parents first, as docker sorts them.
func TestVolumesSortedByDepth(t *testing.T) {
	s, dir := newSpec(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(a, "from-a"), nil, 0o644)
	os.WriteFile(filepath.Join(b, "from-b"), nil, 0o644)
	s.Volumes = []Volume{{Host: a, Container: "/data/sub"}, {Host: b, Container: "/data"}}
	if out := sh(t, s, `ls /data/sub /data | tr '\n' ' '`); out != "/data:\nfrom-b sub\n\n/data/sub:\nfrom-a\n" && out != "/data: from-b sub  /data/sub: from-a " {
		t.Errorf("inside: %q", out)
	}
	// B's mount point for A was made in B: the user asked for it there.
	os.Remove(filepath.Join(b, "sub"))
}

func TestSortVolumes(t *testing.T) {
	in := []Volume{{Host: "1", Container: "/data/sub/x"}, {Host: "2", Container: "/data"}, {Host: "3", Container: "/other/sub"}, {Host: "4", Container: "/b"}}
	var got []string
	for _, v := range SortVolumes(in) {
		got = append(got, v.Host)
	}
	if strings.Join(got, "") != "2431" {
		t.Errorf("order %v, want 2 4 3 1 (by depth, stable)", got)
	}
	if in[0].Host != "1" {
		t.Error("SortVolumes changed its argument")
	}
}

// TestWorkdirMade: a missing working directory is made inside the root
// (in the overlay), as docker makes it, not refused.
func TestWorkdirMade(t *testing.T) {
	s, _ := newSpec(t)
	s.Workdir = "/missing/deep"
	if out := sh(t, s, `test -d /missing/deep && echo ok`); out != "ok\n" {
		t.Errorf("inside: %q", out)
	}
	if _, err := os.Stat(filepath.Join(testBase, "missing")); err == nil {
		t.Error("the workdir was made in the base")
	}
}

func TestWritesGoToUpperNeverBase(t *testing.T) {
	s, _ := newSpec(t)
	sh(t, s, `echo hi > /written && rm /bin/ls && echo changed >> /etc/passwd`)
	if got, _ := os.ReadFile(filepath.Join(s.Scratch, "upper/written")); string(got) != "hi\n" {
		t.Errorf("upper/written = %q", got)
	}
	for _, p := range []string{"written", ".escape"} {
		if _, err := os.Lstat(filepath.Join(testBase, p)); err == nil {
			t.Errorf("%s appeared in the base", p)
		}
	}
	if _, err := os.Lstat(filepath.Join(testBase, "bin/ls")); err != nil {
		t.Errorf("rm /bin/ls in the container removed it from the base: %v", err)
	}
	if p, _ := os.ReadFile(filepath.Join(testBase, "etc/passwd")); strings.Contains(string(p), "changed") {
		t.Error("the base's /etc/passwd was modified")
	}
	// The deletion is a whiteout in upper: a 0:0 character device.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.Scratch, "upper/bin/ls"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("no whiteout for /bin/ls in upper (err %v, mode %o)", err, st.Mode)
	}
}

func TestTwoContainersFromOneBase(t *testing.T) {
	a, dir := newSpec(t)
	b := a
	b.Scratch = filepath.Join(dir, "scratch-b")
	if err := os.Mkdir(b.Scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	// Both run at once: a writes, then b looks, while a is still alive.
	// Two fifos, one each way: with one, a's own "cat" could read back the
	// line a had just written for the test, and both would wait forever.
	ready, goOn := filepath.Join(dir, "ready"), filepath.Join(dir, "go")
	for _, f := range []string{ready, goOn} {
		if err := unix.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a.Volumes = []Volume{{Host: ready, Container: "/ready"}, {Host: goOn, Container: "/go"}}
	ca := containerCmd(t, a, "/bin/sh", "-c", `echo a > /mine && echo written > /ready && cat /go >/dev/null; cat /mine`)
	var outA bytes.Buffer
	ca.Stdout, ca.Stderr = &outA, &outA
	if err := ca.Start(); err != nil {
		t.Fatal(err)
	}
	// Opening a fifo blocks until the other end is opened: each step runs
	// against a deadline, so a container that failed is a clear error,
	// not a hung test.
	within := func(what string, step func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- step() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(30 * time.Second):
			ca.Process.Kill()
			ca.Wait()
			t.Fatalf("%s: container a did not get there in 30 s: %s", what, outA.String())
		}
	}
	within("waiting for a's write", func() error {
		f, err := os.Open(ready)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.ReadFull(f, make([]byte, len("written\n")))
		return err
	})
	outB, err := run(t, b, "/bin/sh", "-c", `ls /mine 2>&1; echo b > /mine; cat /mine`)
	within("letting a go on", func() error {
		f, err := os.OpenFile(goOn, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write([]byte("go\n"))
		f.Close()
		return err
	})
	errA := ca.Wait()
	if err != nil || errA != nil {
		t.Fatalf("a: %v %s\nb: %v %s", errA, outA.String(), err, outB)
	}
	if !strings.Contains(outB, "No such file") || !strings.HasSuffix(outB, "b\n") {
		t.Errorf("b saw a's write: %q", outB)
	}
	if outA.String() != "a\n" {
		t.Errorf("a saw b's write: %q", outA.String())
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	s, _ := newSpec(t)
	s.ReadOnly = true
	out, err := run(t, s, "/bin/sh", "-c", `touch /dev/shm/ok && echo shm ok; awk '$5 == "/" {print $6}' /proc/self/mountinfo; touch /x`)
	if err == nil {
		t.Fatalf("writing to a read-only root worked:\n%s", out)
	}
	if !strings.Contains(out, "shm ok\nro,") || !strings.Contains(out, "touch: /x: Read-only file system") {
		t.Errorf("--read-only:\n%s", out)
	}
	// The hostname files were written before the root became read-only.
	if out := sh(t, s, "cat /etc/hostname"); out != "box\n" {
		t.Errorf("/etc/hostname = %q", out)
	}
	// The same under chroot: "/" is then the bind mount's root too.
	s.Chroot = true
	if out, err := run(t, s, "/bin/touch", "/x"); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Errorf("--read-only --chroot: %v\n%s", err, out)
	}
}

// Without a scratch dir there is no overlay: the root is the base itself,
// so only a read-only root leaves the base untouched, and Setup refuses to
// write the hostname files into it.
func TestNoOverlay(t *testing.T) {
	s, _ := newSpec(t)
	s.Scratch, s.Hostname, s.ReadOnly = "", "", true
	out, err := run(t, s, "/bin/sh", "-c", `cat /etc/hostname; awk '$5 == "/" {print $6}' /proc/self/mountinfo; touch /x`)
	if err == nil || !strings.Contains(out, "minicontainer\nro,") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("read-only base without overlay: %v\n%s", err, out)
	}
	s.Hostname = "box"
	out, err = run(t, s, "/bin/true")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 125 || !strings.Contains(out, ErrNoOverlay.Error()) {
		t.Errorf("hostname without overlay: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(testBase, "x")); err == nil {
		t.Error("the base was written")
	}
}

func TestVolumes(t *testing.T) {
	s, dir := newSpec(t)
	rw := filepath.Join(dir, "rw")
	ro := filepath.Join(dir, "ro")
	file := filepath.Join(dir, "file")
	for _, d := range []string{rw, ro} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(ro, "from-host"), []byte("host\n"), 0o644)
	os.WriteFile(file, []byte("a file\n"), 0o644)
	for _, spec := range []string{rw + ":/data/rw", ro + ":/data/ro:ro", file + ":/etc/extra.conf:ro"} {
		v, err := ParseVolume(spec)
		if err != nil {
			t.Fatal(err)
		}
		s.Volumes = append(s.Volumes, v)
	}
	out, err := run(t, s, "/bin/sh", "-c", `echo from-container > /data/rw/new; cat /data/ro/from-host /etc/extra.conf; touch /data/ro/x; echo x >> /etc/extra.conf`)
	if err == nil {
		t.Errorf("writing to a read-only volume worked:\n%s", out)
	}
	if !strings.Contains(out, "host\na file\ntouch: /data/ro/x: Read-only file system\n") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("inside:\n%s", out)
	}
	if got, _ := os.ReadFile(filepath.Join(rw, "new")); string(got) != "from-container\n" {
		t.Errorf("rw volume on the host: %q", got)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("ro volume written")
	}
	// The mount points were made in the overlay, not in the base.
	if _, err := os.Stat(filepath.Join(testBase, "data")); err == nil {
		t.Error("/data made in the base")
	}
}

func TestNarration(t *testing.T) {
	s, _ := newSpec(t)
	cmd := containerCmd(t, s, "/bin/true")
	cmd.Env = append(cmd.Env, explain.EnvVar+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		`mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL) = 0   [mount(2)]`,
		fmt.Sprintf(`mount("overlay", "%s/merged", "overlay", 0, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work,volatile") = 0   [mount(2)]`, s.Scratch, testBase, s.Scratch, s.Scratch),
		fmt.Sprintf(`</%s/merged/sys>, "sysfs", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) = 0   [mount(2)]`, strings.TrimPrefix(s.Scratch, "/")),
		`mount("sysfs", /proc/self/fd/`,
		`mknod("` + s.Scratch + `/merged/dev/null", 020666, makedev(1, 3)) = 0   [mknod(2)]`,
		`"newinstance,ptmxmode=0666,mode=0620,gid=5") = 0   [mount(2)]`,
		`pivot_root(".", ".") = 0   [pivot_root(2)]`,
		`umount2(".", MNT_DETACH) = 0   [umount(2)]`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("narration lacks %s\n%s", want, out)
		}
	}
	if strings.Index(string(out), "MS_REC|MS_PRIVATE") > strings.Index(string(out), `"overlay"`) {
		t.Error("propagation was not made private before the first mount")
	}
}

// TestChrootEscape runs the classic escape (testdata/escape) under chroot,
// where it reaches the host's root, and under pivot_root, where it does not.
func TestChrootEscape(t *testing.T) {
	s, dir := newSpec(t)
	secret := filepath.Join(dir, "host-secret")
	if err := os.WriteFile(secret, []byte("only on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Chroot = true
	out, err := run(t, s, "/escape", "/bin/cat", secret)
	if err != nil || !strings.HasSuffix(out, "only on the host\n") {
		t.Errorf("under chroot the escape should reach the host: %v\n%s", err, out)
	}
	s.Chroot = false
	out, err = run(t, s, "/escape", "/bin/cat", secret)
	if err == nil || strings.Contains(out, "only on the host") || !strings.Contains(out, "No such file or directory") {
		t.Errorf("under pivot_root the escape must fail: %v\n%s", err, out)
	}
	if !strings.Contains(out, `escape: chroot(".") = 0`) {
		t.Errorf("the escape did not run its steps:\n%s", out)
	}
}

// sandboxMain runs in a mount namespace of its own (a sandbox standing for
// a systemd host) whose mounts it makes MS_SHARED. It starts a container
// from there and reports whether its own mount table changed: with "/"
// shared, any mount the container made before going private would
// propagate here. As a control it first runs leakEntry, which mounts
// without making anything private, and reports that this one is seen.
func sandboxMain() {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		fmt.Println("sandbox: make / shared:", err)
		os.Exit(1)
	}
	mounts := func() []string {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.Fields(l)
			out = append(out, f[4])
		}
		sort.Strings(out)
		return out
	}
	before := mounts()
	start := func(name string, argv ...string) error {
		cmd := reexec.Command(name, argv...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stderr, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
		return cmd.Run()
	}
	leakDir := os.Args[1]
	if err := start(leakEntry, leakDir); err != nil {
		fmt.Println("leak control:", err)
		os.Exit(1)
	}
	leaked := mounts()
	unix.Unmount(leakDir, unix.MNT_DETACH)
	if err := start(containerEntry, "/bin/true"); err != nil {
		fmt.Println("container:", err)
		os.Exit(1)
	}
	after := mounts()
	fmt.Printf("control-leaked=%v\n", len(leaked) == len(before)+1 && strings.Contains(strings.Join(leaked, " "), leakDir))
	fmt.Printf("unchanged=%v\n", strings.Join(before, " ") == strings.Join(after, " "))
	if strings.Join(before, " ") != strings.Join(after, " ") {
		fmt.Printf("before: %q\nafter: %q\n", before, after)
	}
}

// leakMain mounts a tmpfs the way a careless runtime would: in a new
// mount namespace but with the propagation it inherited.
func leakMain() {
	if err := unix.Mount("mctest", os.Args[1], "tmpfs", 0, ""); err != nil {
		fmt.Fprintln(os.Stderr, "leak: mount:", err)
		os.Exit(1)
	}
}

func TestNothingPropagatesFromASharedRoot(t *testing.T) {
	s, dir := newSpec(t)
	leakDir := filepath.Join(dir, "leak")
	if err := os.Mkdir(leakDir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(s)
	cmd := reexec.Command(sandboxEntry, leakDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.Env = append(os.Environ(), specEnv+"="+string(spec))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "control-leaked=true") {
		t.Errorf("the control mount did not propagate to the shared sandbox, so the test proves nothing:\n%s", out)
	}
	if !strings.Contains(string(out), "unchanged=true") {
		t.Errorf("the container's mounts reached the sandbox's shared /:\n%s", out)
	}
}

func TestSetupRefusesHostMountNamespace(t *testing.T) {
	needRoot(t)
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	init, err2 := os.Readlink("/proc/1/ns/mnt")
	if err1 != nil || err2 != nil || self != init {
		t.Skip("this test process is not in PID 1's mount namespace")
	}
	snap := hostcheck.Take(t)
	defer snap.Verify(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := Setup(Spec{Base: testBase}, nil)
	if !errors.Is(err, ErrHostMountNamespace) {
		t.Fatalf("Setup in the host's mount namespace: %v, want ErrHostMountNamespace", err)
	}
}

func TestBuildBusybox(t *testing.T) {
	needRoot(t) // chroot(1)
	tmp := t.TempDir()
	defer hostcheck.Take(t, tmp).Verify(t)
	dir := filepath.Join(tmp, "rootfs")
	if err := BuildBusybox(dir, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chroot", dir, "/bin/busybox", "sh", "-c", "ls /bin | wc -l; id -un; cat /etc/hostname").CombinedOutput()
	if err != nil {
		t.Fatalf("chroot: %v\n%s", err, out)
	}
	var n int
	var user, host string
	fmt.Sscan(string(out), &n, &user, &host)
	if n < 50 || user != "root" || host != "minicontainer" {
		t.Errorf("in the busybox root: %q", out)
	}
	// Nothing else from the host: the only regular file is busybox and /etc.
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			files = append(files, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	sort.Strings(files)
	if got := strings.Join(files, " "); got != "/bin/busybox /etc/group /etc/hostname /etc/hosts /etc/passwd" {
		t.Errorf("regular files: %s", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v", st.Mode(), err)
	}
	if err := BuildBusybox(dir, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("building into a non-empty dir: %v", err)
	}
}

func TestBuildBusyboxErrors(t *testing.T) {
	dir := t.TempDir()
	defer hostcheck.Take(t, dir).Verify(t)
	err := buildBusybox("/nonexistent/busybox", filepath.Join(dir, "r"), nil)
	if err == nil || err.Error() != "/nonexistent/busybox not found: apt-get install busybox-static" {
		t.Errorf("missing busybox: %v", err)
	}
	if ls, _ := exec.LookPath("ls"); ls != "" {
		err := buildBusybox(ls, filepath.Join(dir, "r"), nil)
		if err == nil || !strings.Contains(err.Error(), "is dynamically linked") || !strings.Contains(err.Error(), "apt-get install busybox-static") {
			t.Errorf("dynamic busybox: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r")); err == nil {
		t.Error("a failed build left its directory")
	}
}

func TestLookPath(t *testing.T) {
	needRoot(t) // the shared busybox base is built only as root
	defer hostcheck.Take(t, testBase).Verify(t)
	for _, c := range []struct {
		cmd, want string
		err       error
	}{
		{"sh", "/bin/sh", nil},
		{"/bin/sh", "/bin/sh", nil},
		{"awk", "/usr/bin/awk", nil},
		{"nope", "", ErrCommandNotFound},
		{"/etc/passwd", "", ErrNotExecutable},
		{"/nope", "", ErrCommandNotFound},
	} {
		got, err := LookPath(testBase, c.cmd, "")
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("LookPath(%q) = %q, %v; want %q, %v", c.cmd, got, err, c.want, c.err)
		}
	}
}

func TestParseVolume(t *testing.T) {
	defer hostcheck.Take(t, "rootfs-test").Verify(t)
	for _, c := range []struct {
		in   string
		want Volume
		err  string
	}{
		{"/a:/b", Volume{Host: "/a", Container: "/b"}, ""},
		{"/a:/b/:ro", Volume{Host: "/a", Container: "/b", ReadOnly: true}, ""},
		{"/a:/b:rw", Volume{Host: "/a", Container: "/b"}, ""},
		{"/a", Volume{}, `volume "/a": want HOST:CONTAINER[:ro]`},
		{"/a:/b:ro:x", Volume{}, `volume "/a:/b:ro:x": want HOST:CONTAINER[:ro]`},
		{"/a:/b:rx", Volume{}, `volume "/a:/b:rx": unknown mode "rx" (want ro or rw)`},
		{":/b", Volume{}, `volume ":/b": empty host path`},
		{"/a:", Volume{}, `volume "/a:": empty container path`},
		{"/a:b", Volume{}, `volume "/a:b": container path "b" is not absolute`},
		{"/a:/", Volume{}, `volume "/a:/": cannot mount over the container's root`},
	} {
		got, err := ParseVolume(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseVolume(%q) error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	wd, _ := os.Getwd()
	if v, err := ParseVolume("data:/data"); err != nil || v.Host != filepath.Join(wd, "data") {
		t.Errorf("relative host path: %+v %v", v, err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	defer hostcheck.Take(t, dir).Verify(t)
	base := filepath.Join(dir, "base")
	empty := filepath.Join(dir, "empty")
	file := filepath.Join(dir, "file")
	os.MkdirAll(filepath.Join(base, "bin"), 0o755)
	os.Mkdir(empty, 0o755)
	os.WriteFile(file, nil, 0o644)
	scratch := filepath.Join(dir, "scratch")
	ok := Spec{Base: base, Scratch: scratch, Hostname: "box"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	with := func(f func(*Spec)) Spec { s := ok; f(&s); return s }
	for _, c := range []struct {
		spec Spec
		err  string
	}{
		{with(func(s *Spec) { s.Base = "" }), "rootfs: no base root filesystem given"},
		{with(func(s *Spec) { s.Base = filepath.Join(dir, "nope") }), "rootfs " + dir + "/nope: no such file or directory"},
		{with(func(s *Spec) { s.Base = file }), "rootfs " + file + ": not a directory"},
		{with(func(s *Spec) { s.Base = "/" }), "rootfs /: the host's own root cannot be a container's root filesystem"},
		{with(func(s *Spec) { s.Base = empty }), "rootfs " + empty + ": empty directory (build one with: minicontainer rootfs busybox DIR)"},
		{with(func(s *Spec) { s.Scratch = filepath.Join(base, "s") }), "rootfs: scratch dir " + base + "/s and base " + base + " must not contain each other"},
		{with(func(s *Spec) { s.Hostname = strings.Repeat("h", 65) }), `hostname "` + strings.Repeat("h", 65) + `": 65 bytes, longer than HOST_NAME_MAX (64)`},
		{with(func(s *Spec) { s.Hostname = "a b" }), `hostname "a b": ' ' is not allowed (letters, digits, '-' and '.')`},
		{with(func(s *Spec) { s.Hostname = "-a" }), `hostname "-a": must start with a letter or digit`},
		{with(func(s *Spec) { s.Volumes = []Volume{{Host: dir + "/nope", Container: "/x"}} }), "volume " + dir + "/nope:/x: host path: no such file or directory"},
		{with(func(s *Spec) { s.Volumes = []Volume{{Host: dir, Container: "x"}} }), "volume " + dir + ":x: container path must be absolute and not /"},
		{with(func(s *Spec) { s.Volumes = []Volume{{Host: dir, Container: "/proc"}} }), "volume " + dir + ":/proc: /proc is set up by the runtime and cannot be a volume"},
		{with(func(s *Spec) {
			s.Volumes = []Volume{{Host: dir, Container: "/x"}, {Host: dir, Container: "/x/", ReadOnly: true}}
		}), "volume " + dir + ":/x/:ro: /x is mounted twice"},
		{with(func(s *Spec) { s.Files = map[string][]byte{"etc/x": nil} }), `file "etc/x": path inside the container must be absolute and not /`},
	} {
		err := c.spec.Validate()
		if err == nil || err.Error() != c.err {
			t.Errorf("Validate: %v\nwant: %s", err, c.err)
		}
	}
	// ',' ':' and '\' are escaped in the overlay's options (overlayEscape).
	if err := with(func(s *Spec) { s.Scratch = dir + `/a,b:c\d` }).Validate(); err != nil {
		t.Errorf("Validate of a scratch path with ',' ':' '\\': %v", err)
	}
	// The caller makes the scratch dir after Validate.
	if err := with(func(s *Spec) { s.Scratch = "" }).Validate(); err != nil {
		t.Errorf("spec without scratch dir: %v", err)
	}
	if err := with(func(s *Spec) { s.Hostname = strings.Repeat("h", 64) }).Validate(); err != nil {
		t.Errorf("64-byte hostname: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("Validate created something: %d entries in %s", len(entries), dir)
	}
}

// probeMain prints the optional fields of "/" in its mountinfo: "shared:N"
// when "/" propagates to peer group N, nothing when it is private.
func probeMain() {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 7 && f[4] == "/" {
			var tags []string
			for _, t := range f[6:] {
				if t == "-" {
					break
				}
				tags = append(tags, t)
			}
			fmt.Printf("%s: / propagation [%s]\n", os.Args[1], strings.Join(tags, " "))
		}
	}
}

// trapMain makes "/" shared in its own mount namespace (a systemd host in
// small), then starts probeEntry twice: once with CLONE_NEWNS in
// Cloneflags, once in Unshareflags.
func trapMain() {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		fmt.Println("make / shared:", err)
		os.Exit(1)
	}
	for _, c := range []struct {
		name string
		attr *syscall.SysProcAttr
	}{
		{"Cloneflags", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}},
		{"Unshareflags", &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}},
	} {
		cmd := reexec.Command(probeEntry, c.name)
		cmd.Stdin = nil
		cmd.SysProcAttr = c.attr
		if err := cmd.Run(); err != nil {
			fmt.Println(c.name, err)
			os.Exit(1)
		}
	}
}

// TestGoUnshareflagsTrap checks the Go trap the lesson explains: with
// Unshareflags, package syscall silently remounts "/" MS_REC|MS_PRIVATE in
// the child; with Cloneflags the child's "/" stays shared with the parent,
// so Setup must make it private itself.
func TestGoUnshareflagsTrap(t *testing.T) {
	needRoot(t)
	defer hostcheck.Take(t, "rootfs-test").Verify(t)
	cmd := reexec.Command(trapEntry)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Cloneflags: / propagation [shared:") ||
		lines[1] != "Unshareflags: / propagation []" {
		t.Errorf("propagation of / in the child:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestKilledContainerLeavesNothing kills a running container with SIGKILL:
// its mounts lived only in its mount namespace, which dies with its last
// process, so the host's mount table (checked by newSpec's hostcheck) is
// as it was, and the scratch dir can be removed.
func TestKilledContainerLeavesNothing(t *testing.T) {
	s, _ := newSpec(t)
	cmd := containerCmd(t, s, "/bin/sh", "-c", "echo up; exec sleep 1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "up\n" {
		t.Fatalf("container did not start: %q %v", buf, err)
	}
	// While it runs, its mounts are in its own namespace only.
	for _, m := range hostcheck.Mounts(t) {
		if strings.Contains(m, s.Scratch) {
			t.Errorf("container mount visible on the host: %s", m)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := os.RemoveAll(s.Scratch); err != nil {
		t.Errorf("removing the scratch dir after SIGKILL: %v", err)
	}
}

// bareMain execs its arguments at once: the same re-exec and namespaces as
// a container, without Setup, so the benchmark can subtract them.
func bareMain() {
	err := unix.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(126)
}

// BenchmarkSetup starts containers running /bin/true, with Setup (overlay,
// /proc, /sys, /dev, pivot_root) and without it; the difference is what
// the root filesystem costs per container.
func BenchmarkSetup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := b.TempDir()
	for _, c := range []struct {
		name  string
		entry string
		argv  []string
	}{
		{"re-exec+namespaces only", bareEntry, []string{"/bin/true"}},
		{"with Setup", containerEntry, []string{"/bin/true"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				scratch := filepath.Join(dir, fmt.Sprint("s", i))
				spec, _ := json.Marshal(Spec{Base: testBase, Scratch: scratch, Hostname: "box"})
				cmd := reexec.Command(c.entry, c.argv...)
				cmd.Stdin, cmd.Stdout = nil, nil
				cmd.Env = append(os.Environ(), specEnv+"="+string(spec))
				cmd.SysProcAttr = &syscall.SysProcAttr{
					Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
				}
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(scratch)
			}
		})
	}
}

// TestSymlinksStayInsideTheRoot gives the container a base whose
// /etc/hostname and /evil are symlinks to absolute host paths. Followed
// on the host, writing the hostname or mounting a volume under /evil would
// touch the host; resolved in the root (openat2 RESOLVE_IN_ROOT) they stay
// in the container.
func TestSymlinksStayInsideTheRoot(t *testing.T) {
	s, dir := newSpec(t)
	s.Base = filepath.Join(dir, "base")
	if err := BuildBusybox(s.Base, nil); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(dir, "host-hostname")
	hostDir := filepath.Join(dir, "hostdir")
	os.WriteFile(hostFile, []byte("host\n"), 0o644)
	os.Mkdir(hostDir, 0o755)
	os.Remove(filepath.Join(s.Base, "etc/hostname"))
	if err := os.Symlink(hostFile, filepath.Join(s.Base, "etc/hostname")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, filepath.Join(s.Base, "evil")); err != nil {
		t.Fatal(err)
	}
	// A relative one that climbs: ".." stops at the container's root.
	if err := os.Symlink("../../../../.."+hostDir, filepath.Join(s.Base, "etc/climb")); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "vol")
	os.Mkdir(vol, 0o755)
	os.WriteFile(filepath.Join(vol, "in-volume"), nil, 0o644)
	s.Volumes = []Volume{{Host: vol, Container: "/evil/vol"}, {Host: vol, Container: "/etc/climb/sub/vol2"}}
	out := sh(t, s, "cat /etc/hostname; ls /evil/vol; ls "+hostDir+"/sub/vol2")
	if out != "box\nin-volume\nin-volume\n" {
		t.Errorf("inside: %q", out)
	}
	if got, _ := os.ReadFile(hostFile); string(got) != "host\n" {
		t.Errorf("the host file behind the /etc/hostname symlink was written: %q", got)
	}
	if entries, _ := os.ReadDir(hostDir); len(entries) != 0 {
		t.Errorf("a mount point was made on the host through /evil: %v", entries)
	}
}

// TestSetupErrorsSayStepAndPath makes Setup fail half way (a volume whose
// mount point is under a regular file of the base): the init reports one
// line naming the volume and the path, and the host is left as it was.
func TestSetupErrorsSayStepAndPath(t *testing.T) {
	s, dir := newSpec(t)
	s.Volumes = []Volume{{Host: dir, Container: "/etc/passwd/sub"}}
	out, err := run(t, s, "/bin/true")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 125 {
		t.Fatalf("want exit 125, got %v\n%s", err, out)
	}
	want := "container: volume " + dir + ":/etc/passwd/sub: mkdir /etc/passwd/sub in " + s.Scratch + "/merged: not a directory\n"
	if out != want {
		t.Errorf("error:\n%s\nwant:\n%s", out, want)
	}
}
