package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateMounts(t *testing.T) {
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := Spec{Base: base, Mounts: []Mount{{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid mount refused: %v", err)
	}
	for _, target := range []string{"/", "sys/fs/cgroup", ""} {
		bad := Spec{Base: base, Mounts: []Mount{{Source: "tmpfs", Target: target, FSType: "tmpfs"}}}
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "must be absolute") {
			t.Errorf("target %q: %v", target, err)
		}
	}
}
