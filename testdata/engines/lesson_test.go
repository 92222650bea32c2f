package engines

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Lesson 09 shows the command lines podman and containerd pass to
// minicontainer. Those blocks come from here: each engine test marks its
// scenarios in the wrapper's log (markArgv), and checkLesson compares the
// log, shortened by lessonArgv, with the block that follows the comment
// "<!-- make test-engines: ENGINE -->" in docs/09-oci.md and in
// docs/zh/09-oci.md. A mismatch prints the block this run recorded, to
// paste. Only with minicontainer as the runtime: the engines adapt to the
// runtime's name (conmon passes --log-format=json --log to one named runc).

// markArgv writes "$ WHAT" into the wrapper's log (wrapRuntime): the
// command lines that follow are WHAT's.
func markArgv(t *testing.T, dir, what string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "argv.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("$ " + what + "\n"); err != nil {
		t.Fatal(err)
	}
}

// shorten are lessonArgv's replacements, in order: what differs from run
// to run (IDs, temporary directories, random suffixes) becomes a name the
// lesson explains.
var shorten = []struct {
	re   *regexp.Regexp
	with string
}{
	// containerd's global flags, the same on every call.
	{regexp.MustCompile(`--root \S+ --log \S+ --log-format json `), "G "},
	// podman's per-container directories, under --root and --runroot.
	{regexp.MustCompile(`\S+/root/vfs-containers/[0-9a-f]{64}/userdata`), "U"},
	{regexp.MustCompile(`\S+/runroot/vfs-containers/[0-9a-f]{64}/userdata`), "R"},
	// containerd's bundle: its state dir, its namespace, the ID.
	{regexp.MustCompile(`\S+/io\.containerd\.runtime\.v2\.task/[^/\s]+/[^/\s]+`), "B"},
	// Exec sessions: podman's directory, containerd's --exec-id.
	{regexp.MustCompile(`/[0-9a-f]{64}/`), "/EXEC/"},
	{regexp.MustCompile(`\bmctest-exec\b`), "EXEC"},
	// Container IDs: podman's, and the test's for ctr.
	{regexp.MustCompile(`\b[0-9a-f]{64}\b|\bmctest-[a-z-]+\b`), "ID"},
	// Temporary names.
	{regexp.MustCompile(`exec-process-\d+`), "exec-process-N"},
	{regexp.MustCompile(`/tmp/runc-process\d+`), "/tmp/runc-processN"},
	{regexp.MustCompile(`/tmp/conmon-term\.\w+`), "/tmp/conmon-term.XXXXXX"},
	{regexp.MustCompile(`/tmp/pty\d+/`), "/tmp/ptyN/"},
}

// lessonArgv shortens the wrapper's log into the lesson's block: each
// scenario's mark, then its distinct command lines, indented, in the order
// they came first (a retried step adds none); a scenario the same as an
// earlier one (ctr run --rm on two snapshotters) is shown once.
func lessonArgv(log string) []string {
	type section struct {
		mark  string
		lines []string
	}
	var sections []section
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if mark, ok := strings.CutPrefix(line, "$ "); ok {
			sections = append(sections, section{mark: mark})
			continue
		}
		if len(sections) == 0 || line == "" {
			continue
		}
		for _, s := range shorten {
			line = s.re.ReplaceAllString(line, s.with)
		}
		cur := &sections[len(sections)-1]
		if !slices.Contains(cur.lines, line) {
			cur.lines = append(cur.lines, line)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range sections {
		key := s.mark + "\n" + strings.Join(s.lines, "\n")
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, "$ "+s.mark)
		for _, l := range s.lines {
			out = append(out, "  "+l)
		}
	}
	return out
}

