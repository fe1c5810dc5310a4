/* The program's control directory as a FUSE file system served by the keeper: see controlfs.c. */
#ifndef GODWIT_CONTROLFS_H
#define GODWIT_CONTROLFS_H

/* what /proc/PID/mountinfo calls it ("fuse." + this): how the program's launch and the agent find it */
#define CONTROLFS_SUBTYPE "godwit-control"

#include <sys/types.h>

/* mounts the view of backing_dir, shown as uid's and gid's, at mountpoint; requests wait until controlfs_serve() */
int controlfs_mount(const char *backing_dir, const char *mountpoint, uid_t uid, gid_t gid);
/* the program's root is `root` (launched, or restored): its PID namespace is the tree the view serves */
void controlfs_set_program(pid_t root);
/* answers requests from a thread of its own; SIGCHLD must already be blocked */
int controlfs_serve(void);
/* unmounts it, if mounted */
void controlfs_stop(void);

#endif
