package main

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minicontainer/minicontainer/pkg/seccomp"
	"github.com/minicontainer/minicontainer/pkg/spec"
)

// seccompCmd prints the seccomp filter a container gets, disassembled.
//
// Why a verb of its own, and not more -x: the filter is not in config.json
// (linux.seccomp is the profile; the program is what Compile makes of it),
// it is 600-odd instructions for Docker's profile, which would bury the
// narration of a start, and reading it needs no root and no container:
// the same flags as run and spec (or a bundle's config.json) give the same
// program the init loads, instruction for instruction. -x says at the load
// how long it is; this shows what it says. libseccomp has the same tool
// (scmp_bpf_disasm), and bpftool prog dump for eBPF.
type seccompCmd struct {
	Config string `help:"Disassemble the filter of this config.json (a bundle's) instead of run's flags." placeholder:"FILE"`
	Flags  runCmd `embed:""`
}

func (c *seccompCmd) Run(g *globals) error {
	var s *specs.Spec
	var err error
	if c.Config != "" {
		data, rerr := os.ReadFile(c.Config)
		if rerr != nil {
			return rerr
		}
		if s, err = spec.Parse(data); err != nil {
			return err
		}
	} else {
		r := &c.Flags
		if len(r.Command) == 0 {
			r.Command = []string{"sh"}
		}
		if r.Rootfs == "" {
			if r.Rootfs, err = r.builtin(nil); err != nil {
				return err
			}
		}
		if s, err = spec.FromRun(r.flags(), os.LookupEnv); err != nil {
			return err
		}
	}
	var profile *specs.LinuxSeccomp
	if s.Linux != nil {
		profile = s.Linux.Seccomp
	}
	if profile == nil {
		fmt.Println("no seccomp filter: linux.seccomp is absent (--privileged, seccomp=unconfined)")
		return nil
	}
	prog, err := seccomp.Compile(profile)
	if err != nil {
		return err
	}
	fmt.Printf("; linux.seccomp: default %s, %d rules, architectures %v\n", profile.DefaultAction, len(profile.Syscalls), profile.Architectures)
	fmt.Printf("; %d instructions (the kernel takes at most %d); jump targets are instruction numbers\n", len(prog), seccomp.MaxInstructions)
	fmt.Print(seccomp.Disasm(prog))
	return nil
}
