#define MC_NSENTER_ENV "_MINICONTAINER_NSENTER"
#define MC_NSENTER_MAX 8
#define MC_NSENTER_LEFT -2 /* left to the Go side, fd still open */

struct mc_nsenter_step {
	int fd;     /* the open namespace file */
	int nstype; /* CLONE_NEW* passed to setns(2) */
	int err;    /* 0: joined; errno: failed; -1: not tried; MC_NSENTER_LEFT */
};

extern struct mc_nsenter_step mc_nsenter_steps[MC_NSENTER_MAX];
extern int mc_nsenter_nsteps;
