/*
 * Mounts: the program's control view (controlfs.c), which the keeper mounts at DIR/control.EPOCH
 * and ends with itself, and the program's own mount namespace, made in a launch's child: the
 * node's own paths, the view bound at the control directory's path, what the program must not
 * have detached, its own /dev/shm and /proc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "controlfs.h"
#include "keeper.h"

/* the source name deploy/host/prepare.sh mounts CRIU's kernel-probe cache with */
#define KDAT_MOUNT_SOURCE "godwit-criu"
/* the agents' runDir mounts: RUN_MOUNT_SOURCE in schemas/src/mountinfo.ts */
#define RUN_MOUNT_SOURCE "godwit-run"

const char *control_dir;
/* where the keeper serves the program's control directory */
static char control_at[4096];
static pid_t keeper_pid;

/*
 * GODWIT_KEEPER_CONTROL names the program's control directory: its view is mounted at
 * DIR/control.EPOCH, shown as the owner's. Not passed on to the program.
 */
void mount_control(const char *dir, const char *epoch)
{
	keeper_pid = getpid();
	control_dir = getenv("GODWIT_KEEPER_CONTROL");
	if (control_dir && !*control_dir)
		control_dir = NULL;
	if (control_dir) {
		control_dir = strdup(control_dir);
		snprintf(control_at, sizeof(control_at), "%s/control.%s", dir, epoch);
		if (mkdir(control_at, 0755) < 0 && errno != EEXIST)
			die("mkdir %s", control_at);
		if (controlfs_mount(control_dir, control_at, have_owner ? owner.uid : 0, have_owner ? owner.gid : 0) < 0)
			die("mounting the control directory at %s", control_at);
	}
	unsetenv("GODWIT_KEEPER_CONTROL");
}

/* the keeper's own end: its control mount goes with it (never from a child's exit) */
void unmount_control(void)
{
	if (getpid() != keeper_pid || !control_at[0])
		return;
	controlfs_stop();
	if (rmdir(control_at) < 0 && errno != ENOENT)
		log_failure("removing %s", control_at);
	control_at[0] = 0;
}