// checkLesson compares what the engine asked of the runtime in this run
// (dir's argv.log) with lesson 09's block for it, in both languages.
func checkLesson(t *testing.T, dir, engine string) {
	t.Helper()
	if filepath.Base(runtimePath) != "minicontainer" {
		t.Logf("lesson 09's %s block is minicontainer's: not compared with %s", engine, runtimePath)
		return
	}
	if t.Failed() {
		return // a failed step's lines would only add to the noise
	}
	data, err := os.ReadFile(filepath.Join(dir, "argv.log"))
	if err != nil {
		t.Fatal(err)
	}
	got := lessonArgv(string(data))
	for _, doc := range []string{"../../docs/09-oci.md", "../../docs/zh/09-oci.md"} {
		want, err := lessonBlock(doc, engine)
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the %s block is not what this run recorded; this run's, to paste:\n%s",
				doc, engine, strings.Join(got, "\n"))
		}
	}
}

// lessonBlock returns the lines of the fenced block that follows the line
// "<!-- make test-engines: ENGINE -->" in doc.
func lessonBlock(doc, engine string) ([]string, error) {
	f, err := os.Open(doc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	marker := "<!-- make test-engines: " + engine + " -->"
	var lines []string
	state := 0 // 0: before the marker, 1: before the fence, 2: inside
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && strings.TrimSpace(line) == marker:
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.TrimSpace(line) == "```":
			return lines, nil
		case state == 2:
			lines = append(lines, strings.TrimRight(line, " "))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, os.ErrNotExist
}

// TestLessonArgv: lessonArgv on a log as the wrapper writes it (no engine
// needed).
func TestLessonArgv(t *testing.T) {
	id := strings.Repeat("ab", 32)
	exec := strings.Repeat("cd", 32)
	log := "$ podman run --rm\n" +
		"conmon: create --bundle /tmp/T/002/root/vfs-containers/" + id + "/userdata --pid-file /tmp/T/002/runroot/vfs-containers/" + id + "/userdata/pidfile " + id + "\n" +
		"podman: start " + id + "\n" +
		"conmon: exec --pid-file /tmp/T/002/root/vfs-containers/" + id + "/userdata/" + exec + "/exec_pid --process /tmp/T/002/root/vfs-containers/" + id + "/userdata/" + exec + "/exec-process-3163230477 --detach " + id + "\n" +
		"$ ctr run --rm\n" +
		"containerd-shim: --root /tmp/C/001/runtime-root/ns --log /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm/log.json --log-format json create --bundle /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm --pid-file /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm/init.pid --console-socket /tmp/pty87358113/pty.sock mctest-rm\n" +
		"containerd-shim: --root /tmp/C/001/runtime-root/ns --log /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm/log.json --log-format json exec --process /tmp/runc-process3769768324 --detach --pid-file /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm/mctest-exec.pid mctest-rm\n" +
		"$ ctr run --rm\n" +
		"containerd-shim: --root /tmp/C/001/runtime-root/ns --log /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm-overlay/log.json --log-format json create --bundle /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm-overlay --pid-file /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm-overlay/init.pid --console-socket /tmp/pty1/pty.sock mctest-rm-overlay\n" +
		"containerd-shim: --root /tmp/C/001/runtime-root/ns --log /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm-overlay/log.json --log-format json exec --process /tmp/runc-process1 --detach --pid-file /tmp/C/002/state/io.containerd.runtime.v2.task/ns/mctest-rm-overlay/mctest-exec.pid mctest-rm-overlay\n"
	want := []string{
		"$ podman run --rm",
		"  conmon: create --bundle U --pid-file R/pidfile ID",
		"  podman: start ID",
		"  conmon: exec --pid-file U/EXEC/exec_pid --process U/EXEC/exec-process-N --detach ID",
		"$ ctr run --rm",
		"  containerd-shim: G create --bundle B --pid-file B/init.pid --console-socket /tmp/ptyN/pty.sock ID",
		"  containerd-shim: G exec --process /tmp/runc-processN --detach --pid-file B/EXEC.pid ID",
	}
	if got := lessonArgv(log); !slices.Equal(got, want) {
		t.Errorf("lessonArgv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
