package image

import (
	"bufio"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkExtract unpacks the plain layer tar $MC_BENCH_LAYER (make
// bench's testdata/bench-image.sh measures the same through run).
func BenchmarkExtract(b *testing.B) {
	layer := os.Getenv("MC_BENCH_LAYER")
	if layer == "" || os.Geteuid() != 0 {
		b.Skip("set MC_BENCH_LAYER to a plain layer tar, as root")
	}
	fi, err := os.Stat(layer)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		dir := b.TempDir()
		f, err := os.Open(layer)
		if err != nil {
			b.Fatal(err)
		}
		rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		err = Extract(rootfd, bufio.NewReaderSize(f, 1<<20))
		unix.Close(rootfd)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnpack is Store.Unpack of the same layer, imported once: the
// diff ID's sha256 and the store's temporary directory and rename on top
// of Extract.
func BenchmarkUnpack(b *testing.B) {
	layer := os.Getenv("MC_BENCH_LAYER")
	if layer == "" || os.Geteuid() != 0 {
		b.Skip("set MC_BENCH_LAYER to a plain layer tar, as root")
	}
	fi, err := os.Stat(layer)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Import(layer, "bench"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(s.layerDir()); err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(s.layerDir(), 0o755)
		b.StartTimer()
		if _, err := s.Image("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
