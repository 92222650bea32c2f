package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestForkJoin drives execUserNS's two raw children without the exec
// init: child 1 joins the user and UTS namespaces of a process made here
// (0-65535 inside are 100000- outside) and child 2 execs sleep. Child 2
// must be in both namespaces, uid 100000 on the host (setresuid to the
// namespace's 0), with its fd 3 the pipe we gave, and, where a cgroup v2
// hierarchy is mounted, in the cgroup clone3(2)'s CLONE_INTO_CGROUP put
// child 1 in. (That child 2 is ours by CLONE_PARENT shows in
// TestRootlessExec: hostcheck makes this test a subreaper, which would
// adopt it anyway.)
func TestForkJoin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("joining a user namespace made here needs root")
	}
	defer hostcheck.Take(t, "mctest", "process ").Verify(t)
	target := exec.Command("sleep", "60")
	target.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { target.Process.Kill(); target.Wait() }()

	f := &userNSFork{sigAll: ^uint64(0)}
	var joins []string
	for _, k := range []struct {
		name string
		flag uintptr
	}{{"user", unix.CLONE_NEWUSER}, {"uts", unix.CLONE_NEWUTS}} {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", target.Process.Pid, k.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		f.joins = append(f.joins, nsStep{uintptr(fd), k.flag})
		joins = append(joins, k.name)
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	f.fds = []int{int(null.Fd()), int(null.Fd()), int(null.Fd()), pipe[1]}
	var report [2]int
	if err := unix.Pipe2(report[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(report[0])
	low := max(len(f.fds), int(null.Fd())+1, pipe[1]+1)
	if f.report, err = unix.FcntlInt(uintptr(report[1]), unix.F_DUPFD_CLOEXEC, low); err != nil {
		t.Fatal(err)
	}
	unix.Close(report[1])
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(sleep, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.execFd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, f.report+1); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	defer unix.Close(f.execFd)
	f.nextfd = f.execFd + 1
	if f.empty, err = syscall.BytePtrFromString(""); err != nil {
		t.Fatal(err)
	}
	if f.argv, err = syscall.SlicePtrFromStrings([]string{"sleep", "30"}); err != nil {
		t.Fatal(err)
	}
	if f.envv, err = syscall.SlicePtrFromStrings(nil); err != nil {
		t.Fatal(err)
	}
	f.clone3.exitSignal = uint64(unix.SIGCHLD)
	// A v2 hierarchy: the whole tree on a unified host, "unified" beside
	// the v1 ones on a hybrid one.
	var cgDir string
	for _, h := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(h, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			cgDir = filepath.Join(h, fmt.Sprintf("mctest-forkjoin-%d", os.Getpid()))
			break
		}
	}
	if cgDir != "" {
		if err := os.Mkdir(cgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(cgDir)
		cg, err := os.Open(cgDir)
		if err != nil {
			t.Fatal(err)
		}
		defer cg.Close()
		f.useCg, f.clone3.flags, f.clone3.cgroup = true, unix.CLONE_INTO_CGROUP, uint64(cg.Fd())
	}

	var child1, pid int
	var failed error
	onOwnThread(func() { child1, pid, _, failed = f.forkAndWait(report[0], joins) })
	if child1 == 0 || failed != nil || pid == 0 {
		t.Fatalf("child 1 %d, child 2 %d: %v", child1, pid, failed)
	}
	defer func() { unix.Kill(pid, unix.SIGKILL); unix.Wait4(pid, nil, 0, nil) }()
	waitExecd := func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return string(b) == "sleep\x0030\x00"
	}
	for i := 0; i < 500 && !waitExecd(); i++ {
		unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
	}
	if !waitExecd() {
		t.Fatalf("child 2 (%d) did not exec sleep 30", pid)
	}
	for _, n := range []string{"user", "uts"} {
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", target.Process.Pid, n))
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n)); got != want || want == "" {
			t.Errorf("child 2's %s namespace: %q, want %q", n, got, want)
		}
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, want := range []string{"\nUid:\t100000\t100000\t100000\t100000\n", "\nGid:\t100000\t100000\t100000\t100000\n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("child 2's status lacks %q:\n%s", want, status)
		}
	}
	want, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", pipe[1]))
	if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid)); got != want {
		t.Errorf("child 2's fd 3 is %q, want our pipe %q", got, want)
	}
	if cgDir != "" {
		cgroup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if !strings.Contains(string(cgroup), "0::/"+filepath.Base(cgDir)+"\n") {
			t.Errorf("child 2 is not in %s (CLONE_INTO_CGROUP):\n%s", cgDir, cgroup)
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.Signal() != unix.SIGKILL {
		t.Errorf("wait4(child 2): %v, %v; want it killed", err, ws)
	}
}
