// Package docs holds the lessons. This test makes sure every transcript in
// them is what the code really prints today, so the lessons cannot drift.
//
// Every ```console block in docs/*.md and README.md is a transcript, run
// as root from the repository root in a shell whose PATH starts with the
// freshly built ./bin, inside a private UTS namespace whose hostname is
// "host" (so the lessons can show a stable host name) and a private network
// namespace with only lo, up (minicontainer's default network is a bridge
// with NAT rules: a lesson must never make them in the machine's own
// network namespace). Lines starting with
// "# " are commands; the lines after a command are its expected output
// (stdout and stderr together). When comparing:
//   - a line that is exactly "..." matches any number of lines;
//   - numbers of three or more digits (PIDs, inode numbers, byte counts) and
//     runs of 12 or more hex digits (container IDs) may differ, and so may
//     the number of spaces after one (a table column padded to the width of
//     a PID);
//   - an age as ps prints it ("1 second ago", "12 minutes ago") may differ:
//     it depends on how fast the machine ran the commands before;
//   - the number of spaces a line starts with may differ: ps pads its PID
//     column to the width of the largest PID the kernel hands out
//     (kernel.pid_max: 32768 on a small machine, 4194304 on a large one);
//   - trailing spaces are ignored.
//
// Some output a busy machine cannot keep the same. A command may end with
// one of these shell comments (bash ignores them; the reader sees them):
//   - "# lines A-B in any order": lines A to B of its output (from 1) are
//     compared as a set, each line still by the rules above: two processes
//     write them to one pipe, each at its own pace;
//   - "# measured: LO to HI": a number from LO to HI in its output matches
//     any other number from LO to HI (a CPU share, lower on a loaded machine);
//     a number outside that range still fails.
//   - "# line A may come as late as line B": the lesson's line A may be at
//     any place from A to B in the output, the others keep their order: one
//     process's line among another's, both writing to one pipe.
//   - "# descriptor numbers may differ": the numbers of open file
//     descriptors in -x lines ("= 5   [open(2)]", "setns(5</proc/...",
//     open_tree's result, mount_setattr's and move_mount's first argument,
//     "userns_fd=5") may differ. A Go program's first free descriptor
//     depends on what its runtime opened before main, which depends on
//     the kernel (6.1 starts one lower than 6.18).
//
// The shell gets only stdin, stdout and stderr: no descriptor the test
// inherited, so the fd numbers in -x lines are those of a clean start.
//
// All commands of one block run in one bash, in order, so a block can set
// a variable or start a process in the background for the next command.
//
// Hosts differ in one way the lessons must show: how cgroups are mounted
// (cgroups(7); pkg/cgroup's Mode). Most machines mount one cgroup2 tree at
// /sys/fs/cgroup; some still mount v1 hierarchies (or v1 plus an empty
// cgroup2: hybrid). A transcript whose output depends on that names the
// layout it was recorded on after the language, and runs only there:
//
//	```console cgroup2   pure cgroup v2 (cgroup.Unified)
//	```console cgroup1   v1 controllers (cgroup.Legacy or cgroup.Hybrid)
//	```console hybrid    v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified
//	```console           every host
//
// On other hosts the block is skipped (go test -v names it and says why).
// The lessons give the cgroup2 block as the main text and its v1 twin
// beside it; `make test-cgroup2-vm` runs the suite, and so these
// transcripts, on a pure cgroup v2 kernel. Any other word after "console"
// is an error, so a typo cannot silently skip a transcript.
//
// DOCS_RECORD=DIR writes what each command of each block run printed to
// DIR/FILE-LINE.txt, in the transcript format, to record a lesson's
// transcript on a host of another layout (the VM) from a real run.
package docs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
	"github.com/minicontainer/minicontainer/pkg/execvp"
)

type command struct {
	line int    // line number in the file, for messages
	text string // the command without its prompt
	want []string
}

type block struct {
	file   string
	line   int
	layout string // "" (every host), "cgroup2", "cgroup1" or "hybrid"
	cmds   []command
}

