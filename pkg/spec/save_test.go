package spec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSaveRoundTrip: what Save writes, Load reads back the same, in runc
// spec's layout (tab-indented, a final newline), mode 0644, and no
// temporary file is left beside it.
func TestSaveRoundTrip(t *testing.T) {
	dir := bundle(t, runcSpec)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ConfigName)
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Errorf("Load(Save(s)) != s:\n%+v\n%+v", s, back)
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\n\t\t")) || !bytes.HasSuffix(data, []byte("}\n")) {
		t.Errorf("not runc's layout:\n%.80s", data)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v %v", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left in the bundle: %v", entries)
	}
}

// TestSaveSameAsRunc: Save writes runc spec's own output byte for byte.
func TestSaveSameAsRunc(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("no runc installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(runc, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(dir, ConfigName))
	s, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "again.json")
	if err := Save(out, s); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	// runc writes no final newline; Save ends the file with one.
	if !bytes.Equal(bytes.TrimSuffix(got, []byte("\n")), want) {
		t.Errorf("Save differs from runc spec:\n%s\n----\n%s", got, want)
	}
}

// TestSaveFailureKeepsOld: a failed Save leaves the old file untouched
// and no temporary file behind.
func TestSaveFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigName)
	os.WriteFile(path, []byte("old"), 0o644)
	// A directory where the file should go: rename(2) fails with EISDIR
	// only after the temporary file is written.
	target := filepath.Join(dir, "sub")
	os.MkdirAll(filepath.Join(target, "x"), 0o755)
	s := base(t)
	if err := Save(target, s); err == nil {
		t.Fatal("Save over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
	if err := Save(filepath.Join(dir, "missing", ConfigName), s); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Errorf("old file changed: %q", data)
	}
}
