/* Lab 04: move this process into new namespaces with unshare(2), then
 * run a program there.
 *
 * Usage: ./demo [options] program [arg...]
 * Options: -i IPC, -m mount, -n network, -p PID, -u UTS namespace.
 *
 * Example (as root):
 *     ./demo -u -- sh -c 'hostname lab04; hostname'
 * prints lab04, and the hostname outside does not change.
 * Read docs/04-unshare.md and `man 2 unshare` (EXAMPLES). Fill in the TODOs.
 * Check your work as root: make lab LAB=04
 */
#define _GNU_SOURCE
#include <err.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
usage(char *pname)
{
    fprintf(stderr, "Usage: %s [options] program [arg...]\n", pname);
    fprintf(stderr, "Options can be:\n");
    fprintf(stderr, "    -C   unshare cgroup namespace\n");
    fprintf(stderr, "    -i   unshare IPC namespace\n");
    fprintf(stderr, "    -m   unshare mount namespace\n");
    fprintf(stderr, "    -n   unshare network namespace\n");
    fprintf(stderr, "    -p   unshare PID namespace\n");
    fprintf(stderr, "    -t   unshare time namespace\n");
    fprintf(stderr, "    -u   unshare UTS namespace\n");
    fprintf(stderr, "    -U   unshare user namespace\n");
    exit(EXIT_FAILURE);
}

int
main(int argc, char *argv[])
{
    int flags = 0, opt;

    /* The option letters getopt(3) accepts. TODO 1: add the letters of
     * the options you handle below ("iu" to begin with). */
    const char *optstring = "u";

    while ((opt = getopt(argc, argv, optstring)) != -1) {
        switch (opt) {
        case 'u': flags |= CLONE_NEWUTS; break;
        /* TODO 2: -i, -m, -n and -p: one case each, with the CLONE_NEW*
         * flag of that namespace (see unshare(2), or lesson 01's table).
         * Optional: -C, -t and -U. */
        default: usage(argv[0]);
        }
    }
    if (optind >= argc)
        usage(argv[0]);

    if (unshare(flags) == -1)
        err(EXIT_FAILURE, "unshare");

    execvp(argv[optind], &argv[optind]);
    err(EXIT_FAILURE, "execvp");
}
