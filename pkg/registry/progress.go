package registry

import (
	"fmt"
	"github.com/minicontainer/minicontainer/pkg/image"
	"io"
	"strings"
	"time"
)

// progress shows a pull blob by blob. On a terminal the blob being
// fetched has one line, redrawn in place (carriage return, then "erase
// to end of line", ECMA-48 EL: ESC [ K) at most ten times a second; each
// finished blob leaves its line. Elsewhere (a pipe, a log) only the
// finished lines are written: no control characters in a file.
type progress struct {
	w   io.Writer
	tty bool
}

// what names a blob on its line: its short digest and role.
func what(b image.Descriptor) string {
	role := "layer"
	switch b.MediaType {
	case image.MediaOCIConfig, image.MediaDockerConfig:
		role = "config"
	}
	return b.Digest.Short() + " " + role
}

func (p *progress) done(b image.Descriptor, stored bool) {
	if p == nil {
		return
	}
	clear := ""
	if p.tty {
		clear = "\r\x1b[K"
	}
	if stored {
		fmt.Fprintf(p.w, "%s%s: already stored\n", clear, what(b))
		return
	}
	fmt.Fprintf(p.w, "%s%s: pulled %s\n", clear, what(b), image.HumanSize(b.Size))
}

// reader counts r's bytes for b's line.
func (p *progress) reader(b image.Descriptor, r io.Reader) io.Reader {
	if !p.tty {
		return r
	}
	return &counting{r: r, p: p, b: b}
}

type counting struct {
	r    io.Reader
	p    *progress
	b    image.Descriptor
	n    int64
	last time.Time
}

func (c *counting) Read(buf []byte) (int, error) {
	n, err := c.r.Read(buf)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) >= 100*time.Millisecond || err != nil {
		c.last = now
		fmt.Fprintf(c.p.w, "\r\x1b[K%s: %s", what(c.b), bar(c.n, c.b.Size, 30))
	}
	return n, err
}

// bar is "[=====>      ]  1.20MB/3.40MB".
func bar(n, total int64, width int) string {
	fill := 0
	if total > 0 {
		fill = int(int64(width) * n / total)
	}
	fill = min(fill, width)
	head := ""
	if fill < width {
		head = ">"
	}
	s := "[" + strings.Repeat("=", fill) + head + strings.Repeat(" ", max(width-fill-len(head), 0)) + "]"
	return fmt.Sprintf("%s %s/%s", s, image.HumanSize(n), image.HumanSize(total))
}
