/*
 * The requests of the control view (controlfs.c): every file passes through to the backing
 * directory (controlfs-backing.c), but a write to `checkpoint` waits for the agent's answer and a
 * read of it waits while a request is pending; each from the program's own tree alone.
 */
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock-ms.h"
#include "controlfs-backing.h"
#include "controlfs-caller.h"
#include "controlfs-ops.h"

#define WAIT_STEP_NS (20 * 1000 * 1000L)
/* how long a request may sit unanswered and replaced by an older answer before it is written again */
#define REWRITE_AFTER_MS 1000
/* no agent answered for this long (it is gone, say): the wait ends, with ETIMEDOUT for a write */
#define WAIT_MAX_MS (10 * 60 * 1000)

static uid_t owner_uid;
static gid_t owner_gid;

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

void controlfs_ops_init(uid_t uid, gid_t gid)
{
	owner_uid = uid;
	owner_gid = gid;
}

static void pause_step(void)
{
	struct timespec ts = { 0, WAIT_STEP_NS };
	nanosleep(&ts, NULL);
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

/* the control file of inode ino, its name and lstat; else answers ENOENT and returns 0 */
static int found(fuse_req_t req, fuse_ino_t ino, char *name, struct stat *bst)
{
	if (control_name(ino, name) && is_control_file(name, bst))
		return 1;
	fuse_reply_err(req, ENOENT);
	return 0;
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
	e.ino = control_ino(name);
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
		fill_attr(ino, backing_stat(&bst) == 0 ? &bst : NULL, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if (!found(req, ino, name, &bst))
		return;
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
	DIR *d = backing_opendir();
	struct dirent *de;
	struct stat bst;
	while (d && (de = readdir(d))) {
		if (!is_control_file(de->d_name, &bst))
			continue;
		if (at++ < off)
			continue;
		st.st_ino = control_ino(de->d_name);
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
	if (!found(req, ino, name, &bst))
		return;
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

const struct fuse_lowlevel_ops controlfs_ops = {
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
