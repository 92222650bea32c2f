package image

import (
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"alpine", "docker.io/library/alpine:latest"},
		{"alpine:3.20", "docker.io/library/alpine:3.20"},
		{"user/app", "docker.io/user/app:latest"},
		{"ghcr.io/o/n:v1.2_rc-1", "ghcr.io/o/n:v1.2_rc-1"},
		{"localhost/x", "localhost/x:latest"},
		{"127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"},
		{"[::1]:5000/a", "[::1]:5000/a:latest"},
		{"a.b/c__d-e--f/g", "a.b/c__d-e--f/g:latest"},
		{"r.io/x@sha256:" + strings.Repeat("ab", 32), "r.io/x@sha256:" + strings.Repeat("ab", 32)},
		{"r.io/x:t@sha256:" + strings.Repeat("ab", 32), "r.io/x:t@sha256:" + strings.Repeat("ab", 32)},
	} {
		r, err := ParseReference(c.in)
		if err != nil || r.String() != c.want {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", c.in, r.String(), err, c.want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a//b", "a/-b", "a/b.", "a/b:", "a/b:-x", "a/b:" + strings.Repeat("t", 129),
		"a/b@sha256:12", "a..b/c/d_", "a/b c", "host:port:x/y", "r.io:50a/x", "a/b__-c"} {
		if r, err := ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) = %q, want an error", bad, r.String())
		}
	}
}
