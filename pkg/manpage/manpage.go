// Package manpage extracts the example programs of the installed man pages
// (Debian's manpages-dev), so that tests can compile the C originals the
// lessons port, without their text ever being copied into this repository.
//
// The man-pages project marks each example in the roff source:
//
//	.\" SRC BEGIN (clone.c)
//	.EX
//	...
//	.EE
//	.\" SRC END
package manpage

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Dir is where man(1) finds the pages.
const Dir = "/usr/share/man"

// Source returns the example named file (e.g. "clone.c") of a page (e.g.
// "clone.2"), with the roff escapes undone.
func Source(page, file string) (string, error) {
	path := filepath.Join(Dir, "man"+page[strings.LastIndexByte(page, '.')+1:], page+".gz")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("man page %s: %w (install manpages-dev)", page, err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return extract(z, file, path)
}

func extract(r io.Reader, file, where string) (string, error) {
	var out strings.Builder
	in := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == `.\" SRC BEGIN (`+file+`)`:
			in = true
		case in && line == `.\" SRC END`:
			return out.String(), nil
		case in && (line == ".EX" || line == ".EE"):
		case in:
			out.WriteString(Unescape(line) + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no example %s", where, file)
}

// Unescape undoes the roff escapes the examples use: \- (minus), \[aq]
// (apostrophe), \e (backslash) and \& (zero-width, dropped).
func Unescape(line string) string {
	return strings.NewReplacer(`\-`, "-", `\[aq]`, "'", `\e`, `\`, `\&`, "").Replace(line)
}

// Build extracts file from page into dir and compiles it with gcc, passing
// extra (e.g. -D options); it returns the program's path.
func Build(dir, page, file string, extra ...string) (string, error) {
	src, err := Source(page, file)
	if err != nil {
		return "", err
	}
	c := filepath.Join(dir, file)
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		return "", err
	}
	bin := strings.TrimSuffix(c, ".c")
	args := append([]string{"-Wall", "-o", bin, c}, extra...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}
