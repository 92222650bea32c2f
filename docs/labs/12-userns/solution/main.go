// Command demo runs a program in a new user namespace where the caller is
// root, as `unshare -r` does, writing the maps itself (lab 12's solution).
//
//	demo [-u] COMMAND [ARG...]
//
// -u: a new UTS namespace too, owned by the new user namespace.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	uts := flag.Bool("u", false, "a new UTS namespace too")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: demo [-u] COMMAND [ARG...]")
		os.Exit(2)
	}
	// The child waits on a pipe (fd 3) until its maps are written, then
	// execs the command: before that it is nobody in its namespace.
	r, w, err := os.Pipe()
	if err != nil {
		fail(err)
	}
	args := append([]string{"-c", `read x <&3; exec 3<&-; exec "$@"`, "sh"}, flag.Args()...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	flags := uintptr(syscall.CLONE_NEWUSER)
	if *uts {
		flags |= syscall.CLONE_NEWUTS
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	r.Close()
	pid := cmd.Process.Pid
	// user_namespaces(7): one line, our own id, in one write; setgroups
	// "deny" before the gid map, since we are not privileged.
	write(pid, "uid_map", fmt.Sprintf("0 %d 1\n", os.Geteuid()))
	write(pid, "setgroups", "deny")
	write(pid, "gid_map", fmt.Sprintf("0 %d 1\n", os.Getegid()))
	w.Write([]byte("go\n"))
	w.Close()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		fail(err)
	}
}

func write(pid int, file, data string) {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if err := os.WriteFile(path, []byte(data), 0); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}