// layouts are the words a console block may carry, with the cgroup modes
// each one runs on.
var layouts = map[string][]cgroup.Mode{
	"cgroup2": {cgroup.Unified},
	"cgroup1": {cgroup.Legacy, cgroup.Hybrid},
	"hybrid":  {cgroup.Hybrid},
}

// runsOn reports whether block b's transcript applies to a host in mode m.
func (b block) runsOn(m cgroup.Mode) bool {
	if b.layout == "" {
		return true
	}
	for _, ok := range layouts[b.layout] {
		if ok == m {
			return true
		}
	}
	return false
}

// parse returns the console blocks of a markdown file.
func parse(file string) ([]block, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var blocks []block
	var cur *block
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case cur == nil && (line == "```console" || strings.HasPrefix(line, "```console ")):
			cur = &block{file: file, line: n}
			if words := strings.Fields(line[len("```console"):]); len(words) > 0 {
				if _, ok := layouts[words[0]]; !ok || len(words) > 1 {
					return nil, fmt.Errorf("%s:%d: %q: after console, only one of cgroup2, cgroup1 or hybrid", file, n, line)
				}
				cur.layout = words[0]
			}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil && strings.HasPrefix(line, "# "):
			cur.cmds = append(cur.cmds, command{line: n, text: line[2:]})
		case cur != nil:
			if len(cur.cmds) == 0 {
				return nil, fmt.Errorf("%s:%d: transcript output before any '# ' command", file, n)
			}
			c := &cur.cmds[len(cur.cmds)-1]
			c.want = append(c.want, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unterminated console block", file, cur.line)
	}
	return blocks, sc.Err()
}

var (
	bigNumber = regexp.MustCompile(`[0-9]{3,}`)
	hexID     = regexp.MustCompile(`[0-9a-f]{12,}`)
)

var (
	paddedVariable = regexp.MustCompile(`(<id>|<n>) +`)
	leadingSpaces  = regexp.MustCompile(`^ +`)
	age            = regexp.MustCompile(`\b[0-9]+ (second|minute|hour|day)s? ago\b`)
)

func normalise(s string) string {
	s = age.ReplaceAllString(s, "<age> ago")
	s = hexID.ReplaceAllString(s, "<id>")
	s = bigNumber.ReplaceAllString(s, "<n>")
	s = leadingSpaces.ReplaceAllString(s, " ")
	return paddedVariable.ReplaceAllString(s, "$1 ")
}

