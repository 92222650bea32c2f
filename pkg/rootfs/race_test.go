package rootfs

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestVolumeMountpointSwapRace is the CVE-2021-30465 pattern (issue 16):
// while a volume is being set up, a racing process swaps its mount point
// for a symlink to a directory outside the root. Resolved once and mounted
// through the descriptor, the volume always lands inside the root; mounted
// by a path that mount(2) resolves again, it lands on the outside
// directory in some of the tries. The mounts are made in a mount namespace
// of this test's own thread, and each try is undone before the next.
func TestVolumeMountpointSwapRace(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	defer hostcheck.Take(t, dir).Verify(t)
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	vol := filepath.Join(dir, "vol")
	for _, d := range []string{root, outside, vol} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "marker"), []byte("host\n"), 0o644)
	os.WriteFile(filepath.Join(vol, "in-volume"), nil, 0o644)

	tries := 400
	if testing.Short() {
		tries = 50
	}
	var escaped, failed int
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread leaves with its mount namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare(CLONE_NEWNS): %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		for i := 0; i < tries; i++ {
			if err := resetRoot(root); err != nil {
				t.Error(err)
				return
			}
			rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			var stop, linked atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go swapper(root, outside, &stop, &linked, &wg)
			// Between resolution and mount: in every other try, wait
			// until the symlink is in place (the window the attacker
			// needs, made certain); in the others, a free race.
			mountBeforeHook = func() {
				for deadline := time.Now().Add(20 * time.Millisecond); i%2 == 0 && !linked.Load() && time.Now().Before(deadline); {
					runtime.Gosched()
				}
			}
			err = mountOne(nil, rootfd, root, BundleMount{Destination: "/data", Type: "bind", Source: vol, Flags: unix.MS_BIND | unix.MS_REC})
			mountBeforeHook = nil
			stop.Store(true)
			wg.Wait()
			unix.Close(rootfd)
			if err != nil {
				failed++ // the swapper got in before the resolution: fine
			}
			mounts := mountsUnder(t, dir)
			for _, m := range mounts {
				if m == outside || strings.HasPrefix(m, outside+"/") {
					escaped++
				}
			}
			if _, err := os.Stat(filepath.Join(outside, "in-volume")); err == nil && escaped == 0 {
				escaped++
			}
			for j := len(mounts) - 1; j >= 0; j-- {
				if err := unix.Unmount(mounts[j], unix.MNT_DETACH); err != nil {
					t.Errorf("umount %s: %v", mounts[j], err)
				}
			}
		}
	}()
	<-done
	if escaped > 0 {
		t.Errorf("the volume was mounted outside the root in %d of %d tries", escaped, tries)
	}
	if got, err := os.ReadFile(filepath.Join(outside, "marker")); err != nil || string(got) != "host\n" {
		t.Errorf("the marker outside the root: %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("the directory outside the root got files: %v", entries)
	}
	t.Logf("%d tries, %d refused (swapped before resolution), %d escaped", tries, failed, escaped)
}

// resetRoot empties root and makes root/data, the volume's mount point.
func resetRoot(root string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	return os.Mkdir(filepath.Join(root, "data"), 0o755)
}

// swapper turns root/data into a symlink to outside and back, as fast as
// it can, until stop: rename the directory away, put the symlink in its
// place, then the directory back.
func swapper(root, outside string, stop, linked *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	data, real := filepath.Join(root, "data"), filepath.Join(root, "data.real")
	for !stop.Load() {
		if os.Rename(data, real) != nil {
			runtime.Gosched()
			continue
		}
		if os.Symlink(outside, data) == nil {
			linked.Store(true)
			time.Sleep(50 * time.Microsecond)
			linked.Store(false)
		}
		os.Remove(data)
		os.Rename(real, data)
	}
}

// mountsUnder lists the mount points under dir in this thread's mount
// namespace, in mount order.
func mountsUnder(t *testing.T, dir string) []string {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}
