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
 */
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controlfs-caller.h"
#include "controlfs.h"

#define MAX_NAMES 32
#define NAME_MAX_LEN 64
#define TEXT_MAX 4096
#define WAIT_STEP_NS (20 * 1000 * 1000L)
/* how long a request may sit unanswered and replaced by an older answer before it is written again */
#define REWRITE_AFTER_MS 1000
/* no agent answered for this long (it is gone, say): the wait ends, with ETIMEDOUT for a write */
#define WAIT_MAX_MS (10 * 60 * 1000)

static const char *backing;
static uid_t owner_uid;
static gid_t owner_gid;
static struct fuse_session *session;
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char names[MAX_NAMES][NAME_MAX_LEN];
static int nnames;
static unsigned long tmp_seq;

struct handle {
	char name[NAME_MAX_LEN];
	/* what a read returns: taken at the first read, so that reads in pieces see one text */
	char text[TEXT_MAX];
	size_t text_len;
	int have_text;
	/* what this open wrote so far: the request, rewritten whole at every write */
	char req[TEXT_MAX];
	size_t req_len;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_step(void)
{
	struct timespec ts = { 0, WAIT_STEP_NS };
	nanosleep(&ts, NULL);
}

/* inode numbers: 1 is the directory, each name seen gets its own from 2 on */
static fuse_ino_t ino_of(const char *name)
{
	pthread_mutex_lock(&names_lock);
	int i;
	for (i = 0; i < nnames; i++)
		if (strcmp(names[i], name) == 0)
			break;
	if (i == nnames && nnames < MAX_NAMES)
		snprintf(names[nnames++], NAME_MAX_LEN, "%s", name);
	pthread_mutex_unlock(&names_lock);
	return i < MAX_NAMES ? (fuse_ino_t)(i + 2) : 0;
}

static int name_of(fuse_ino_t ino, char *out)
{
	pthread_mutex_lock(&names_lock);
	int ok = ino >= 2 && ino < (fuse_ino_t)nnames + 2;
	if (ok)
		snprintf(out, NAME_MAX_LEN, "%s", names[ino - 2]);
	pthread_mutex_unlock(&names_lock);
	return ok;
}

/* a control file is a visible regular file of the backing directory (the agent's temporaries start with '.') */
static int is_control_file(const char *name, struct stat *st)
{
	char path[4096];
	if (name[0] == '.' || strlen(name) >= NAME_MAX_LEN || strchr(name, '/'))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", backing, name);
	return lstat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* the backing file's text and inode; -1 if it is not there */
static ssize_t read_backing(const char *name, char *buf, size_t size, ino_t *ino)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", backing, name);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	ssize_t got = 0, r = 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	while (r > 0 && (size_t)got < size) {
		r = read(fd, buf + got, size - (size_t)got);
		if (r > 0)
			got += r;
	}
	close(fd);
	if (ino)
		*ino = st.st_ino;
	return got;
}

/* writes the request the way the agent writes its answers: a new file renamed over the old */
static int write_backing(const char *name, const char *text, size_t len, ino_t *ino)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/.%s.keeper%d.%lu", backing, name, (int)getpid(),
		 __atomic_add_fetch(&tmp_seq, 1, __ATOMIC_RELAXED));
	snprintf(path, sizeof(path), "%s/%s", backing, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	struct stat st;
	if (!err && fstat(fd, &st) < 0)
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	else if (ino)
		*ino = st.st_ino;
	return err;
}

static int is_answer(const char *text, size_t len)
{
	return (len >= 3 && strncmp(text, "ok ", 3) == 0) || (len >= 6 && strncmp(text, "error:", 6) == 0);
}

static int waits(const char *name)
{
	return strcmp(name, "checkpoint") == 0;
}

static void fill_attr(fuse_ino_t ino, const struct stat *from, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = owner_uid;
	st->st_gid = owner_gid;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
	}
	if (from) {
		st->st_mtim = from->st_mtim;
		st->st_ctim = from->st_ctim;
		st->st_atim = from->st_atim;
	}
}

/* a request from outside the program's tree: answered EACCES (see controlfs-caller.c) */
static int refused(fuse_req_t req)
{
	const struct fuse_ctx *caller = fuse_req_ctx(req);
	if (caller_allowed(caller->pid, caller->uid))
		return 0;
	fuse_reply_err(req, EACCES);
	return 1;
}

