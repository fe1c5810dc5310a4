/*
 * The program's control directory as the program sees it: a small FUSE file system, served by
 * the keeper, over the directory the agent reads and answers (its "backing" directory).
 *
 * A plain directory cannot make a write wait, and MOSIX's promise is that writing 1 to
 * `checkpoint` returns once the checkpoint is taken (or refused). So here every file passes
 * through to the backing directory, except that a write to `checkpoint` waits until the agent's
 * answer replaces the request, and a read of `checkpoint` waits while a request is pending.
 *
 * The checkpoint itself stops the program while it waits in that write: CRIU's PTRACE_INTERRUPT
 * makes the kernel send us an INTERRUPT for the write, and we then let the write return at
 * once, so the program stops (and is dumped) just after it, not inside it; its next read of
 * `checkpoint` waits for the number. Files report size 0 (their text is read with direct I/O):
 * a file the program has open when it is dumped then never fails CRIU's size check on restore.
 *
 * The view is the program's alone. The kernel checks the modes it reports (default_permissions:
 * the directory its owner's, 0700, the files 0600), and every request must come from the
 * program's own tree (caller_allowed): anyone else who reaches the mount, through
 * /proc/PID/root say, is refused even when the kernel would let them in.
 *
 * Here the FUSE session; the requests are in controlfs-ops.c, the backing directory in
 * controlfs-backing.c, who may ask in controlfs-caller.c.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "controlfs-backing.h"
#include "controlfs-caller.h"
#include "controlfs-ops.h"
#include "controlfs.h"

static struct fuse_session *session;

static void *serve(void *unused)
{
	(void)unused;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg) {
		fprintf(stderr, "godwit-keeper: no memory to serve the control directory: its requests go unanswered\n");
		return NULL;
	}
	/* several: a write waiting for its answer must not hold up the INTERRUPT that ends its wait */
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_session_loop_mt(session, cfg);
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

int controlfs_mount(const char *backing_dir, const char *mountpoint, uid_t uid, gid_t gid)
{
	backing_init(backing_dir);
	controlfs_ops_init(uid, gid);
	if (caller_init() < 0)
		return -1;
	/* allow_other: the owner is not the root that mounts it; default_permissions: the kernel checks the modes we report */
	char *argv[] = { "godwit-keeper", "-o",
			 "fsname=godwit-control,subtype=" CONTROLFS_SUBTYPE ",allow_other,default_permissions", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	session = fuse_session_new(&args, &controlfs_ops, sizeof(controlfs_ops), NULL);
	if (!session)
		return -1;
	if (fuse_session_mount(session, mountpoint) != 0) {
		fuse_session_destroy(session);
		session = NULL;
		return -1;
	}
	return 0;
}

int controlfs_serve(void)
{
	pthread_t t;
	if (!session || pthread_create(&t, NULL, serve, NULL) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

void controlfs_stop(void)
{
	if (!session)
		return;
	fuse_session_exit(session);
	fuse_session_unmount(session);
	session = NULL;
}
