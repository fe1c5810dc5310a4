/* The FUSE requests of the control view: see controlfs-ops.c. */
#ifndef GODWIT_CONTROLFS_OPS_H
#define GODWIT_CONTROLFS_OPS_H

#include <fuse_lowlevel.h>
#include <sys/types.h>

extern const struct fuse_lowlevel_ops controlfs_ops;
/* the files are shown as uid's and gid's */
void controlfs_ops_init(uid_t uid, gid_t gid);

#endif
