package image

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestParentCacheForget checks the bookkeeping that lets forget skip the
// walk: forgetting a name drops the cached directory of that name and
// every one under it, and nothing else ("a/b" is not above "a/bc").
func TestParentCacheForget(t *testing.T) {
	root := t.TempDir()
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootfd)
	var c parentCache
	defer c.drop()
	open := func(dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if _, err := c.open(rootfd, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	cached := func(want ...string) {
		t.Helper()
		got := slices.Sorted(maps.Keys(c.fds))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("cached %q, want %q", got, want)
		}
		// below must count exactly the cached directories under each path
		count := map[string]int{}
		for _, d := range got {
			for i := range len(d) {
				if d[i] == '/' {
					count[d[:i]]++
				}
			}
		}
		if !maps.Equal(c.below, count) {
			t.Fatalf("below = %v, want %v (cached %q)", c.below, count, got)
		}
	}

	open("", "a", "a/b/c", "a/b", "a/bc", "x/y")
	cached("", "a", "a/b/c", "a/b", "a/bc", "x/y")
	c.forget("a/b/cd") // a sibling's name, not above anything
	c.forget("a/bcd")
	c.forget("x/yz")
	cached("", "a", "a/b/c", "a/b", "a/bc", "x/y")
	c.forget("a/b")
	cached("", "a", "a/bc", "x/y")
	c.forget("x") // not cached itself, but x/y is under it
	cached("", "a", "a/bc")
	open("a/b/c/d")
	c.forget("a")
	cached("")
}

// TestExtractCachedParentReplaced: a directory that an earlier entry made
// the cached parent (here by an opaque whiteout, which leaves it empty)
// is replaced by a symlink to the outside, and a file is then written
// "into" it. The file must be refused at the symlink, as when nothing is
// cached: the cache must not hand out the replaced directory.
func TestExtractCachedParentReplaced(t *testing.T) {
	requireRoot(t)
	defer hostcheck.Take(t).Verify(t)
	outside := t.TempDir()
	dst := t.TempDir()
	layer := makeTar(t, dir("d"), dir("d/e"), entry{name: "d/e/" + whiteoutOpaque, typ: '0'},
		symlink("d/e", outside), file("d/e/pwned", "x"))
	rootfd, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootfd)
	err = Extract(rootfd, bytes.NewReader(layer))
	if err == nil || !strings.Contains(err.Error(), "not a directory (a symlink?)") {
		t.Fatalf("Extract = %v, want the symlink d/e refused", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written outside the layer: %s", filepath.Join(outside, ents[0].Name()))
	}
}
