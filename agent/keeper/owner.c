#define _GNU_SOURCE
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int parse_owner(const char *s, struct owner *o)
{
	char *end;
	errno = 0;
	unsigned long uid = strtoul(s, &end, 10);
	if (end == s || *end != ' ')
		goto bad;
	const char *g = end + 1;
	unsigned long gid = strtoul(g, &end, 10);
	if (end == g || (*end != ' ' && *end != 0))
		goto bad;
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->ngroups = 0;
	for (const char *p = *end ? end + 1 : end; *p;) {
		unsigned long x = strtoul(p, &end, 10);
		if (end == p || (*end != ',' && *end != 0) || o->ngroups >= MAX_GROUPS)
			goto bad;
		o->groups[o->ngroups++] = (gid_t)x;
		p = *end ? end + 1 : end;
	}
	if (errno)
		goto bad;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int drop_capability_bounds(void)
{
	/* EINVAL: a capability this kernel does not know */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ? -1 : 0;
}

/*
 * For good: no capabilities (the bounding and ambient sets emptied, so nothing it execs can
 * regain any), no new privileges (setuid binaries run as the owner), the owner's uid, gid and
 * groups. Root stays root, as in MOSIX, but without new privileges.
 */
int become_owner(const struct owner *o)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	if (o->uid != 0 && drop_capability_bounds() < 0)
		return -1;
	if (setgroups((size_t)o->ngroups, o->groups) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
	    setresuid(o->uid, o->uid, o->uid) < 0)
		return -1;
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) < 0 || r != o->uid || e != o->uid || s != o->uid) {
		errno = EPERM;
		return -1;
	}
	if (o->uid != 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		if (syscall(SYS_capget, &hdr, data) < 0)
			return -1;
		if (data[0].effective || data[0].permitted || data[1].effective || data[1].permitted) {
			errno = EPERM;
			return -1;
		}
	}
	return 0;
}

/* root's own groups, while the filesystem identity is the owner's */
static gid_t root_groups[MAX_GROUPS];
static int root_ngroups = -1;

static int groups_are(const gid_t *want, int n)
{
	gid_t now[MAX_GROUPS + 1];
	int got = getgroups(MAX_GROUPS + 1, now);
	if (got != n)
		return 0;
	for (int i = 0; i < n; i++) {
		int found = 0;
		for (int j = 0; j < got && !found; j++)
			found = now[j] == want[i];
		if (!found)
			return 0;
	}
	return 1;
}

int fs_as_owner(const struct owner *o)
{
	root_ngroups = getgroups(MAX_GROUPS, root_groups);
	if (root_ngroups < 0 || setgroups((size_t)o->ngroups, o->groups) < 0)
		return -1;
	/* setfsuid/setfsgid say nothing of failure: they return the old id; -1 reads the current one */
	setfsgid(o->gid);
	setfsuid(o->uid);
	if ((uid_t)setfsuid((uid_t)-1) != o->uid || (gid_t)setfsgid((gid_t)-1) != o->gid ||
	    !groups_are(o->groups, o->ngroups)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int fs_back_to_root(void)
{
	setfsuid(geteuid());
	setfsgid(getegid());
	if (root_ngroups < 0 || setgroups((size_t)root_ngroups, root_groups) < 0)
		return -1;
	if ((uid_t)setfsuid((uid_t)-1) != geteuid() || (gid_t)setfsgid((gid_t)-1) != getegid() ||
	    !groups_are(root_groups, root_ngroups)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int open_no_symlinks(const char *path, int flags, mode_t mode)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	/* openat2 refuses a mode without O_CREAT */
	how.mode = flags & O_CREAT ? mode : 0;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	long fd;
	do
		fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}