// match compares output lines against the expected lines with the rules in
// the package comment.
func match(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if match(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 || normalise(want[0]) != normalise(got[0]) {
		return false
	}
	return match(want[1:], got[1:])
}

var (
	anyOrder = regexp.MustCompile(`\s# lines ([0-9]+)-([0-9]+) in any order$`)
	measured = regexp.MustCompile(`\s# measured: ([0-9]+) to ([0-9]+)$`)
	number   = regexp.MustCompile(`\b[0-9]+\b`)
	late     = regexp.MustCompile(`\s# line ([0-9]+) may come as late as line ([0-9]+)$`)
	anyFDs   = regexp.MustCompile(`\s# descriptor numbers may differ$`)
	// an fd as -x shows it: "5</proc/...>" (strace -y's form), or what
	// open(2) returned.
	fdPath   = regexp.MustCompile(`\b[0-9]+</`)
	fdOpened = regexp.MustCompile(`\) = [0-9]+( +\[(?:open|open_tree)\(2\)\])$`)
	// a descriptor passed to the new mount API (mount_setattr(2),
	// move_mount(2)) as its first argument, or as a user namespace's
	// descriptor in struct mount_attr.
	fdArg = regexp.MustCompile(`\b(mount_setattr|move_mount)\([0-9]+,|userns_fd=[0-9]+`)
)

// matchCommand compares a command's output with the lesson's, with the
// relaxations its trailing comment asks for (see the package comment).
func matchCommand(text string, want, got []string) bool {
	want, got = append([]string(nil), want...), append([]string(nil), got...)
	if anyFDs.MatchString(text) {
		for _, lines := range [][]string{want, got} {
			for i := range lines {
				lines[i] = fdPath.ReplaceAllString(lines[i], "<fd></")
				lines[i] = fdOpened.ReplaceAllString(lines[i], ") = <fd>$1")
				lines[i] = fdArg.ReplaceAllStringFunc(lines[i], func(m string) string {
					if strings.HasPrefix(m, "userns_fd=") {
						return "userns_fd=<fd>"
					}
					return m[:strings.IndexByte(m, '(')] + "(<fd>,"
				})
			}
		}
	}
	if m := measured.FindStringSubmatch(text); m != nil {
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		inRange := func(n string) string {
			if v, err := strconv.Atoi(n); err == nil && v >= lo && v <= hi {
				return "<measured>"
			}
			return n
		}
		for _, lines := range [][]string{want, got} {
			for i := range lines {
				lines[i] = number.ReplaceAllStringFunc(lines[i], inRange)
			}
		}
	}
	if m := anyOrder.FindStringSubmatch(text); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if a < 1 || b < a || b > len(want) || b > len(got) {
			return false
		}
		for _, lines := range [][]string{want, got} {
			for i := a - 1; i < b; i++ {
				lines[i] = normalise(lines[i])
			}
			sort.Strings(lines[a-1 : b])
		}
	}
	if m := late.FindStringSubmatch(text); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if a < 1 || b < a || b > len(want) {
			return false
		}
		line := want[a-1]
		rest := append(append([]string(nil), want[:a-1]...), want[a:]...)
		for pos := a; pos <= b; pos++ {
			moved := append(append(append([]string(nil), rest[:pos-1]...), line), rest[pos-1:]...)
			if match(moved, got) {
				return true
			}
		}
		return false
	}
	return match(want, got)
}

const marker = "\x1e--doc-test-command-end--\x1e"

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestTranscripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lessons run as root: run the tests with sudo (make test does)")
	}
	// The transcripts start with only stdin, stdout and stderr open, as in
	// a fresh login: a descriptor this test inherited without
	// close-on-exec (a shell's saved fd 10, a CI runner's pipe) would pass
	// through os/exec into every command and shift the fd numbers that
	// the -x lines show.
	if err := execvp.CloseOnExecFrom(3, nil); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	// make build, not go build: the Makefile builds minicontainer without
	// cgo, and a plain go build would leave a different bin/minicontainer
	// behind for the reader's next `make bench` or `sudo make run`. And
	// the man pages' C examples (bin/c): a block may run one that an
	// earlier lesson's block compiled, and must pass when run alone
	// (go test -run 'TestTranscripts/04-unshare.md:206').
	build := exec.Command("make", "--no-print-directory", "build", "c-examples")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	// The layout decides which transcripts apply; a host with no cgroup
	// filesystem at all runs only those that name none.
	var mode cgroup.Mode
	if h, err := cgroup.Detect(); err == nil {
		mode = h.Mode
	}
	record := os.Getenv("DOCS_RECORD")
	// The lessons, their Chinese versions (docs/zh, the same transcripts)
	// and the READMEs.
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	zh, _ := filepath.Glob(filepath.Join(root, "docs", "zh", "*.md"))
	files = append(files, zh...)
	files = append(files, filepath.Join(root, "README.md"))
	if _, err := os.Stat(filepath.Join(root, "README.zh.md")); err == nil {
		files = append(files, filepath.Join(root, "README.zh.md"))
	}
	for _, file := range files {
		blocks, err := parse(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			rel, _ := filepath.Rel(filepath.Join(root, "docs"), b.file)
			name := fmt.Sprintf("%s:%d", rel, b.line)
			t.Run(name, func(t *testing.T) {
				if !b.runsOn(mode) {
					t.Skipf("a %s transcript; this host is %v", b.layout, mode)
				}
				runBlock(t, root, b, record)
			})
		}
	}
}