/* the mount table as this process sees it, one NUL-ended line per mount, in the table's order */
static char *read_mountinfo(size_t *len_out)
{
	static char info[1 << 20];
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("reading /proc/self/mountinfo");
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(info) - 1 && (r = read(fd, info + len, sizeof(info) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	info[len] = 0;
	for (char *nl = info; (nl = strchr(nl, '\n')); nl++)
		*nl = 0;
	*len_out = len;
	return info;
}

static int mount_point(const char *line, char *mnt, size_t size)
{
	char fmt[32];
	snprintf(fmt, sizeof(fmt), "%%*s %%*s %%*s %%*s %%%zus", size - 1);
	return sscanf(line, fmt, mnt) == 1;
}

/*
 * Mounts the program must not have: namespace files bound into the host's tree (ip netns,
 * container runtimes), which CRIU cannot dump ("doesn't have a proper root mount"), and the
 * control mounts of every program on the host (CRIU refuses FUSE) but its own at `keep`, the
 * small tmpfs where godwit's CRIU caches its kernel probe (deploy/host/prepare.sh), and the
 * agents' tmpfs with the images of lazy moves under way (agent/src/run-dir.ts): none of the
 * program's business, and every dump would pack them and every restore unpack them.
 */
static void detach_foreign_mounts(const char *keep)
{
	size_t len;
	char *info = read_mountinfo(&len);
	char mnt[4096], fstype[256], source[256];
	for (char *line = info; line < info + len; line += strlen(line) + 1) {
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s %255s", fstype, source) != 2 || !mount_point(line, mnt, sizeof(mnt)))
			continue;
		int control = strcmp(fstype, "fuse." CONTROLFS_SUBTYPE) == 0;
		/* EINVAL, ENOENT: gone already, with a mount above it that was detached before */
		if ((strcmp(fstype, "nsfs") == 0 || (control && !(keep && strcmp(mnt, keep) == 0)) ||
		     strcmp(source, KDAT_MOUNT_SOURCE) == 0 || strcmp(source, RUN_MOUNT_SOURCE) == 0) &&
		    umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			log_failure("detaching %s from the program's mounts", mnt);
	}
}

static int is_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/');
}

/*
 * Detaches every mount at or under path, the last mounted first: what a mount over path would
 * hide stays out of the program's table, where CRIU would find it overmounted (and a stacked
 * tmpfs's files would be packed into every dump).
 */
static void detach_under(const char *path)
{
	size_t len;
	char *info = read_mountinfo(&len);
	static char *lines[8192];
	size_t n = 0;
	for (char *line = info; line < info + len && n < sizeof(lines) / sizeof(*lines); line += strlen(line) + 1)
		lines[n++] = line;
	char mnt[4096];
	while (n-- > 0)
		if (mount_point(lines[n], mnt, sizeof(mnt)) && is_under(mnt, path) &&
		    umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			die("detaching %s to make %s the node's own", mnt, path);
}

static void make_dirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			die("mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		die("mkdir %s", p);
}

#define MAX_BINDS 32

/*
 * A directory to bind, taken before any mount could hide or detach it: a detached copy of the
 * mount there (open_tree's clone, a bind not yet attached), which what is unmounted later leaves be.
 */
struct bind {
	char at[4096];
	int fd;
};

/* a copy of the mount at path, to attach later; -1 where this machine lacks it */
static int take_mount(const char *path)
{
	return (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
}

static void attach_mount(int fd, const char *at, const char *what)
{
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die("binding %s at %s", what, at);
	close(fd);
}

/*
 * Each path of a colon-separated list, with its source taken: prefix PATH for the node's own
 * (which must be there: agent/src/node-local.ts makes them), PATH itself for a shared one (one
 * this machine lacks has nothing to show, and is left out).
 */
static int take_binds(const char *list, const char *prefix, struct bind *out)
{
	int n = 0;
	for (const char *s = list; s && *s && n < MAX_BINDS;) {
		size_t len = strcspn(s, ":");
		char src[8192];
		snprintf(out[n].at, sizeof(out[n].at), "%.*s", (int)len, s);
		snprintf(src, sizeof(src), "%s%s", prefix ? prefix : "", out[n].at);
		out[n].fd = take_mount(src);
		if (out[n].fd >= 0)
			n++;
		else if (prefix)
			die("taking the node's %s", src);
		s += len + (s[len] == ':');
	}
	return n;
}

/*
 * The node's own paths (agent/src/node-local.ts): GODWIT_KEEPER_LOCAL_DIR/PATH bound at each PATH
 * of GODWIT_KEEPER_LOCAL_PATHS, then each of GODWIT_KEEPER_SHARED_PATHS (common to every node,
 * though under a node's own path: a checkout or a cluster's home in /tmp, its control directories
 * in /run) bound back over them from the machine's tree. Every source is taken before the first
 * mount: the node's directories may themselves lie under a path they hide (a cluster whose home
 * is in /tmp keeps its nodes' /var/tmp in /tmp/HOME/nodes/NODE/local/var/tmp), and mounts under
 * it are detached.
 */
static void bind_node_local(void)
{
	const char *dir = getenv("GODWIT_KEEPER_LOCAL_DIR");
	const char *paths = getenv("GODWIT_KEEPER_LOCAL_PATHS");
	if (!dir || !*dir || !paths || !*paths)
		return;
	static struct bind local[MAX_BINDS], shared[MAX_BINDS];
	int n_local = take_binds(paths, dir, local);
	int n_shared = take_binds(getenv("GODWIT_KEEPER_SHARED_PATHS"), NULL, shared);
	for (int i = 0; i < n_local; i++) {
		detach_under(local[i].at);
		attach_mount(local[i].fd, local[i].at, "the node's own directory");
	}
	for (int i = 0; i < n_shared; i++) {
		make_dirs(shared[i].at);
		attach_mount(shared[i].fd, shared[i].at, "a shared path back over the node's own");
	}
}

/*
 * The program's own /dev/shm: a tmpfs its tree alone shares, so that its dumps carry its shared
 * memory segments (CRIU packs a tmpfs's files) and no other program's.
 */
static void mount_own_shm(void)
{
	detach_under("/dev/shm");
	if (mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		die("mounting the program's own /dev/shm");
}

/* In a launch's child, now PID 1 of the program's new PID and mount namespaces. */
void set_up_program_mounts(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private");
	/* taken first: it may lie under a node-local path (a cluster's home in /tmp), which hides it */
	int control_fd = control_dir ? take_mount(control_at) : -1;
	if (control_dir && control_fd < 0)
		die("taking %s", control_at);
	bind_node_local();
	if (control_dir)
		attach_mount(control_fd, control_dir, "the program's control view");
	detach_foreign_mounts(control_dir);
	mount_own_shm();
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mounting /proc");
}
