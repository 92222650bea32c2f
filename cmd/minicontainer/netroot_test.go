package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minicontainer/minicontainer/pkg/container"
	"github.com/minicontainer/minicontainer/pkg/hostcheck"
)

// TestTwoRootsOneNetns: containers of two state roots (--root) in one
// network namespace share its bridge, so they must share its address book:
// distinct addresses, and the first to exit leaves mc0 and the NAT table
// to the other, whose network still works.
func TestTwoRootsOneNetns(t *testing.T) {
	needTestHost(t)
	check := hostcheck.Take(t, "link ", "process ")
	t.Cleanup(func() { check.Verify(t) })
	start := func(root, script string) (*exec.Cmd, io.WriteCloser, *bytes.Buffer, string) {
		t.Helper()
		cmd := exec.Command("minicontainer", "--root", root, "run", "--rootfs", testRootfs, "--", "sh", "-c", script)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for range 300 {
			states, _ := container.List(root)
			if len(states) == 1 && states[0].Address.IsValid() {
				return cmd, stdin, &out, states[0].Address.String()
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no address in root %s: %s", root, out.String())
		return nil, nil, nil, ""
	}
	a, aIn, aOut, aAddr := start(t.TempDir(), "read x; true")
	b, bIn, bOut, bAddr := start(t.TempDir(), "read x; ping -c1 -W2 172.30.0.1")
	if aAddr == bAddr {
		t.Errorf("containers of two roots both got %s", aAddr)
	}
	aIn.Close()
	if err := a.Wait(); err != nil {
		t.Errorf("first container: %v %s", err, aOut)
	}
	if links := shell(t, "ip -o link show mc0 || true"); !strings.Contains(links, "mc0") {
		t.Errorf("the first to exit deleted mc0 under the other")
	}
	if tables := shell(t, "nft list tables"); !strings.Contains(tables, "minicontainer") {
		t.Errorf("the first to exit deleted the NAT table under the other")
	}
	bIn.Close()
	if err := b.Wait(); err != nil {
		t.Errorf("second container, after the first exited: %v %s", err, bOut)
	}
	assertNetworkGone(t)
}