func runBlock(t *testing.T, root string, b block, record string) {
	undoIPNetns(t)
	var script strings.Builder
	// One line for hostname and lo, so a transcript's "bash: line N:" keeps its N.
	script.WriteString("hostname host; ip link set lo up\nexport PATH=" + filepath.Join(root, "bin") + ":$PATH\n")
	for _, c := range b.cmds {
		fmt.Fprintf(&script, "%s\nprintf '%s\\n'\n", c.text, marker)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The script comes in the environment, not on bash's stdin:
	// minicontainer copies a stdin that is no terminal into the container
	// (as `docker run -i` does), and would take the rest of the script
	// with it. Nor in bash's argv, where a transcript's `pgrep -f` would
	// find it. stdin is /dev/null.
	cmd := exec.CommandContext(ctx, "bash", "--norc", "--noprofile", "-c", `eval "$MCDOC_SCRIPT"`)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TERM=dumb", "MCDOC_SCRIPT="+script.String())
	// A private UTS namespace keeps "hostname host" away from the real
	// host, a private network namespace its network.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s:%d: transcript timed out; output so far:\n%s", b.file, b.line, out)
	}
	_ = err // a transcript may end with a failing command on purpose; the output says it.
	parts := strings.Split(string(out), marker+"\n")
	var rec strings.Builder
	defer func() {
		if record == "" {
			return
		}
		name := fmt.Sprintf("%s-%d.txt", filepath.Base(b.file), b.line)
		if err := os.WriteFile(filepath.Join(record, name), []byte(rec.String()), 0o644); err != nil {
			t.Error(err)
		}
	}()
	for i, c := range b.cmds {
		if i >= len(parts) {
			t.Errorf("%s:%d: no output for %q (the shell stopped early)", b.file, c.line, c.text)
			continue
		}
		got := strings.Split(strings.TrimSuffix(parts[i], "\n"), "\n")
		if parts[i] == "" {
			got = nil
		}
		for j := range got {
			got[j] = strings.TrimRight(got[j], " \t")
		}
		fmt.Fprintf(&rec, "# %s\n", c.text)
		for _, l := range got {
			rec.WriteString(l + "\n")
		}
		if !matchCommand(c.text, c.want, got) {
			t.Errorf("%s:%d: # %s\n--- the lesson shows:\n%s\n--- the command printed:\n%s",
				b.file, c.line, c.text, strings.Join(c.want, "\n"), strings.Join(got, "\n"))
		}
	}
}

// undoIPNetns gives the host back its /run/netns as the block found it.
// A lesson's `ip netns add` (08's outside host) makes /run/netns a mount
// point of its own, a shared bind mount of itself, and its closing `ip
// netns del` removes the namespace but leaves that mount: every make test
// left one more line in /proc/self/mounts. When the block ends with
// nothing mounted below it, the mount (and the directory, if the host had
// none) goes again.
func undoIPNetns(t *testing.T) {
	_, statErr := os.Stat("/run/netns")
	before := netnsMounts(t)
	t.Cleanup(func() {
		after := netnsMounts(t)
		if len(before) == 0 && len(after) == 1 && after[0] == "/run/netns" {
			if err := syscall.Unmount("/run/netns", syscall.MNT_DETACH); err != nil {
				t.Errorf("umount /run/netns (made by the block's ip netns add): %v", err)
			}
			if statErr != nil {
				os.Remove("/run/netns")
			}
			after = netnsMounts(t)
		}
		if strings.Join(before, " ") != strings.Join(after, " ") {
			t.Errorf("mounts at /run/netns: %q before the block, %q after", before, after)
		}
	})
}

// netnsMounts lists the mount points at or below /run/netns
// (/proc/self/mountinfo's 5th field, proc(5)).
func netnsMounts(t *testing.T) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == "/run/netns" || strings.HasPrefix(f[4], "/run/netns/")) {
			out = append(out, f[4])
		}
	}
	return out
}
