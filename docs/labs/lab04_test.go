package labs

import (
	"os"
	"strings"
	"testing"

	"github.com/minicontainer/minicontainer/pkg/sidebyside"
)

func init() {
	newNS := func(opt, kind, todo string) check {
		return check{"-" + opt + ": a new " + kind + " namespace",
			"add '" + opt + "' to optstring (TODO 1) and a case that sets its CLONE_NEW* flag (TODO 2)",
			func(t *testing.T, p *prog) {
				r := shell(t, p.Dir, p.C, 0, `$DEMO -`+opt+` -- readlink /proc/self/ns/`+kind)
				mine := nsLink(os.Getpid(), kind)
				if r.Code != 0 || strings.TrimSpace(r.Stdout) == mine || !strings.HasPrefix(r.Stdout, kind+":[") {
					t.Errorf("./demo -%s -- readlink /proc/self/ns/%s: exit %d, printed %q (stderr %q); the namespace outside is %s", opt, kind, r.Code, r.Stdout, firstLine(r.Stderr), mine)
				}
			}}
	}
	register(&lab{
		id: "04", dir: "04-unshare", title: "unshare(2): leave some namespaces, then run a program",
		solutions:     []string{"cmd/unsharedemo", "man:unshare.2:unshare.c"},
		skeletonFails: []string{"-i: a new ipc namespace", "-m: a new mnt namespace", "-n: a new net namespace", "-p: the program's children in a new PID namespace", "options together"},
		manPage:       "unshare.2", manFile: "unshare.c",
		checks: []check{
			{"usage", "no program: print the usage text on stderr and exit 1, as unshare.c does",
				func(t *testing.T, p *prog) {
					sameAsC(t, p, sidebyside.Case{})
					sameAsC(t, p, sidebyside.Case{Args: []string{"-u"}})
				}},
			{"unknown option", "getopt(3) prints `invalid option -- 'z'`; then the usage text, exit 1",
				func(t *testing.T, p *prog) { sameAsC(t, p, sidebyside.Case{Args: []string{"-z", "true"}}) }},
			{"-u: a new UTS namespace", "the given -u case: the hostname set inside must not change the one outside",
				func(t *testing.T, p *prog) {
					r := shell(t, p.Dir, p.C, 0, `$DEMO -u -- sh -c 'hostname lab04; hostname'; hostname`)
					if r.Stdout != "lab04\nhost\n" {
						t.Errorf("printed %q (stderr %q), want %q: the hostname inside, then the one outside", r.Stdout, r.Stderr, "lab04\nhost\n")
					}
				}},
			newNS("i", "ipc", ""),
			newNS("m", "mnt", ""),
			newNS("n", "net", ""),
			{"-p: the program's children in a new PID namespace", "CLONE_NEWPID for -p: the calling process stays where it is, its next child is PID 1 of the new namespace (pid_namespaces(7))",
				func(t *testing.T, p *prog) {
					// The shell forks readlink: the first child made after the
					// unshare, in the new namespace whatever the design.
					r := shell(t, p.Dir, p.C, 0, `$DEMO -p -- sh -c 'readlink /proc/self/ns/pid; true'`)
					mine := nsLink(os.Getpid(), "pid")
					if r.Code != 0 || strings.TrimSpace(r.Stdout) == mine || !strings.HasPrefix(r.Stdout, "pid:[") {
						t.Errorf("a child's PID namespace: exit %d, printed %q (stderr %q); the namespace outside is %s", r.Code, r.Stdout, firstLine(r.Stderr), mine)
					}
				}},
			{"options together", "getopt(3) takes -u -n and -un alike; OR the flags together (|=), do not overwrite them",
				func(t *testing.T, p *prog) {
					r := shell(t, p.Dir, p.C, 0, `$DEMO -un -- sh -c 'hostname lab04 && readlink /proc/self/ns/uts /proc/self/ns/net'; hostname`)
					l := lines(r.Stdout)
					if len(l) != 3 || l[0] == nsLink(os.Getpid(), "uts") || l[1] == nsLink(os.Getpid(), "net") || l[2] != "host" {
						t.Errorf("./demo -un: printed %q (stderr %q), want a new UTS and a new network namespace, and hostname host outside", r.Stdout, firstLine(r.Stderr))
					}
				}},
			{"exit status and errors", "exec the program (execvp), so its exit status is yours; if execvp returns, err(EXIT_FAILURE, \"execvp\")",
				func(t *testing.T, p *prog) {
					sameAsC(t, p, sidebyside.Case{Args: []string{"-u", "--", "sh", "-c", "exit 3"}})
					sameAsC(t, p, sidebyside.Case{Args: []string{"-u", "no-such-command-mctest"}})
				}},
		},
	})
}
