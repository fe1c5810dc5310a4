/*
 * Mounts: the program's control view (controlfs.c), which the keeper mounts at DIR/control.EPOCH
 * and ends with itself, and the program's own mount namespace, made in a launch's child: the view
 * bound at the control directory's path, what the program must not have detached, its own /proc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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
	char mnt[4096], fstype[256], source[256];
	for (char *line = info, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s %255s", fstype, source) != 2 ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		int control = strcmp(fstype, "fuse." CONTROLFS_SUBTYPE) == 0;
		/* EINVAL, ENOENT: gone already, with a mount above it that was detached before */
		if ((strcmp(fstype, "nsfs") == 0 || (control && !(keep && strcmp(mnt, keep) == 0)) ||
		     strcmp(source, KDAT_MOUNT_SOURCE) == 0 || strcmp(source, RUN_MOUNT_SOURCE) == 0) &&
		    umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			log_failure("detaching %s from the program's mounts", mnt);
	}
}

/* In a launch's child, now PID 1 of the program's new PID and mount namespaces. */
void set_up_program_mounts(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private");
	if (control_dir && mount(control_at, control_dir, NULL, MS_BIND, NULL) < 0)
		die("binding %s at %s", control_at, control_dir);
	detach_foreign_mounts(control_dir);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mounting /proc");
}
