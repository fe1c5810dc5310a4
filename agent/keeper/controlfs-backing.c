#define _GNU_SOURCE
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "controlfs-backing.h"

#define MAX_NAMES 32

static const char *backing;
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char names[MAX_NAMES][NAME_MAX_LEN];
static int nnames;
static unsigned long tmp_seq;

void backing_init(const char *dir)
{
	backing = dir;
}

/* inode numbers: 1 is the directory, each name seen gets its own from 2 on */
fuse_ino_t control_ino(const char *name)
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

int control_name(fuse_ino_t ino, char *out)
{
	pthread_mutex_lock(&names_lock);
	int ok = ino >= 2 && ino < (fuse_ino_t)nnames + 2;
	if (ok)
		snprintf(out, NAME_MAX_LEN, "%s", names[ino - 2]);
	pthread_mutex_unlock(&names_lock);
	return ok;
}

/* the agent's temporaries start with '.' */
int is_control_file(const char *name, struct stat *st)
{
	char path[4096];
	if (name[0] == '.' || strlen(name) >= NAME_MAX_LEN || strchr(name, '/'))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", backing, name);
	return lstat(path, st) == 0 && S_ISREG(st->st_mode);
}

int backing_stat(struct stat *st)
{
	return lstat(backing, st);
}

DIR *backing_opendir(void)
{
	return opendir(backing);
}

ssize_t read_backing(const char *name, char *buf, size_t size, ino_t *ino)
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

int write_backing(const char *name, const char *text, size_t len, ino_t *ino)
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
	/* the request failed with err, which the program is told: the temporary must not stay */
	if (err && unlink(tmp) < 0)
		fprintf(stderr, "godwit-keeper: removing %s: %s\n", tmp, strerror(errno));
	else if (!err && ino)
		*ino = st.st_ino;
	return err;
}

int is_answer(const char *text, size_t len)
{
	return (len >= 3 && strncmp(text, "ok ", 3) == 0) || (len >= 6 && strncmp(text, "error:", 6) == 0);
}

int waits(const char *name)
{
	return strcmp(name, "checkpoint") == 0;
}
