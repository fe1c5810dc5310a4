/* The program's control directory as a FUSE file system served by the keeper: see controlfs.c. */
#ifndef GODWIT_CONTROLFS_H
#define GODWIT_CONTROLFS_H

/* what /proc/PID/mountinfo calls it ("fuse." + this): how the program's launch and the agent find it */
#define CONTROLFS_SUBTYPE "godwit-control"

/* mounts the view of backing_dir at mountpoint; requests wait until controlfs_serve() */
int controlfs_mount(const char *backing_dir, const char *mountpoint);
/* answers requests from a thread of its own; SIGCHLD must already be blocked */
int controlfs_serve(void);
/* unmounts it, if mounted */
void controlfs_stop(void);

#endif
