package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// maskEntry runs MaskPaths and ReadonlyPaths in a new, private mount
// namespace and prints what a process there then sees, one key=value a
// line.
const maskEntry = "rootfs-test-mask"

func init() { reexec.Register(maskEntry, maskMain) }

// errnoOf names the errno of err ("ok" for none), as the test compares it.
func errnoOf(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// maskMain: os.Args[1] is the mode, os.Args[2] a scratch dir.
func maskMain() {
	fail := func(what string, err error) {
		fmt.Printf("child-error=%s: %v\n", what, err)
		os.Exit(1)
	}
	// Nothing done here may reach the host: cut every mount from its peers.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("make / private", err)
	}
	x := explain.FromEnv("")
	mode := os.Args[1]
	if mode == "defaults" {
		// The real /proc and /sys, in this namespace only.
		if err := MaskPaths(DefaultMaskedPaths, x); err != nil {
			fail("MaskPaths", err)
		}
		if err := ReadonlyPaths(DefaultReadonlyPaths, x); err != nil {
			fail("ReadonlyPaths", err)
		}
		kcore, err := os.ReadFile("/proc/kcore")
		fmt.Printf("kcore=%q %s\n", kcore, errnoOf(err))
		keys, err := os.ReadFile("/proc/keys")
		fmt.Printf("keys=%q %s\n", keys, errnoOf(err))
		// Write core_pattern back to its own value: refused here.
		cp, err := os.ReadFile("/proc/sys/kernel/core_pattern")
		if err != nil {
			fail("read core_pattern", err)
		}
		fmt.Printf("core_pattern-write=%s\n", errnoOf(os.WriteFile("/proc/sys/kernel/core_pattern", cp, 0)))
		fmt.Printf("sysrq-write=%s\n", errnoOf(os.WriteFile("/proc/sysrq-trigger", nil, 0)))
		if _, err := os.Stat("/sys/firmware"); err == nil {
			ents, _ := os.ReadDir("/sys/firmware")
			fmt.Printf("firmware=%d\n", len(ents))
		}
		return
	}

	dir := os.Args[2]
	// A tmpfs with nosuid,nodev,noexec: ReadonlyPaths must keep them.
	if err := unix.Mount("mctest-mask", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
		fail("tmpfs", err)
	}
	for _, d := range []string{"secretdir", "ro", "rw"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			fail("mkdir", err)
		}
	}
	for name, data := range map[string]string{"secret": "host secret", "secretdir/a": "a", "ro/file": "ro", "rofile": "rofile"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			fail("write", err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	if mode == "fake-null" {
		// A /dev/null that is a plain file, as a hostile image could ship.
		if err := os.WriteFile(p("fake"), nil, 0o644); err != nil {
			fail("fake", err)
		}
		if err := unix.Mount(p("fake"), "/dev/null", "", unix.MS_BIND, ""); err != nil {
			fail("bind fake /dev/null", err)
		}
		err := MaskPaths([]string{p("secret")}, x)
		fmt.Printf("mask-error=%v\n", err)
		secret, _ := os.ReadFile(p("secret"))
		fmt.Printf("secret=%q\n", secret)
		return
	}
	// "paths": the mount API where the kernel has it; "paths-mount2": the
	// mount(2) sequence an older kernel gets.
	newAPI := mode == "paths"
	if err := maskPaths([]string{p("secret"), p("secretdir"), p("missing"), p("secret")}, x, newAPI); err != nil {
		fail("MaskPaths", err)
	}
	if err := readonlyPaths([]string{p("ro"), p("rofile"), p("missing/too")}, x, newAPI); err != nil {
		fail("ReadonlyPaths", err)
	}
	secret, err := os.ReadFile(p("secret"))
	fmt.Printf("secret=%q %s\n", secret, errnoOf(err))
	fmt.Printf("secret-write=%s\n", errnoOf(os.WriteFile(p("secret"), []byte("x"), 0)))
	ents, err := os.ReadDir(p("secretdir"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	fmt.Printf("secretdir=%q %s\n", strings.Join(names, " "), errnoOf(err))
	fmt.Printf("secretdir-write=%s\n", errnoOf(os.WriteFile(p("secretdir/new"), nil, 0o644)))
	fmt.Printf("ro-write=%s\n", errnoOf(os.WriteFile(p("ro/new"), nil, 0o644)))
	fmt.Printf("ro-file-write=%s\n", errnoOf(os.WriteFile(p("ro/file"), []byte("x"), 0)))
	rofile, _ := os.ReadFile(p("rofile"))
	fmt.Printf("rofile=%q\n", rofile)
	fmt.Printf("rofile-write=%s\n", errnoOf(os.WriteFile(p("rofile"), []byte("x"), 0)))
	fmt.Printf("rw-write=%s\n", errnoOf(os.WriteFile(p("rw/new"), nil, 0o644)))
	var fs unix.Statfs_t
	if err := unix.Statfs(p("ro"), &fs); err != nil {
		fail("statfs", err)
	}
	var flags []string
	for _, f := range []struct {
		v    int64
		name string
	}{{unix.ST_RDONLY, "ro"}, {unix.ST_NOSUID, "nosuid"}, {unix.ST_NODEV, "nodev"}, {unix.ST_NOEXEC, "noexec"}} {
		if int64(fs.Flags)&f.v != 0 {
			flags = append(flags, f.name)
		}
	}
	fmt.Printf("ro-flags=%s\n", strings.Join(flags, ","))
}

func runMask(t *testing.T, mode, dir string) (map[string]string, string) {
	t.Helper()
	cmd := reexec.Command(maskEntry, mode, dir)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &out, &errb
	cmd.Env = append(os.Environ(), explain.EnvVar+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Cloneflags, not Unshareflags: the child makes "/" private itself.
		Cloneflags: syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, out.String(), errb.String())
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	return got, errb.String()
}

func TestMaskAndReadonlyPaths(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		mode      string
		narration []string
		masked    string // how the mask of secret is narrated
	}{
		{"paths", []string{
			// the descriptor's number is whatever the process had free
			`</dev/null>, "", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH) = `,
			`open_tree(`,
			`move_mount(`,
			`, "", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH) = 0   [move_mount(2)]`,
			`/ro>, "", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH|AT_RECURSIVE) = `,
			`, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_RDONLY}) = 0   [mount_setattr(2)]`,
		}, "/secret>, \"\", MOVE_MOUNT_F_EMPTY_PATH"},
		{"paths-mount2", []string{
			"</dev/null>, /proc/self/fd/",
			"/ro>, NULL, MS_BIND|MS_REC, NULL) = 0",
			"/ro>, NULL, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND, NULL) = 0",
		}, "/secret>, NULL, MS_BIND, NULL) = 0   [mount(2)]"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			dir := t.TempDir()
			defer hostcheck.Take(t, dir).Verify(t)
			got, narration := runMask(t, c.mode, dir)
			for k, want := range map[string]string{
				"secret":          `"" ok`,    // a masked file reads empty
				"secret-write":    "ok",       // ... and writes go to /dev/null
				"secretdir":       `"" ok`,    // a masked dir is empty
				"secretdir-write": "EROFS",    // ... and read-only
				"ro-write":        "EROFS",    // a read-only dir refuses a new file
				"ro-file-write":   "EROFS",    // ... and a write to its file
				"rofile":          `"rofile"`, // a read-only file still reads
				"rofile-write":    "EROFS",    // ... but refuses writes
				"rw-write":        "ok",       // its sibling is untouched
				"ro-flags":        "ro,nosuid,nodev,noexec",
			} {
				if got[k] != want {
					t.Errorf("%s = %s, want %s", k, got[k], want)
				}
			}
			for _, want := range append(c.narration,
				`mount("tmpfs", /proc/self/fd/`,
				"<"+dir+`/secretdir>, "tmpfs", MS_RDONLY, "nr_blocks=1,nr_inodes=2") = 0`,
				dir+"/missing: no such file here, nothing to mask",
				dir+"/missing/too: no such file here, nothing to make read-only",
			) {
				if !strings.Contains(narration, strings.ReplaceAll(want, "/ro>", dir+"/ro>")) {
					t.Errorf("no %q in the narration:\n%s", want, narration)
				}
			}
			// The duplicate is masked once.
			if n := strings.Count(narration, dir+c.masked); n != 1 {
				t.Errorf("%s/secret masked %d times:\n%s", dir, n, narration)
			}
			// The host's dir never saw the child's tmpfs or files.
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("the host's %s: %v %v", dir, ents, err)
			}
		})
	}
}

