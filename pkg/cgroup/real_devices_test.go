package cgroup

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The device rules for real: a shell in a cgroup with the rules opens
// /dev/null, makes /dev/kmsg's node (c 1:11) in a tmpfs the test mounts
// (without nodev, so only the cgroup can refuse the open) and opens it.
// cgroup v1 through the devices controller; v2 through the device program,
// on a pure cgroup2 host or, on a hybrid one, in its controller-less
// cgroup2 (a device program needs no controller).

func TestRealDevicesV1(t *testing.T) {
	h := realHost(t)
	if h.Mode == Unified || h.V1["devices"] == "" {
		t.Skip("needs a v1 devices hierarchy")
	}
	realDeviceChecks(t, h)
}

func TestRealDevicesV2(t *testing.T) {
	h := realHost(t)
	if h.Unified == "" {
		t.Skip("no cgroup2 mounted")
	}
	if h.Mode != Unified {
		h = &Host{Mode: Unified, Unified: h.Unified, V2: h.V2, OnlineCPUs: h.OnlineCPUs}
	}
	realDeviceChecks(t, h)
}

func realDeviceChecks(t *testing.T, h *Host) {
	checkHost(t)
	busybox(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	cases := []struct {
		name        string
		rules       []specs.LinuxDeviceCgroup
		null, kmsg  bool // opened
		mknodRefuse bool
	}{
		{"default", DefaultDeviceRules, true, false, false},
		{"privileged", PrivilegedDeviceRules, true, true, false},
		// Order counts: a deny after the allow takes /dev/null away.
		{"default-then-deny-null", append(append([]specs.LinuxDeviceCgroup{}, DefaultDeviceRules...),
			specs.LinuxDeviceCgroup{Type: "c", Major: num(1), Minor: num(3), Access: "rwm"}), false, false, false},
		// No mknod allowed: the node cannot even be made.
		{"no-mknod", []specs.LinuxDeviceCgroup{{Access: "rwm"}, devAllow("c", 1, 3, "rw")}, true, false, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := mustRules(t, c.rules)
			cg := newReal(t, h, "dev"+c.name, Limits{})
			var narration bytes.Buffer
			if err := cg.SetDevices(rules, explain.New(&narration, true)); err != nil {
				t.Fatalf("SetDevices: %v\n%s", err, narration.String())
			}
			t.Logf("%s (%s):\n%s", c.name, h.Mode, narration.String())
			if d, ok := cg.(*v1); ok {
				list, err := d.f.read(filepath.Join(d.devicesDir(), "devices.list"))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := strings.Split(list, "\n"), stateOf(rules).list(); !reflect.DeepEqual(got, want) {
					t.Errorf("devices.list:\n%s\nwant (the model):\n%s", list, strings.Join(want, "\n"))
				}
			}
			node := filepath.Join(dir, "kmsg"+string(rune('a'+i)))
			_, done, out := startIn(t, cg, `
				if (exec 3</dev/null); then echo null:opened; fi
				if mknod `+node+` c 1 11; then echo mknod:made; fi
				if (exec 3<`+node+`); then echo kmsg:opened; fi
				exit 0`)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("shell: %v\n%s", err, out)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("shell still running after 30 s")
			}
			got := out.String()
			t.Logf("the shell in the cgroup:\n%s", got)
			if strings.Contains(got, "null:opened") != c.null {
				t.Errorf("/dev/null opened: %v, want %v", !c.null, c.null)
			}
			if strings.Contains(got, "mknod:made") == c.mknodRefuse {
				t.Errorf("mknod c 1 11 refused: %v, want %v", !c.mknodRefuse, c.mknodRefuse)
			}
			if strings.Contains(got, "kmsg:opened") != c.kmsg {
				t.Errorf("kmsg node opened: %v, want %v", !c.kmsg, c.kmsg)
			}
			// Every refusal is the cgroup's: EPERM ("Operation not permitted").
			if refused := !c.null || !c.kmsg || c.mknodRefuse; refused && !strings.Contains(got, "Operation not permitted") {
				t.Errorf("refused without EPERM:\n%s", got)
			}
		})
	}
}
