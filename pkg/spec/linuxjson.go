package spec

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LinuxJSON is specs.Spec without the sections for other platforms
// (solaris, windows, vm, zos, freebsd): the same fields, in the same
// order, with the same JSON tags, so that it encodes to the same bytes as
// the Spec it was made from.
//
// Why: the first json.Marshal of a type builds an encoder for every type
// it can reach, whether set or not: of the 63 struct types specs.Spec
// reaches, 25 are the Windows, Solaris, VM, z/OS and FreeBSD sections'
// own. Every `run` encodes its Spec (config.json in the state dir, and
// the message to the init), and every init decodes one: each pays that
// first pass cold, in its own process. This form leaves the other platforms' types out of it (about
// a fifth of a cold encode or decode: docs/performance.md, "Start-up of
// a minicontainer process"). Validate refuses those sections on Linux
// (refused.go), so a valid Spec loses nothing; ToLinuxJSON still says
// when one is set, and MarshalIndent then encodes the whole Spec.
type LinuxJSON struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty" platform:"linux,solaris,zos"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *specs.Linux      `json:"linux,omitempty" platform:"linux"`
}

// ToLinuxJSON returns s in the Linux-only form, or nil when s is nil or
// sets another platform's section, which that form would drop.
func ToLinuxJSON(s *specs.Spec) *LinuxJSON {
	if s == nil || s.Solaris != nil || s.Windows != nil || s.VM != nil || s.ZOS != nil || s.FreeBSD != nil {
		return nil
	}
	return &LinuxJSON{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname,
		Domainname: s.Domainname, Mounts: s.Mounts, Hooks: s.Hooks,
		Annotations: s.Annotations, Linux: s.Linux,
	}
}

// Spec returns the Spec l describes (nil for a nil l). It shares l's
// pointers, slices and maps.
func (l *LinuxJSON) Spec() *specs.Spec {
	if l == nil {
		return nil
	}
	return &specs.Spec{
		Version: l.Version, Process: l.Process, Root: l.Root, Hostname: l.Hostname,
		Domainname: l.Domainname, Mounts: l.Mounts, Hooks: l.Hooks,
		Annotations: l.Annotations, Linux: l.Linux,
	}
}

// MarshalIndent is json.MarshalIndent(s, prefix, indent), byte for byte,
// through the Linux-only form when s sets no other platform's section.
func MarshalIndent(s *specs.Spec, prefix, indent string) ([]byte, error) {
	if l := ToLinuxJSON(s); l != nil {
		return json.MarshalIndent(l, prefix, indent)
	}
	return json.MarshalIndent(s, prefix, indent)
}
