package spec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/cgroup"
)

// notLinux are specs.Spec's fields that LinuxJSON leaves out, each with
// why a Linux container loses nothing by it.
var notLinux = map[string]string{
	"Solaris": "refused on Linux (refused.go: solaris)",
	"Windows": "refused on Linux (refused.go: windows)",
	"VM":      "refused on Linux (refused.go: vm)",
	"ZOS":     "refused on Linux (refused.go: zos)",
	"FreeBSD": "refused on Linux (refused.go: freebsd)",
}

// TestLinuxJSONFields: LinuxJSON is specs.Spec's fields in its order, of
// its types, with its tags, less notLinux, each of which Validate
// refuses. A field a newer runtime-spec adds fails here until it is in
// one or the other.
func TestLinuxJSONFields(t *testing.T) {
	full, narrow := reflect.TypeFor[specs.Spec](), reflect.TypeFor[LinuxJSON]()
	var want []reflect.StructField
	for i := range full.NumField() {
		f := full.Field(i)
		if _, ok := notLinux[f.Name]; ok {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !slices.Contains(RefusedFields(), name) {
				t.Errorf("specs.Spec.%s is left out of LinuxJSON, but Validate does not refuse %q", f.Name, name)
			}
			continue
		}
		want = append(want, f)
	}
	for name := range notLinux {
		if _, ok := full.FieldByName(name); !ok {
			t.Errorf("notLinux names %s, which specs.Spec does not have", name)
		}
	}
	if narrow.NumField() != len(want) {
		t.Errorf("LinuxJSON has %d fields, specs.Spec %d that are not in notLinux", narrow.NumField(), len(want))
	}
	for i := range min(narrow.NumField(), len(want)) {
		got, w := narrow.Field(i), want[i]
		if got.Name != w.Name || got.Type != w.Type || got.Tag != w.Tag {
			t.Errorf("LinuxJSON field %d is %s %v `%s`, want %s %v `%s` (specs.Spec's order)", i, got.Name, got.Type, got.Tag, w.Name, w.Type, w.Tag)
		}
	}
}

// linuxJSONSpecs are Specs of every kind run and create meet: run's from
// its flags, and one with every top-level field of LinuxJSON set.
func linuxJSONSpecs(t *testing.T) map[string]*specs.Spec {
	t.Helper()
	lookup := func(string) (string, bool) { return "", false }
	out := map[string]*specs.Spec{"Default": Default()}
	for name, f := range map[string]RunFlags{
		"run none":   {Net: "none", Command: []string{"/bin/true"}},
		"run bridge": {Rootfs: "/r", Name: "n", Hostname: "h", Env: []string{"A=1"}, Workdir: "/w", Volumes: []string{"/a:/b:ro"}, ReadOnly: true, Init: true, Interactive: true, TTY: true, Ports: []string{"8080:80"}, Resources: cgroup.Flags{Pids: "10"}, Command: []string{"sh"}},
		"privileged": {Net: "host", Privileged: true, Command: []string{"sh", "-c", "echo <&>"}},
		"rootless": {Net: "none", CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"CHOWN"}, UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}, User: specs.User{UID: 1, GID: 2, AdditionalGids: []uint32{3}}, Command: []string{"id"}},
	} {
		s, err := FromRun(f, lookup)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	all := Default()
	all.Domainname = "example.org"
	all.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Timeout: new(int)}}}
	all.Annotations = map[string]string{"b": "2", "a": "1"}
	all.Mounts = append(all.Mounts, specs.Mount{Destination: "/x", Source: "/y", Options: []string{"rbind"}, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
	out["every field"] = all
	return out
}

// TestLinuxJSONBytes: the Linux-only form encodes to json.Marshal's and
// MarshalIndent's bytes for the Spec, and decodes to the same Spec.
func TestLinuxJSONBytes(t *testing.T) {
	for name, s := range linuxJSONSpecs(t) {
		want, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalIndent(s, "", "\t")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: MarshalIndent (%v):\n%s\nwant json.MarshalIndent's:\n%s", name, err, got, want)
		}
		l := ToLinuxJSON(s)
		if l == nil {
			t.Fatalf("%s: no Linux-only form", name)
		}
		compact, _ := json.Marshal(s)
		if got, _ := json.Marshal(l); !bytes.Equal(got, compact) {
			t.Errorf("%s: json.Marshal(LinuxJSON):\n%s\nwant:\n%s", name, got, compact)
		}
		var dl LinuxJSON
		var ds specs.Spec
		if err := json.Unmarshal(compact, &dl); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(compact, &ds)
		if !reflect.DeepEqual(dl.Spec(), &ds) {
			t.Errorf("%s: decoded through LinuxJSON:\n%+v\nwant:\n%+v", name, dl.Spec(), &ds)
		}
	}
}

// TestLinuxJSONOtherPlatform: a Spec with another platform's section has
// no Linux-only form, and MarshalIndent keeps that section.
func TestLinuxJSONOtherPlatform(t *testing.T) {
	s := Default()
	s.Windows = &specs.Windows{LayerFolders: []string{`C:\l`}}
	if l := ToLinuxJSON(s); l != nil {
		t.Errorf("ToLinuxJSON of a Spec with windows: %+v, want nil", l)
	}
	want, _ := json.MarshalIndent(s, "", "\t")
	got, err := MarshalIndent(s, "", "\t")
	if err != nil || !bytes.Equal(got, want) || !bytes.Contains(got, []byte(`"windows"`)) {
		t.Errorf("MarshalIndent of a Spec with windows (%v):\n%s", err, got)
	}
	if ToLinuxJSON(nil) != nil || (*LinuxJSON)(nil).Spec() != nil {
		t.Error("nil does not stay nil")
	}
}