static void cfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (refused(req))
		return;
	struct stat bst;
	struct fuse_entry_param e;
	if (parent != FUSE_ROOT_ID || !is_control_file(name, &bst)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ino_of(name);
	if (!e.ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(e.ino, &bst, &e.attr);
	fuse_reply_entry(req, &e);
}

static void cfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	if (refused(req))
		return;
	struct stat st, bst;
	char name[NAME_MAX_LEN];
	if (ino == FUSE_ROOT_ID) {
		fill_attr(ino, lstat(backing, &bst) == 0 ? &bst : NULL, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if (!name_of(ino, name) || !is_control_file(name, &bst)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &bst, &st);
	fuse_reply_attr(req, &st, 0);
}

/* truncation and times mean nothing here: a request replaces the file's text whole */
static void cfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	cfs_getattr(req, ino, fi);
}

static void cfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (refused(req))
		return;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	char *buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	off_t at = 0;
	struct stat st;
	memset(&st, 0, sizeof(st));
	const char *dots[2] = { ".", ".." };
	for (int i = 0; i < 2; i++, at++) {
		if (at < off)
			continue;
		st.st_ino = FUSE_ROOT_ID;
		st.st_mode = S_IFDIR;
		size_t n = fuse_add_direntry(req, buf + used, size - used, dots[i], &st, at + 1);
		if (n > size - used)
			goto done;
		used += n;
	}
	DIR *d = opendir(backing);
	struct dirent *de;
	struct stat bst;
	while (d && (de = readdir(d))) {
		if (!is_control_file(de->d_name, &bst))
			continue;
		if (at++ < off)
			continue;
		st.st_ino = ino_of(de->d_name);
		st.st_mode = S_IFREG;
		size_t n = fuse_add_direntry(req, buf + used, size - used, de->d_name, &st, at);
		if (n > size - used)
			break;
		used += n;
	}
	if (d)
		closedir(d);
done:
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void cfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (refused(req))
		return;
	struct stat bst;
	char name[NAME_MAX_LEN];
	if (!name_of(ino, name) || !is_control_file(name, &bst)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	snprintf(h->name, sizeof(h->name), "%s", name);
	fi->fh = (uint64_t)(uintptr_t)h;
	/* no page cache: every read asks us, and the size (0) never limits it */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(h);
}

static void cfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	if (refused(req))
		return;
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	if (!h->have_text || off == 0) {
		ssize_t n;
		long long until = now_ms() + WAIT_MAX_MS;
		for (;;) {
			n = read_backing(h->name, h->text, sizeof(h->text), NULL);
			if (n < 0) {
				fuse_reply_err(req, ENOENT);
				return;
			}
			/* a pending request: its answer is what the program is after, unless a signal comes first */
			if (!waits(h->name) || n == 0 || is_answer(h->text, (size_t)n) || fuse_req_interrupted(req) ||
			    now_ms() > until)
				break;
			pause_step();
		}
		h->text_len = (size_t)n;
		h->have_text = 1;
	}
	size_t from = (size_t)off < h->text_len ? (size_t)off : h->text_len;
	size_t len = h->text_len - from < size ? h->text_len - from : size;
	fuse_reply_buf(req, h->text + from, len);
}

static void cfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	if (refused(req))
		return;
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	if (off < 0 || (size_t)off + size > sizeof(h->req)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	memcpy(h->req + off, buf, size);
	if ((size_t)off + size > h->req_len)
		h->req_len = (size_t)off + size;

	char before[TEXT_MAX];
	ssize_t before_len = waits(h->name) ? read_backing(h->name, before, sizeof(before), NULL) : -1;
	ino_t mine;
	int err = write_backing(h->name, h->req, h->req_len, &mine);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!waits(h->name)) {
		fuse_reply_write(req, size);
		return;
	}
	/*
	 * Wait for the agent's answer: a file that is no longer ours and holds `ok N` or `error:`.
	 * The agent may also have replaced our request with the old value before it read it (it
	 * rewrites all files when the process's state changes): then the request is written again.
	 */
	long long since = now_ms(), until = since + WAIT_MAX_MS;
	char now[TEXT_MAX];
	for (;;) {
		if (fuse_req_interrupted(req))
			break;
		if (now_ms() > until) {
			fuse_reply_err(req, ETIMEDOUT);
			return;
		}
		ino_t cur;
		ssize_t n = read_backing(h->name, now, sizeof(now), &cur);
		if (n >= 0 && cur != mine && is_answer(now, (size_t)n)) {
			int stale = before_len == n && memcmp(before, now, (size_t)n) == 0 && now[0] == 'o';
			if (!stale)
				break;
			if (now_ms() - since > REWRITE_AFTER_MS) {
				if (write_backing(h->name, h->req, h->req_len, &mine) != 0)
					break;
				since = now_ms();
			}
		}
		pause_step();
	}
	fuse_reply_write(req, size);
}

static void cfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free((void *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void cfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EACCES);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = cfs_lookup,
	.getattr = cfs_getattr,
	.setattr = cfs_setattr,
	.readdir = cfs_readdir,
	.open = cfs_open,
	.read = cfs_read,
	.write = cfs_write,
	.release = cfs_release,
	.create = cfs_create,
};

static void *serve(void *unused)
{
	(void)unused;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	/* several: a write waiting for its answer must not hold up the INTERRUPT that ends its wait */
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_session_loop_mt(session, cfg);
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

int controlfs_mount(const char *backing_dir, const char *mountpoint, uid_t uid, gid_t gid)
{
	backing = backing_dir;
	owner_uid = uid;
	owner_gid = gid;
	if (caller_init() < 0)
		return -1;
	/* allow_other: the owner is not the root that mounts it; default_permissions: the kernel checks the modes we report */
	char *argv[] = { "godwit-keeper", "-o",
			 "fsname=godwit-control,subtype=" CONTROLFS_SUBTYPE ",allow_other,default_permissions", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	session = fuse_session_new(&args, &ops, sizeof(ops), NULL);
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
