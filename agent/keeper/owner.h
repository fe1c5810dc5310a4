/*
 * The account a program belongs to, and doing things with its rights: shared by the keeper
 * (keeper.c) and the helper that writes recovered files back (as-owner.c).
 */
#ifndef GODWIT_OWNER_H
#define GODWIT_OWNER_H

#include <sys/types.h>

#define MAX_GROUPS 256

struct owner {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
};

/* "UID GID G1,G2,..." (the groups may be empty), as agent/src/accounts.ts keeperUser writes it: 0, or -1 (EINVAL) */
int parse_owner(const char *s, struct owner *o);

/*
 * Empties the bounding and ambient capability sets, so that nothing this process execs can
 * regain a capability: 0, or -1 with errno. become_owner does it for any owner but root.
 */
int drop_capability_bounds(void);

/* Makes this process the owner for good (see owner.c); 0, or -1 with errno. */
int become_owner(const struct owner *o);

/*
 * Only the filesystem identity (fsuid, fsgid, groups) becomes the owner's, so that opens and
 * creates are checked, and files created, as theirs; fs_back_to_root undoes it. 0, or -1 with errno.
 */
int fs_as_owner(const struct owner *o);
int fs_back_to_root(void);

/*
 * open(2) that follows no symbolic link in any component of path (openat2 RESOLVE_NO_SYMLINKS:
 * ELOOP), always O_CLOEXEC; ENOSYS where the kernel lacks openat2 (before Linux 5.6).
 */
int open_no_symlinks(const char *path, int flags, mode_t mode);

#endif
