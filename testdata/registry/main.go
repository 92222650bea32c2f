// Command registry serves a real container registry on this machine, for
// lesson 13 and lab 13 (no outside network in the lessons' tests):
// go-containerregistry's pkg/registry, the in-memory registry its own
// tests use, speaking the distribution API. It is not part of
// minicontainer (a directory named testdata is outside ./...).
//
//	registry [-addr HOST:PORT] [-pidfile F] NAME:TAG LAYER.tar...
//
// builds the image NAME:TAG from the layer tars (bottom first, gzipped as
// they are pushed; Cmd sh), starts the registry in the background, pushes
// the image to it over HTTP and prints one line once it is there; the
// server stays until killed (its PID in -pidfile).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const childEnv = "LESSON_REGISTRY_CHILD"

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "where to listen")
	pidfile := flag.String("pidfile", "", "write the server's PID here")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: registry [-addr HOST:PORT] [-pidfile F] NAME:TAG LAYER.tar...")
		os.Exit(2)
	}
	if os.Getenv(childEnv) == "" {
		parent(*pidfile)
		return
	}
	if err := serve(*addr, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

// parent starts the server as a child and returns once it has pushed.
func parent(pidfile string) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	if pidfile != "" {
		os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	fmt.Print(line)
	if line == "" || line[:6] == "error:" {
		cmd.Process.Kill()
		os.Exit(1)
	}
}

func serve(addr, ref string, layers []string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go http.Serve(l, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	img := empty.Image
	for _, f := range layers {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	r, err := name.ParseReference(addr+"/"+ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img); err != nil {
		return err
	}
	fmt.Printf("registry on %s: pushed %s, %d layers\n", addr, ref, len(layers))
	os.Stdout.Close()
	select {}
}
