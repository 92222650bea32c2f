package labs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/rootfs"
)

func init() {
	register(&lab{
		id: "05", dir: "05-rootfs", title: "a root filesystem of its own: mount namespace, pivot_root(2), /proc",
		solutions:     []string{"docs/labs/05-rootfs/solution"},
		skeletonFails: []string{"the command runs in the new root", "the working directory is /", "the old root is detached", "proc is mounted in the new root"},
		checks:        rootfsChecks("05"),
	})
}

// rootfsChecks are the checks of lab 05; lab 06's program must still pass
// them.
func rootfsChecks(id string) []check {
	return []check{
		{"the command runs in the new root", "bind-mount ROOTFS on itself (TODO 2), then pivot_root (TODO 3); the command must find /lab-marker, a file of the lab's root filesystem",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "cat", "/lab-marker")
				if r.out != "the lab's root filesystem\n" {
					t.Errorf("cat /lab-marker: exit %d, printed %q (stderr %q)", r.code, r.out, firstLine(r.err))
				}
			}},
		{"the working directory is /", "after pivot_root and the unmount, chdir(\"/\") (TODO 4): a directory of the old root is not reachable any more",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "pwd")
				if r.out != "/\n" {
					t.Errorf("pwd: printed %q (stderr %q), want /", r.out, firstLine(r.err))
				}
			}},
		{"the old root is detached", "unmount the old root with MNT_DETACH after pivot_root (TODO 4): chroot(2) or a pivot_root without the unmount leaves the host's files reachable",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "cat", "/proc/self/mountinfo")
				if r.code != 0 {
					t.Fatalf("cat /proc/self/mountinfo: exit %d (stderr %q): is /proc mounted?", r.code, firstLine(r.err))
				}
				for _, m := range mountPoints(r.out) {
					if m != "/" && m != "/proc" && !strings.HasPrefix(m, "/proc/") && !strings.HasPrefix(m, "/dev") && !strings.HasPrefix(m, "/sys") {
						t.Errorf("the command still sees the mount on %s", m)
					}
				}
				secret := once(p, "secret", func() string { return filepath.Join(filepath.Dir(labRoot(t, p, false)), "secret") })
				e := runRoot(t, p, false, "/escape", "/bin/busybox", "cat", secret)
				if strings.Contains(e.out, "host secret") {
					t.Errorf("the chroot escape (pkg/rootfs/testdata/escape) read the host's file %s", secret)
				}
			}},
		{"proc is mounted in the new root", "mount a new proc on /proc (TODO 5), and make the directory first when the root filesystem has none (mount on a missing directory: ENOENT)",
			func(t *testing.T, p *prog) {
				// A root filesystem without /proc: the program makes it.
				r := runRoot(t, p, true, "/bin/busybox", "sh", "-c", "cat /lab-marker && cat /proc/self/mountinfo")
				if r.code != 0 || !slices.Contains(mountPoints(r.out), "/proc") {
					t.Errorf("in a root without /proc: exit %d, stdout %q, stderr %q", r.code, r.out, firstLine(r.err))
				}
			}},
		{"the exit status is the command's", "wait for the child and exit with its status (the skeleton does it): a container's exit status is its command's",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, false, "/bin/busybox", "sh", "-c", "exit 3")
				if r.code != 3 {
					t.Errorf("sh -c 'exit 3': exit %d (stderr %q)", r.code, firstLine(r.err))
				}
			}},
		{"no mount reaches the parent", "make / private, recursively, before any mount (TODO 1): in a namespace whose mounts are shared, every mount made inside appears outside too",
			func(t *testing.T, p *prog) {
				r := runRoot(t, p, true, "/bin/busybox", "true")
				if len(r.leaked) > 0 {
					t.Errorf("mounted in the parent's namespace by the run: %q", r.leaked)
				}
			}},
	}
}

type rootRun struct {
	out, err string
	code     int
	leaked   []string // mounts the parent namespace gained
}

// labRoot makes, once per lab run, a busybox root filesystem with a
// marker file and the chroot escape in it, and a host file beside it;
// bare: another one, without /proc.
func labRoot(t *testing.T, p *prog, bare bool) string {
	key := fmt.Sprint("root", bare)
	dir := once(p, key, func() string {
		tmp, err := os.MkdirTemp("", "mctest-lab-root")
		if err != nil {
			return ""
		}
		p.cleanup(func() { os.RemoveAll(tmp) })
		root := filepath.Join(tmp, "rootfs")
		if err := rootfs.BuildBusybox(root, nil); err != nil {
			t.Logf("building a busybox root filesystem: %v", err)
			return ""
		}
		os.WriteFile(filepath.Join(root, "lab-marker"), []byte("the lab's root filesystem\n"), 0o644)
		// A shell starts a background job with stdin from /dev/null.
		os.MkdirAll(filepath.Join(root, "dev"), 0o755)
		if err := unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Logf("mknod /dev/null: %v", err)
		}
		os.WriteFile(filepath.Join(tmp, "secret"), []byte("host secret\n"), 0o600)
		if bare {
			os.RemoveAll(filepath.Join(root, "proc"))
		} else {
			esc := exec.Command("go", "build", "-o", filepath.Join(root, "escape"), ".")
			esc.Dir = filepath.Join(root0(), "pkg/rootfs/testdata/escape")
			esc.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := esc.CombinedOutput(); err != nil {
				t.Logf("building the escape: %v %s", err, out)
				return ""
			}
		}
		return root
	})
	if dir == "" {
		t.Fatal("no root filesystem for the lab (busybox-static installed?)")
	}
	return dir
}

func root0() string { r, _ := filepath.Abs(root); return r }

// runRoot runs `./demo ROOTFS args...` in a mount namespace of its own
// whose mounts are all shared (as on a systemd host, but cut from the
// real host's), and reports what the mount table there gained.
func runRoot(t *testing.T, p *prog, bare bool, args ...string) rootRun {
	t.Helper()
	root := labRoot(t, p, bare)
	d := t.TempDir()
	script := `mount --make-rprivate / && mount --make-rshared / && cat /proc/self/mountinfo >"$0/before" && ./demo "$@"; echo $? >"$0/rc"; cat /proc/self/mountinfo >"$0/after"`
	cmd := exec.Command("sh", append([]string{"-c", script, d, root}, args...)...)
	cmd.Dir = p.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Run()
	r := rootRun{out: out.String(), err: errb.String(), code: -1}
	if rc, err := os.ReadFile(filepath.Join(d, "rc")); err == nil {
		fmt.Sscan(string(rc), &r.code)
	}
	before, _ := os.ReadFile(filepath.Join(d, "before"))
	after, _ := os.ReadFile(filepath.Join(d, "after"))
	had := map[string]bool{}
	for _, m := range mountLines(string(before)) {
		had[m] = true
	}
	for _, m := range mountLines(string(after)) {
		if !had[m] {
			r.leaked = append(r.leaked, m)
		}
	}
	return r
}

// mountLines are the "MOUNTPOINT FSTYPE SOURCE" of a mountinfo table (see
// proc(5)); mountPoints only the mount points.
func mountLines(mountinfo string) []string {
	var out []string
	for _, l := range lines(mountinfo) {
		f := strings.Fields(l)
		sep := slices.Index(f, "-")
		if sep < 5 || len(f) < sep+3 {
			continue
		}
		out = append(out, f[4]+" "+f[sep+1]+" "+f[sep+2])
	}
	return out
}

func mountPoints(mountinfo string) []string {
	var out []string
	for _, l := range mountLines(mountinfo) {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}
