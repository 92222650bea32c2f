// Command tiocsti is a test probe: for each argument (a descriptor number
// or a path to open), it tries to push "echo INJECTED\n" into that
// terminal's input queue with ioctl(TIOCSTI) (ioctl_tty(2)) and prints one
// line, "ARG: ok" or "ARG: the error". Built static by the test, so it
// runs in a busybox container.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

func main() {
	for _, arg := range os.Args[1:] {
		fd, err := strconv.Atoi(arg)
		if err != nil {
			fd, err = syscall.Open(arg, syscall.O_RDWR|syscall.O_NOCTTY, 0)
			if err != nil {
				fmt.Printf("%s: open: %v\n", arg, err)
				continue
			}
		}
		fmt.Printf("%s: %s\n", arg, inject(fd, "echo INJECTED\n"))
	}
}

func inject(fd int, s string) string {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSTI, uintptr(unsafe.Pointer(&b))); e != 0 {
			return e.Error()
		}
	}
	return "ok"
}
