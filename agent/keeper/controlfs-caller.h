/* Whether a request to the control view comes from the program's own tree: see controlfs-caller.c. */
#ifndef GODWIT_CONTROLFS_CALLER_H
#define GODWIT_CONTROLFS_CALLER_H

#include <sys/types.h>

/* learns the keeper's own PID namespace; call from the keeper before any request */
int caller_init(void);
/* whether the caller FUSE names (its PID in the keeper's namespace, its uid) may use the view */
int caller_allowed(pid_t pid, uid_t uid);

#endif