func TestMaskRefusesAFakeDevNull(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	defer hostcheck.Take(t, dir).Verify(t)
	got, _ := runMask(t, "fake-null", dir)
	if want := "masked paths: /dev/null is not the null device (char 1:3): refusing to mask with it"; got["mask-error"] != want {
		t.Errorf("mask-error = %s, want %s", got["mask-error"], want)
	}
	if got["secret"] != `"host secret"` {
		t.Errorf("secret = %s: a refused MaskPaths mounted something", got["secret"])
	}
}

// Docker's lists on the real /proc and /sys, in a private mount namespace.
func TestDefaultPaths(t *testing.T) {
	needRoot(t)
	// Only what this test could leave: a mount or a process (cgroups are
	// shared with other test runs on the machine).
	defer hostcheck.Take(t, "mount ", "process ").Verify(t)
	got, narration := runMask(t, "defaults", "")
	// A kernel may lack some of them (this one may have no /proc/kcore):
	// expect what the host has.
	for k, c := range map[string]struct{ path, want string }{
		"kcore":              {"/proc/kcore", `"" ok`},
		"keys":               {"/proc/keys", `"" ok`},
		"core_pattern-write": {"/proc/sys/kernel/core_pattern", "EROFS"},
		"sysrq-write":        {"/proc/sysrq-trigger", "EROFS"},
	} {
		want := c.want
		if _, err := os.Stat(c.path); err != nil {
			t.Logf("%s: %v: expecting ENOENT", c.path, err)
			want = "ENOENT"
			if k == "kcore" || k == "keys" {
				want = `"" ENOENT`
			}
		}
		if got[k] != want {
			t.Errorf("%s = %s, want %s\n%s", k, got[k], want, narration)
		}
	}
	if f, ok := got["firmware"]; ok && f != "0" {
		t.Errorf("/sys/firmware has %s entries, want 0 (masked)", f)
	}
	var seen []string
	for _, p := range append(append([]string{}, DefaultMaskedPaths...), DefaultReadonlyPaths...) {
		if strings.Contains(narration, "<"+p+">") || strings.Contains(narration, p+": no such file here") {
			seen = append(seen, p)
		}
	}
	sort.Strings(seen)
	if len(seen) != len(DefaultMaskedPaths)+len(DefaultReadonlyPaths) {
		t.Errorf("narrated %d of %d paths: %v\n%s", len(seen), len(DefaultMaskedPaths)+len(DefaultReadonlyPaths), seen, narration)
	}
}
