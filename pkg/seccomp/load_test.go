package seccomp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
	"github.com/minicontainer/minicontainer/pkg/reexec"
)

// The filter is loaded in a re-executed child, never in the test process:
// a seccomp filter cannot be removed.
const loadEntry = "seccomp-test-load"

func init() { reexec.Register(loadEntry, loadMain) }

func TestMain(m *testing.M) {
	reexec.Init()
	os.Exit(m.Run())
}

// loadMain is a container init's last steps with Docker's default
// profile: no_new_privs, Load, then what the container's program would
// try, each reported on a line; then execve of a shell that reports what
// the kernel says of the new program.
func loadMain() {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("child: no_new_privs:", err)
		os.Exit(2)
	}
	if err := Load(Default(), explain.FromEnv("")); err != nil {
		fmt.Println("child: load:", err)
		os.Exit(2)
	}
	// Without the filter this fails EINVAL (a Go process has several
	// threads, and unshare(2) wants one for CLONE_NEWUSER); the filter
	// runs before the call and answers EPERM.
	err := unix.Unshare(unix.CLONE_NEWUSER)
	fmt.Println("unshare(CLONE_NEWUSER):", explain.Result(nil, err))
	fmt.Println("getpid matches:", unix.Getpid() == os.Getpid())
	// The filter is this thread's only: no TSYNC was asked for.
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	filtered := 0
	for _, st := range tasks {
		b, _ := os.ReadFile(st)
		if strings.Contains(string(b), "\nSeccomp:\t2\n") {
			filtered++
		}
	}
	fmt.Printf("filtered threads: %d of %d\n", filtered, len(tasks))
	// fork and exec from the filtered thread (clone without namespace
	// flags is allowed).
	fmt.Println("/bin/true:", explain.Result(nil, exec.Command("/bin/true").Run()))
	// The filter survives execve(2): the new program reports it, and the
	// kernel still refuses it a user namespace, single-threaded as it is.
	sh := `grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; unshare -U true 2>/dev/null && echo "unshare -U: ok" || echo "unshare -U: refused"`
	err = syscall.Exec("/bin/sh", []string{"sh", "-c", sh}, os.Environ())
	fmt.Println("child: exec:", err)
	os.Exit(2)
}

// TestLoadDefault loads Docker's default profile in a child and checks what
// it then may do, and that the filter outlives execve.
func TestLoadDefault(t *testing.T) {
	defer hostcheck.Take(t, "process ", "mount ").Verify(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) to try in the exec'd program")
	}
	cmd := reexec.Command(loadEntry)
	cmd.Env = append(os.Environ(), explain.EnvVar+"=1")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = nil, &stderr
	out, err := cmd.Output()
	t.Logf("child:\n%s%s", out, stderr.String())
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	prog, _ := Compile(Default())
	for _, want := range []string{
		"unshare(CLONE_NEWUSER): -1 EPERM (Operation not permitted)\n",
		"getpid matches: true\n",
		"filtered threads: 1 of ",
		"/bin/true: 0\n",
		"Seccomp:\t2\n",
		"NoNewPrivs:\t1\n",
		"unshare -U: refused\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child's output has no %q", want)
		}
	}
	if strings.Contains(string(out), "filtered threads: 1 of 1\n") {
		t.Errorf("the child had one thread: the TSYNC check proves nothing")
	}
	narrated := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=%d, filter=...}) = 0   [seccomp(2)]", len(prog))
	if !strings.Contains(stderr.String(), narrated) || !strings.Contains(stderr.String(), fmt.Sprintf("a %d-instruction filter", len(prog))) {
		t.Errorf("narration: want %q and the count", narrated)
	}
}
