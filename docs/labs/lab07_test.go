package labs

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

func init() {
	register(&lab{
		id: "07", dir: "07-cgroups", title: "cgroups: a limit on tasks and memory, on v2 and v1",
		solutions: []string{"docs/labs/07-cgroups/solution"},
		skeletonFails: []string{"the command runs in a cgroup of its own", "pids.max is set", "the memory limit is set",
			"the task limit holds", "the cgroup is removed afterwards"},
		checks: []check{
			{"the command runs in a cgroup of its own", "make the cgroup (TODO 1) and write the child's PID to cgroup.procs (TODO 3); /proc/PID/cgroup shows where a process is",
				func(t *testing.T, p *prog) {
					l := live07(t, p)
					if !strings.Contains(l.path, "/"+l.name) {
						t.Errorf("the command's cgroup (%s, from /proc/PID/cgroup) is not in %s", l.path, l.name)
					}
				}},
			{"pids.max is set", "write the limit to pids.max (TODO 2), in the directory of the pids controller on v1",
				func(t *testing.T, p *prog) {
					l := live07(t, p)
					if l.pidsMax != "9" {
						t.Errorf("pids.max of the command's cgroup: %q, want 9", l.pidsMax)
					}
				}},
			{"the memory limit is set", "v2: memory.max; v1: memory.limit_in_bytes in the memory controller's directory (TODO 2). On v2, +memory in the parent's cgroup.subtree_control first",
				func(t *testing.T, p *prog) {
					l := live07(t, p)
					if l.memMax != "41943040" {
						t.Errorf("the memory limit of the command's cgroup: %q, want 41943040", l.memMax)
					}
				}},
			{"the task limit holds", "pids.max counts every task of the cgroup: the command's 12 background sleeps cannot all start (a fork fails with EAGAIN)",
				func(t *testing.T, p *prog) {
					r := shell(t, p.Dir, false, 0, `./demo -name "$1" -pids 9 -memory 41943040 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 0.3 & done; wait'`, cgName("b"))
					if !strings.Contains(strings.ToLower(r.Stderr), "fork") {
						t.Errorf("12 background jobs under pids.max 9: exit %d, stderr %q; want a fork to fail", r.Code, firstLine(r.Stderr))
					}
				}},
			{"the cgroup is removed afterwards", "rmdir each directory once the command has exited (TODO 4): a cgroup with no process can be removed, not its files",
				func(t *testing.T, p *prog) {
					l := live07(t, p)
					if l.path == "" || !strings.Contains(l.path, "/"+l.name) {
						t.Fatalf("the command was not in a cgroup named %s", l.name)
					}
					for _, d := range l.dirs {
						if _, err := os.Stat(d); err == nil {
							t.Errorf("%s is still there", d)
							syscall.Rmdir(d)
						}
					}
				}},
			{"the exit status is the command's", "exit with the command's status (the skeleton does)",
				func(t *testing.T, p *prog) {
					r := shell(t, p.Dir, false, 0, `./demo -name "$1" -pids 9 -memory 41943040 sh -c 'exit 3'`, cgName("c"))
					if r.Code != 3 {
						t.Errorf("sh -c 'exit 3': exit %d (stderr %q)", r.Code, firstLine(r.Stderr))
					}
				}},
		},
	})
}

// removeLeftCgroups removes the cgroups this run of the checker named
// that a wrong program left behind (after the host check has reported
// them): it kills what is in them, then removes them, deepest first.
func removeLeftCgroups() {
	prefix := fmt.Sprintf("mctest-lab07-%d-", os.Getpid())
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range append(roots, "/sys/fs/cgroup") {
		filepath.WalkDir(r, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() || path == r {
				return nil
			}
			if strings.Contains(path, "/"+prefix) {
				dirs = append(dirs, path)
			} else if strings.Count(strings.TrimPrefix(path, r), "/") >= 2 {
				return filepath.SkipDir // the checker's cgroups are at the top
			}
			return nil
		})
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		for try := 0; try < 100; try++ {
			procs, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
			if len(strings.TrimSpace(string(procs))) == 0 {
				break
			}
			for _, f := range strings.Fields(string(procs)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Rmdir(dirs[i])
	}
}

// cgName is a cgroup name the host check watches ("mctest-lab"), one per
// run of the checker (its PID) and per tag.
func cgName(tag string) string {
	return fmt.Sprintf("mctest-lab07-%d-%s", os.Getpid(), tag)
}

type live07Result struct {
	name, path      string // the cgroup's name, and the command's cgroup path
	pidsMax, memMax string
	dirs            []string // the command's cgroup directories and those up to NAME
}

// live07 runs the program with a command that prints its PID and waits
// for a line on stdin; meanwhile it reads, from outside, the command's
// cgroup and that cgroup's limit files, in the host's mode.
func live07(t *testing.T, p *prog) live07Result {
	return once(p, "live07", func() live07Result {
		p.repairs = append(p.repairs, removeLeftCgroups)
		r := live07Result{name: cgName("a")}
		h, err := cgroup.Detect()
		if err != nil {
			t.Logf("%v", err)
			return r
		}
		cmd := exec.Command("./demo", "-name", r.name, "-pids", "9", "-memory", "41943040", "sh", "-c", "echo $$; read x")
		cmd.Dir = p.Dir
		in, _ := cmd.StdinPipe()
		ready := &watch{want: "\n", seen: make(chan struct{})}
		cmd.Stdout = ready
		cmd.Stderr = io.Discard
		cmd.WaitDelay = time.Second
		if err := cmd.Start(); err != nil {
			return r
		}
		select {
		case <-ready.seen:
		case <-time.After(5 * time.Second):
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(ready.buf.String()))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		for _, l := range lines(string(cg)) {
			// v1: "4:pids:/path"; v2: "0::/path" (proc(5), /proc/PID/cgroup).
			f := strings.SplitN(l, ":", 3)
			if len(f) != 3 {
				continue
			}
			var dir string
			switch {
			case h.Mode == cgroup.Unified && f[0] == "0":
				dir = filepath.Join(h.Unified, f[2])
				r.memMax = readTrim(filepath.Join(dir, "memory.max"))
				r.pidsMax = readTrim(filepath.Join(dir, "pids.max"))
			case h.Mode != cgroup.Unified && hasCtrl(f[1], "pids"):
				dir = filepath.Join(h.V1["pids"], f[2])
				r.pidsMax = readTrim(filepath.Join(dir, "pids.max"))
			case h.Mode != cgroup.Unified && hasCtrl(f[1], "memory"):
				dir = filepath.Join(h.V1["memory"], f[2])
				r.memMax = readTrim(filepath.Join(dir, "memory.limit_in_bytes"))
			default:
				continue
			}
			if f[0] == "0" || hasCtrl(f[1], "pids") {
				r.path = f[2]
			}
			// The directories from the cgroup up to NAME, deepest first.
			for d := dir; strings.Contains(d, "/"+r.name); d = filepath.Dir(d) {
				r.dirs = append(r.dirs, d)
			}
		}
		in.Write([]byte("go\n"))
		in.Close()
		timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		timer.Stop()
		return r
	})
}

func hasCtrl(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}
