package ns

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTableIsComplete(t *testing.T) {
	if len(Kinds) != 8 {
		t.Fatalf("%d kinds, want the eight of namespaces(7)", len(Kinds))
	}
	seenFlag, seenLetter := map[uintptr]bool{}, map[byte]bool{}
	for _, k := range Kinds {
		if seenFlag[k.Flag] || seenLetter[k.Letter] {
			t.Errorf("%s: flag or letter used twice", k.Name)
		}
		seenFlag[k.Flag], seenLetter[k.Letter] = true, true
		if _, err := os.Lstat(Path(0, k)); err != nil {
			t.Errorf("%s: %v (the kernel has no such /proc/self/ns file)", k.Name, err)
		}
		if !strings.HasSuffix(k.Page, "_namespaces(7)") || !strings.HasPrefix(k.Const, "CLONE_NEW") {
			t.Errorf("%s: page %q const %q", k.Name, k.Page, k.Const)
		}
	}
	if Kinds[0].Name != "user" {
		t.Errorf("first kind is %s; the user namespace must be joined first (setns(2))", Kinds[0].Name)
	}
}

func TestLookups(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ByName(k.Name); err != nil || got != k {
			t.Errorf("ByName(%q) = %v, %v", k.Name, got.Name, err)
		}
		if got, err := ByLetter(k.Letter); err != nil || got != k {
			t.Errorf("ByLetter(%q) = %v, %v", k.Letter, got.Name, err)
		}
		if got, err := ByFlag(k.Flag); err != nil || got != k {
			t.Errorf("ByFlag(%#x) = %v, %v", k.Flag, got.Name, err)
		}
	}
	for alias, want := range map[string]string{"mount": "mnt", "network": "net"} {
		if k, err := ByName(alias); err != nil || k.Name != want {
			t.Errorf("ByName(%q) = %q, %v; want %q", alias, k.Name, err, want)
		}
	}
	if _, err := ByName("bogus"); err == nil || !strings.Contains(err.Error(), "cgroup") {
		t.Errorf("ByName(bogus) error %v should list the valid names", err)
	}
	if _, err := ByLetter('z'); err == nil {
		t.Error("ByLetter('z') succeeded")
	}
	if _, err := ByFlag(unix.CLONE_NEWUTS | unix.CLONE_NEWPID); err == nil {
		t.Error("ByFlag of two flags succeeded")
	}
}

func TestParseList(t *testing.T) {
	kinds, err := ParseList("uts, pid,user,uts")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.Name)
	}
	// Table (join) order, each once, whatever the order asked.
	if got := strings.Join(names, ","); got != "user,uts,pid" {
		t.Fatalf("ParseList = %s, want table order user,uts,pid", got)
	}
	all, err := ParseList("all")
	if err != nil || len(all) != 8 {
		t.Fatalf("ParseList(all) = %d kinds, %v", len(all), err)
	}
	if _, err := ParseList("uts,nope"); err == nil {
		t.Fatal("ParseList accepted an unknown name")
	}
}

func TestFlagString(t *testing.T) {
	cases := map[uintptr]string{
		0:                                    "0",
		unix.CLONE_NEWUTS:                    "CLONE_NEWUTS",
		unix.CLONE_NEWPID | unix.CLONE_NEWNS: "CLONE_NEWNS|CLONE_NEWPID", // kernel bit order
		unix.CLONE_NEWUTS | uintptr(unix.SIGCHLD): "CLONE_NEWUTS|0x11",
		Flags(Kinds):                             "CLONE_NEWTIME|CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET",
		unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP: "CLONE_NEWCGROUP|CLONE_NEWNET",
		unix.CLONE_NEWIPC | unix.CLONE_NEWUSER:   "CLONE_NEWIPC|CLONE_NEWUSER",
	}
	for flags, want := range cases {
		if got := FlagString(flags); got != want {
			t.Errorf("FlagString(%#x) = %s, want %s", flags, got, want)
		}
	}
}

func TestPath(t *testing.T) {
	uts, _ := ByName("uts")
	if got := Path(0, uts); got != "/proc/self/ns/uts" {
		t.Errorf("Path(0) = %s", got)
	}
	if got := Path(4242, uts); got != "/proc/4242/ns/uts" {
		t.Errorf("Path(4242) = %s", got)
	}
}

