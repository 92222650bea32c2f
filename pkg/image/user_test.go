package image

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestArgs(t *testing.T) {
	c := ContainerConfig{Entrypoint: []string{"/ep", "-a"}, Cmd: []string{"cmd1"}}
	empty, sh := "", "sh"
	for _, tc := range []struct {
		ep   *string
		cmd  []string
		want []string
	}{
		{nil, nil, []string{"/ep", "-a", "cmd1"}},
		{nil, []string{"x"}, []string{"/ep", "-a", "x"}},
		{&sh, nil, []string{"sh"}}, // --entrypoint drops the image's Cmd
		{&sh, []string{"-c", "y"}, []string{"sh", "-c", "y"}},
		{&empty, []string{"echo", "z"}, []string{"echo", "z"}},
	} {
		if got := c.Args(tc.ep, tc.cmd); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Args(%v, %q) = %q, want %q", tc.ep, tc.cmd, got, tc.want)
		}
	}
}

// TestResolveUser reads names from the image's own files, through its
// layers: the top layer's /etc/group wins, and a whiteout deletes.
func TestResolveUser(t *testing.T) {
	bottom, top := t.TempDir(), t.TempDir()
	write := func(dir, name, body string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(bottom, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
	write(bottom, "etc/group", "root:x:0:\nold:x:3000:app\n")
	write(top, "etc/group", "root:x:0:\napp:x:1001:\nextra:x:2000:app,other\nwheel:x:10:other\n")
	img := &Image{Ref: "t", Layers: []string{bottom, top}}
	for _, tc := range []struct {
		spec string
		want User
		err  string
	}{
		{"", User{}, ""},
		{"app", User{1000, 1001, []uint32{2000}}, ""},
		{"1000", User{1000, 1001, []uint32{2000}}, ""},
		{"4242", User{4242, 0, nil}, ""},
		{"app:extra", User{1000, 2000, nil}, ""},
		{"app:77", User{1000, 77, nil}, ""},
		{"nobody", User{}, `user "nobody": no such user in the image's /etc/passwd`},
		{"app:nogroup", User{}, `group "nogroup": no such group in the image's /etc/group`},
	} {
		got, err := img.ResolveUser(tc.spec)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ResolveUser(%q) = %v, %v; want error %q", tc.spec, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		return
	}
	// a whiteout of /etc/passwd in the top layer: no such user any more
	if err := unix.Mknod(filepath.Join(top, "etc/passwd"), unix.S_IFCHR|0o600, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := img.ResolveUser("app"); err == nil {
		t.Error("a user whose /etc/passwd a whiteout deletes was found")
	}
}
