package image

import (
	"fmt"
	"strings"
)

// Reference is an image reference split the way a registry is addressed
// (distribution's reference grammar, distribution/reference/reference.go):
//
//	[DOMAIN/]PATH[:TAG][@DIGEST]     alpine, ghcr.io/o/n:1.2, localhost:5000/x@sha256:…
//
// A first component with a '.' or a ':', or "localhost", is a registry
// host; otherwise the image is on Docker Hub, whose one-component names
// live under library/ ("alpine" is docker.io/library/alpine).
type Reference struct {
	Domain     string // the registry as named: "docker.io", "127.0.0.1:5000"
	Repository string // "library/alpine"
	Tag        string // "latest" when neither tag nor digest is given
	Digest     Digest // set for NAME@DIGEST
}

// DockerHub is the domain of references without one; its API is served
// at registry-1.docker.io.
const DockerHub = "docker.io"

// ParseReference splits s. The grammar is checked by hand, not with
// regexp: a package-level regexp.MustCompile runs at every start of the
// binary (Go runs each linked package's init), and this one starts every
// container.
func ParseReference(s string) (Reference, error) {
	bad := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("reference %q: %s", s, why)
	}
	var r Reference
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		r.Digest = Digest(rest[i+1:])
		if err := r.Digest.Validate(); err != nil {
			return bad("the digest is not sha256:<64 hex digits>")
		}
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		r.Tag = rest[i+1:]
		if !validTag(r.Tag) {
			return bad("the tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'")
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 && (strings.ContainsAny(rest[:i], ".:") || rest[:i] == "localhost") {
		r.Domain, rest = rest[:i], rest[i+1:]
		if !validDomain(r.Domain) {
			return bad("bad registry host " + r.Domain)
		}
	} else {
		r.Domain = DockerHub
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
	}
	for _, c := range strings.Split(rest, "/") {
		if !validComponent(c) {
			return bad("a name component must be lowercase letters and digits, separated by '.', '_', '__' or '-'")
		}
	}
	r.Repository = rest
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// String is the reference in full: DOMAIN/REPOSITORY:TAG or @DIGEST.
func (r Reference) String() string {
	s := r.Domain + "/" + r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// TagOrDigest is what the manifest is fetched by: the digest if given,
// else the tag.
func (r Reference) TagOrDigest() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

func lowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validComponent: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
func validComponent(c string) bool {
	if c == "" || !lowerAlnum(c[0]) || !lowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); i++ {
		switch ch := c[i]; {
		case lowerAlnum(ch):
		case ch == '-':
		case ch == '.' || ch == '_':
			// one '.', one '_' or "__", always between alphanumerics
			j := i + 1
			if ch == '_' && j < len(c) && c[j] == '_' {
				j++
			}
			if !lowerAlnum(c[i-1]) || j >= len(c) || !lowerAlnum(c[j]) {
				return false
			}
			i = j - 1
		default:
			return false
		}
	}
	return true
}

// validTag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(lowerAlnum(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validDomain: host[:port], host letters, digits, '-' and '.', or an
// IPv6 address in brackets.
func validDomain(d string) bool {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		i := strings.IndexByte(d, ']')
		if i < 0 {
			return false
		}
		host, port = d[1:i], strings.TrimPrefix(d[i+1:], ":")
		return strings.Trim(host, "0123456789abcdefABCDEF:") == "" && strings.Trim(port, "0123456789") == ""
	}
	if i := strings.IndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(lowerAlnum(c) || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
