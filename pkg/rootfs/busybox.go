package rootfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// HostBusybox is where Debian's busybox-static package installs busybox.
const HostBusybox = "/usr/bin/busybox"

// ErrNoBusybox is returned when the host has no busybox; the message says
// what to install.
var ErrNoBusybox = errors.New("apt-get install busybox-static")

// busyboxDirs is the usual layout of a small Linux root (see the Filesystem
// Hierarchy Standard); proc, sys and dev are mount points.
var busyboxDirs = []struct {
	path string
	mode os.FileMode
}{
	{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
	{"etc", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755},
	{"tmp", 0o777 | os.ModeSticky}, {"root", 0o700}, {"home", 0o755},
	{"var", 0o755}, {"var/tmp", 0o777 | os.ModeSticky}, {"run", 0o755},
}

// busyboxEtc are the files a shell and ls -l expect: who root is, the tty
// group (gid 5, which /dev/pts uses), the host name.
var busyboxEtc = []struct{ path, data string }{
	{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
	{"etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"},
	{"etc/hostname", "minicontainer\n"},
	{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tminicontainer\n"},
}

// CheckStatic reports an error unless path is an ELF executable without a
// PT_INTERP program header: a static binary that needs no dynamic loader
// and no shared library, so it runs alone inside the container.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return fmt.Errorf("%s is dynamically linked (it needs %s and shared libraries): apt-get install busybox-static",
				path, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}

// BuildBusybox makes a root filesystem in dir (which must not exist, or be
// empty) from the host's static busybox: the usual directories, busybox in
// /bin, a link for every applet it has, and a minimal /etc. Nothing else
// comes from the host. On failure, what it made is removed.
func BuildBusybox(dir string, x *explain.Narrator) error {
	return buildBusybox(HostBusybox, dir, x)
}

func buildBusybox(busybox, dir string, x *explain.Narrator) (err error) {
	if _, err := os.Stat(busybox); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s not found: %w", busybox, ErrNoBusybox)
	}
	if err := CheckStatic(busybox); err != nil {
		return err
	}
	x.Note("%s is a static ELF (no PT_INTERP): it needs nothing else from the host", busybox)
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	entries, statErr := os.ReadDir(dir)
	switch {
	case errors.Is(statErr, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("rootfs %s: %w", dir, unwrapPathError(err))
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	case statErr != nil:
		return fmt.Errorf("rootfs %s: %w", dir, unwrapPathError(statErr))
	case len(entries) > 0:
		return fmt.Errorf("rootfs %s: directory not empty", dir)
	default:
		defer func() {
			if err != nil {
				for _, e := range mustReadDir(dir) {
					os.RemoveAll(filepath.Join(dir, e))
				}
			}
		}()
	}
	for _, d := range busyboxDirs {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		if err := os.Chmod(p, d.mode); err != nil { // MkdirAll obeys the umask
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	bin := filepath.Join(dir, "bin", "busybox")
	if err := copyFile(busybox, bin, 0o755); err != nil {
		return err
	}
	x.Note("copied %s to %s", busybox, bin)

	// Ask busybox which applets it has and where each belongs
	// ("bin/ls", "usr/bin/awk", "sbin/ifconfig" ...).
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", bin, err)
	}
	links := 0
	for _, applet := range strings.Fields(string(out)) {
		applet = filepath.Clean(strings.TrimPrefix(applet, "/"))
		if applet == "bin/busybox" || strings.HasPrefix(applet, "..") {
			continue
		}
		p := filepath.Join(dir, applet)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		// An absolute target: inside the container "/" is this root.
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return fmt.Errorf("rootfs: applet link: %w", err)
		}
		links++
	}
	x.Note("made %d applet links to /bin/busybox (from busybox --list-full)", links)
	for _, f := range busyboxEtc {
		if err := os.WriteFile(filepath.Join(dir, f.path), []byte(f.data), 0o644); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	x.Note("wrote /etc/passwd, /etc/group, /etc/hostname, /etc/hosts")
	return nil
}

func mustReadDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return os.Chmod(dst, mode)
}
