/* Lab 02: a child in a new UTS namespace, with clone(2).
 *
 * Usage: ./demo <child-hostname>
 *
 * The program should print what the example of clone(2) prints:
 *     clone() returned <PID>
 *     uts.nodename in child:  <child-hostname>
 *     uts.nodename in parent: <the hostname you started with>
 *     child has terminated
 * Read docs/02-clone.md and `man 2 clone` (EXAMPLES). Fill in the TODOs.
 * Check your work as root: make lab LAB=02
 */
#define _GNU_SOURCE
#include <err.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (1024 * 1024)

/* child runs in the new process made by clone(). arg is the hostname. */
static int
child(void *arg)
{
    struct utsname uts;
    const char *hostname = arg;

    /* TODO 2: set the hostname of the child's UTS namespace to hostname
     * with sethostname(2). On failure, call err(EXIT_FAILURE, "sethostname"). */
    (void) hostname;

    /* TODO 3: read the hostname back with uname(2) and print
     * "uts.nodename in child:  %s\n" (two spaces after the colon). */
    (void) uts;

    /* Stay alive, so that other programs can look at the namespace
     * (ls -l /proc/PID/ns, nsenter, or lab 03's program). */
    sleep(200);
    return 0;
}

int
main(int argc, char *argv[])
{
    struct utsname uts;
    char *stack;
    pid_t pid;
    int flags;

    if (argc < 2) {
        fprintf(stderr, "Usage: %s <child-hostname>\n", argv[0]);
        exit(EXIT_SUCCESS);
    }

    /* The child needs a stack of its own; it grows down, so clone()
     * gets the end of the block. */
    stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        err(EXIT_FAILURE, "mmap");

    /* TODO 1: ask for a new UTS namespace. SIGCHLD alone makes a child
     * that shares every namespace with its parent. */
    flags = SIGCHLD;

    pid = clone(child, stack + STACK_SIZE, flags, argv[1]);
    if (pid == -1)
        err(EXIT_FAILURE, "clone");
    printf("clone() returned %jd\n", (intmax_t) pid);

    sleep(1); /* give the child time to set its hostname */

    if (uname(&uts) == -1)
        err(EXIT_FAILURE, "uname");
    printf("uts.nodename in parent: %s\n", uts.nodename);

    if (waitpid(pid, NULL, 0) == -1)
        err(EXIT_FAILURE, "waitpid");
    printf("child has terminated\n");
    exit(EXIT_SUCCESS);
}