func TestIdentity(t *testing.T) {
	for _, k := range Kinds {
		id, err := Of(0, k)
		if err != nil {
			t.Fatalf("Of(self, %s): %v", k.Name, err)
		}
		link, err := os.Readlink(Path(0, k))
		if err != nil {
			t.Fatal(err)
		}
		// The identity prints exactly as the kernel's symlink reads.
		if id.String() != link {
			t.Errorf("%s: ID %s, readlink %s", k.Name, id, link)
		}
		if id.Kind != k {
			t.Errorf("%s: NS_GET_NSTYPE said %s", k.Name, id.Kind.Name)
		}
	}
	// Equal identities for the same namespace reached by two paths.
	uts, _ := ByName("uts")
	a, b := mustOf(t, 0, uts), mustOf(t, os.Getpid(), uts)
	if a != b {
		t.Errorf("self %v != pid %v", a, b)
	}
}

func TestIdentifyErrors(t *testing.T) {
	if _, err := Identify("/proc/self/ns/nope"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(plain, nil, 0o600)
	_, err := Identify(plain)
	if err == nil || !errors.Is(err, unix.ENOTTY) || !strings.Contains(err.Error(), "not a namespace file") {
		t.Errorf("plain file: %v", err)
	}
}

// A child in a new UTS namespace has a different identity: the rule of
// namespaces(7) that identities compare namespaces.
func TestIdentityDiffersInNewNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a UTS namespace needs CAP_SYS_ADMIN: run as root")
	}
	uts, _ := ByName("uts")
	cmd := exec.Command("sleep", "10")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	mine, child := mustOf(t, 0, uts), mustOf(t, cmd.Process.Pid, uts)
	if mine == child {
		t.Fatalf("child's uts %v equals the parent's", child)
	}
	net, _ := ByName("net")
	myNet, childNet := mustOf(t, 0, net), mustOf(t, cmd.Process.Pid, net)
	if myNet != childNet {
		t.Fatalf("child's net %v differs though only uts was new", childNet)
	}
}

func TestJoinRules(t *testing.T) {
	for _, name := range []string{"user", "time"} {
		k, _ := ByName(name)
		err := JoinPath(Path(0, k), k)
		if !errors.Is(err, ErrNeedsSingleThread) {
			t.Errorf("Join %s: %v, want ErrNeedsSingleThread", name, err)
		}
	}
	uts, _ := ByName("uts")
	if err := JoinPath("/proc/self/ns/nope", uts); err == nil || !strings.Contains(err.Error(), "open /proc/self/ns/nope") {
		t.Errorf("JoinPath of a missing file: %v", err)
	}
	net, _ := ByName("net")
	// setns checks the kind because nstype is not 0 (setns(2), EINVAL).
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		done <- JoinPath(Path(0, uts), net)
	}()
	if err := <-done; !errors.Is(err, unix.EINVAL) {
		t.Errorf("joining a uts file as net: %v, want EINVAL", err)
	}
}

func TestJoinMovesOnlyTheLockedThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("joining a namespace needs CAP_SYS_ADMIN: run as root")
	}
	uts, _ := ByName("uts")
	mnt, _ := ByName("mnt")
	cmd := exec.Command("sleep", "10")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS | unix.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	target := cmd.Process.Pid
	want, wantMnt := mustOf(t, target, uts), mustOf(t, target, mnt)
	runtime.LockOSThread()
	before, err := Identify("/proc/thread-self/ns/uts")
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		uts, mnt ID
		err      error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // not unlocked: this thread is tainted and must die
		var r result
		if r.err = JoinPath(Path(target, uts), uts); r.err == nil {
			r.err = JoinPath(Path(target, mnt), mnt) // needs unshare(CLONE_FS) first
		}
		// thread-self: the namespaces of this thread, not of the process.
		if r.err == nil {
			r.uts, r.err = Identify("/proc/thread-self/ns/uts")
		}
		if r.err == nil {
			r.mnt, r.err = Identify("/proc/thread-self/ns/mnt")
		}
		done <- r
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.uts != want || r.mnt != wantMnt {
		t.Errorf("locked thread in %v %v, want %v %v", r.uts, r.mnt, want, wantMnt)
	}
	// Read from this goroutine's own thread, not /proc/self (the main
	// thread): the goroutine above may have run on the main thread, which
	// Go keeps (wedged) rather than ending, so only "some other thread is
	// unchanged" is a fair check.
	runtime.LockOSThread()
	after, err := Identify("/proc/thread-self/ns/uts")
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("another thread moved to %v: only the locked thread should", after)
	}
}

// mustOf is Of that fails the test on an error: two failed lookups give
// equal zero IDs, which would pass a test of sameness.
func mustOf(t *testing.T, pid int, k Kind) ID {
	t.Helper()
	id, err := Of(pid, k)
	if err != nil {
		t.Fatalf("identity of %d's %s namespace: %v", pid, k.Name, err)
	}
	return id
}
