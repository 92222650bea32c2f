package network

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchInHostNetns is inHostNetns for a benchmark: it runs it again in a
// child with a network namespace of its own and prints the child's result.
func benchInHostNetns(b *testing.B) bool {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if os.Getenv(envInNetns) == "1" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^"+regexp.QuoteMeta(b.Name())+"$", "-test.benchtime=200x")
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	fmt.Printf("in a test-made host network namespace:\n%s", out)
	if err != nil {
		b.Fatal(err)
	}
	b.SkipNow()
	return false
}

// BenchmarkConnect measures the network step of a container start on a
// bridge that already has a container: reserve an address, create the veth,
// move it, configure eth0, publish one port — and the release.
func BenchmarkConnect(b *testing.B) {
	if !benchInHostNetns(b) {
		return
	}
	stateDir := filepath.Join(b.TempDir(), "network")
	first, err := Reserve(Request{ID: "first", StateDir: stateDir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer first.Release(nil)
	var reserve, connect, release time.Duration
	defer func() {
		n := float64(b.N)
		b.ReportMetric(float64(reserve.Microseconds())/n, "reserve-µs/op")
		b.ReportMetric(float64(connect.Microseconds())/n, "connect-µs/op")
		b.ReportMetric(float64(release.Microseconds())/n, "release-µs/op")
	}()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		cmd := sleeperInNetns(b)
		b.StartTimer()
		t0 := time.Now()
		ep, err := Reserve(Request{ID: fmt.Sprintf("b%d", i), Ports: []Port{{9000, 80, "tcp"}}, StateDir: stateDir}, nil)
		t1 := time.Now()
		if err == nil {
			err = ep.Connect(cmd.Process.Pid, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := ep.Release(nil); err != nil {
			b.Fatal(err)
		}
		reserve += t1.Sub(t0)
		connect += t2.Sub(t1)
		release += time.Since(t2)
		b.StopTimer()
		stop(cmd)
		b.StartTimer()
	}
}

// BenchmarkFirstContainer adds making the bridge, ip_forward and the NAT
// table, and removing them: the cost when the container is alone.
func BenchmarkFirstContainer(b *testing.B) {
	if !benchInHostNetns(b) {
		return
	}
	stateDir := filepath.Join(b.TempDir(), "network")
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		cmd := sleeperInNetns(b)
		b.StartTimer()
		ep, err := Reserve(Request{ID: fmt.Sprintf("b%d", i), StateDir: stateDir}, nil)
		if err == nil {
			err = ep.Connect(cmd.Process.Pid, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := ep.Release(nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		stop(cmd)
		b.StartTimer()
	}
}
