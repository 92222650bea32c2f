// TEMPORARY stand-in for the rootfs branch's package, so pkg/container can
// be developed against the agreed API. Removed when the rootfs branch is merged.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

type Spec struct {
	Base     string
	Scratch  string
	ReadOnly bool
	Volumes  []Volume
	Hostname string
	Chroot   bool
	Files    map[string][]byte
}

type Volume struct {
	Host, Container string
	ReadOnly        bool
}

func ParseVolume(s string) (Volume, error) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 || p[0] == "" || p[1] == "" || !filepath.IsAbs(p[1]) {
		return Volume{}, fmt.Errorf("bad volume %q: want HOST:CONTAINER[:ro]", s)
	}
	v := Volume{Host: p[0], Container: p[1]}
	if len(p) == 3 {
		if p[2] != "ro" && p[2] != "rw" {
			return Volume{}, fmt.Errorf("bad volume %q: option %q is not ro or rw", s, p[2])
		}
		v.ReadOnly = p[2] == "ro"
	}
	return v, nil
}

func (s Spec) Validate() error {
	st, err := os.Stat(s.Base)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs %s: not a directory", s.Base)
	}
	ents, _ := os.ReadDir(s.Base)
	if len(ents) == 0 {
		return fmt.Errorf("rootfs %s: empty directory", s.Base)
	}
	if len(s.Hostname) > 64 {
		return fmt.Errorf("hostname %q: longer than 64 bytes", s.Hostname)
	}
	for _, v := range s.Volumes {
		if _, err := os.Stat(v.Host); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
	}
	return nil
}

func m(x *explain.Narrator, src, dst, fs string, fl uintptr, data string) error {
	err := unix.Mount(src, dst, fs, fl, data)
	x.Call("mount(2)", fmt.Sprintf("mount(%q, %q, %q, %#x, %q)", src, dst, fs, fl, data), nil, err)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", fs, dst, err)
	}
	return nil
}

func Setup(s Spec, x *explain.Narrator) error {
	if err := m(x, "", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	upper, work, root := filepath.Join(s.Scratch, "upper"), filepath.Join(s.Scratch, "work"), filepath.Join(s.Scratch, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := m(x, "overlay", root, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", s.Base, upper, work)); err != nil {
		return err
	}
	for _, v := range s.Volumes {
		t := filepath.Join(root, v.Container)
		os.MkdirAll(t, 0o755)
		if err := m(x, v.Host, t, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if v.ReadOnly {
			if err := m(x, "", t, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if err := m(x, "proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := m(x, "sysfs", filepath.Join(root, "sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	dev := filepath.Join(root, "dev")
	if err := m(x, "tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755"); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		f, _ := os.Create(filepath.Join(dev, n))
		f.Close()
		if err := m(x, "/dev/"+n, filepath.Join(dev, n), "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	os.MkdirAll(filepath.Join(dev, "pts"), 0o755)
	os.MkdirAll(filepath.Join(dev, "shm"), 0o1777)
	if err := m(x, "devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"); err != nil {
		return err
	}
	os.Symlink("pts/ptmx", filepath.Join(dev, "ptmx"))
	if err := m(x, "shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte(s.Hostname+"\n"), 0o644)
	for p, data := range s.Files {
		os.WriteFile(filepath.Join(root, p), data, 0o644)
	}
	if s.ReadOnly {
		if err := m(x, "", root, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	if s.Chroot {
		if err := unix.Chroot(root); err != nil {
			return err
		}
		return unix.Chdir("/")
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	x.Call("pivot_root(2)", `pivot_root(".", ".")`, nil, nil)
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Chdir("/")
}

func BuildBusybox(dir string, x *explain.Narrator) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return errors.New("busybox not found: install busybox-static (apt-get install busybox-static)")
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\n"), 0o644)
	return nil
}
