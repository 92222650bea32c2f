/* Lab 03: run a program inside the namespace of another process, with
 * setns(2).
 *
 * Usage: ./demo /proc/PID/ns/FILE cmd args...
 *
 * Example (as root, with lab 02's program or clonedemo running):
 *     ./demo /proc/PID/ns/uts hostname
 * prints the hostname of the UTS namespace of process PID.
 * Read docs/03-setns.md and `man 2 setns` (EXAMPLES). Fill in the TODOs.
 * Check your work as root: make lab LAB=03
 */
#define _GNU_SOURCE
#include <err.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
    int fd = -1;

    if (argc < 3) {
        fprintf(stderr, "%s /proc/PID/ns/FILE cmd args...\n", argv[0]);
        exit(EXIT_FAILURE);
    }

    /* TODO 1: open the namespace file argv[1] read-only. Open it with
     * O_CLOEXEC, so that the program run below does not inherit the
     * descriptor. On failure: err(EXIT_FAILURE, "open"). */

    /* TODO 2: join the namespace with setns(2). The second argument 0
     * means "any kind of namespace". On failure: err(EXIT_FAILURE, "setns"). */
    (void) fd;

    /* Run the command; it starts inside the namespace we joined. */
    execvp(argv[2], &argv[2]);
    err(EXIT_FAILURE, "execvp");
}
