// The C half of pkg/nsenter: a constructor that joins namespaces before the
// Go runtime starts its threads. See nsenter.go for why; runc's
// libcontainer/nsenter/nsexec.c does the same (and much more).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "nsenter.h"

struct mc_nsenter_step mc_nsenter_steps[MC_NSENTER_MAX];
int mc_nsenter_nsteps = -1; /* -1: the environment asked for nothing */

/* Runs when the program is loaded, before main and before the Go runtime
   creates its first thread (see gcc's "constructor" function attribute).
   The process is single-threaded here, which setns(2) requires to join a
   user namespace (EINVAL otherwise) or a time namespace (EUSERS). */
__attribute__((constructor)) static void
mc_nsenter(void)
{
	const char *p = getenv(MC_NSENTER_ENV);
	int i;

	if (p == NULL)
		return;

	/* Parse "FD:NSTYPE:PATH\n" lines (PATH is only for the Go side's
	   narration); all before joining, as nsenter(1) opens all first. */
	mc_nsenter_nsteps = 0;
	while (*p != '\0' && mc_nsenter_nsteps < MC_NSENTER_MAX) {
		char *end;
		struct mc_nsenter_step *s = &mc_nsenter_steps[mc_nsenter_nsteps];

		s->fd = (int)strtol(p, &end, 10);
		if (*end != ':')
			break;
		s->nstype = (int)strtol(end + 1, &end, 10);
		s->err = -1; /* not tried */
		mc_nsenter_nsteps++;
		while (*end != '\0' && *end != '\n')
			end++;
		p = (*end == '\n') ? end + 1 : end;
	}

	/* Join in the order given (user first), stop at the first failure
	   like the C example, which exits on the first error. */
	for (i = 0; i < mc_nsenter_nsteps; i++) {
		struct mc_nsenter_step *s = &mc_nsenter_steps[i];

		/* Not the PID namespace: after setns(CLONE_NEWPID) this thread's
		   children go to another PID namespace, and clone(2) refuses
		   CLONE_THREAD then (EINVAL), so the Go runtime could not start
		   a single thread. Go joins it later, on a locked thread; the
		   runtime then starts its threads from a clean one. */
		if (s->nstype == CLONE_NEWPID) {
			s->err = MC_NSENTER_LEFT;
			continue;
		}
		s->err = (setns(s->fd, s->nstype) == -1) ? errno : 0;
		close(s->fd);
		if (s->err != 0)
			break;
	}
}
