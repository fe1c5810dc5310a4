/*
 * godwit-carry: the node-local files a move carries (agent/src/carried-files.ts). The source
 * packs each file's data extents into the images, so a sparse file stays sparse and its holes
 * never travel; the destination writes each one back at its path, as the program's owner and
 * beneath the node's directory for that path, following no symbolic link; the source removes
 * its copies once the move succeeded, as the owner, only where the very file it packed is still
 * there. Root would follow a link another user planted to any file of the system.
 *
 * Usage:
 *   godwit-carry pack DIR N
 *     Files open at fds 3 .. 3+N-1 (the agent opened them through /proc while the program was
 *     stopped); file I's data extents go, one after the other, into DIR/carried-I (made here).
 *     One line per file: "I SIZE MODE UID GID ATIME_NS MTIME_NS DEV INO CTIME_NS EXTENTS" (EXTENTS:
 *     OFF:LEN,... or "-" when it holds no data), or "I STAGE ERRNO".
 *   godwit-carry place "UID GID G1,..." ROOT [DATA REL MODE SIZE ATIME_NS MTIME_NS EXTENTS]...
 *     DATA "-": REL is a directory, made with MODE unless one is there. DATA "fifo": REL is a
 *     FIFO, made with MODE, or left where the owner's FIFO of that mode is there. DATA "@STAGED":
 *     STAGED, a file this command wrote ahead (as the owner's, complete: a pre-copy), is renamed to
 *     REL (never replacing), or copied there, sparse, where they lie on two file systems; the other
 *     fields are not used. Otherwise REL is created (never replaced: O_EXCL) with DATA's extents at
 *     their offsets, SIZE, MODE & 07777 less setuid/setgid, the times, synced. Either way a file
 *     already there that is the same (the owner's, that mode and size, the same bytes) is left as
 *     it is. Missing directories on the way are made (0700). One line per entry: "I made DEV INO
 *     CTIME_NS", "I there DEV INO CTIME_NS" (a directory, or the same file, that was there
 *     already), or "I STAGE ERRNO".
 *   godwit-carry send N / godwit-carry stage "UID GID G1,..." STAGE
 *     A pre-copy's files as one stream, read from the held files and written into a move's
 *     stage (carry-stream.c).
 *   godwit-carry remove "UID GID G1,..." ROOT [REL DEV INO CTIME_NS]...
 *     Removes REL (a directory only when empty) where it is still that very file (its inode
 *     number alone may be reused by a new file: its change time tells them apart). One line per
 *     entry: "I ok", "I gone" (nothing there, or another file: left alone), or "I STAGE ERRNO".
 * ROOT is opened as root (the owner may not search the directories above it); RELs resolve
 * beneath it. Exit status: 0 each entry done, 1 some not, 2 usage or the owner not taken on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "carry.h"
#include "owner.h"

#define MAX_FILES 4096

int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.mode = flags & O_CREAT ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	long fd;
	do
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

long long ns_of(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct timespec ts_of(long long ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
	return t;
}

/* reads and writes: copy_file_range refuses two file systems (EXDEV), as a node's /tmp and the images' tmpfs */
static ssize_t copy_some(int from, loff_t *off, int to, loff_t *at, size_t len)
{
	static char buf[1 << 20];
	ssize_t n = pread(from, buf, len < sizeof(buf) ? len : sizeof(buf), *off);
	if (n <= 0)
		return n;
	for (ssize_t done = 0; done < n;) {
		ssize_t w = pwrite(to, buf + done, (size_t)(n - done), *at + done);
		if (w < 0 && errno != EINTR)
			return -1;
		if (w > 0)
			done += w;
	}
	*off += n;
	*at += n;
	return n;
}

/* copies len bytes from `from` at its offset *off (advanced) to `to` at its offset `at` */
static int copy_range(int from, loff_t *off, int to, loff_t at, size_t len)
{
	int kernel = 1;
	while (len > 0) {
		ssize_t n = kernel ? copy_file_range(from, off, to, &at, len, 0) : copy_some(from, off, to, &at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && kernel && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			kernel = 0;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		len -= (size_t)n;
	}
	return 0;
}

static int pack_one(int i, int fd, int dirfd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return printf("%d stat %d\n", i, errno), 1;
	if (!S_ISREG(st.st_mode))
		return printf("%d type %d\n", i, EINVAL), 1;
	char name[32];
	snprintf(name, sizeof(name), "carried-%d", i);
	int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return printf("%d out %d\n", i, errno), 1;
	char *extents = NULL;
	size_t cap = 0;
	FILE *list = open_memstream(&extents, &cap);
	loff_t off = 0, packed = 0;
	int failed = 0;
	for (;;) {
		loff_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0) {
			if (errno != ENXIO)
				failed = errno;
			break;
		}
		loff_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			failed = errno;
			break;
		}
		loff_t from = data;
		if (copy_range(fd, &from, out, packed, (size_t)(hole - data)) < 0) {
			failed = errno;
			break;
		}
		fprintf(list, "%s%lld:%lld", packed ? "," : "", (long long)data, (long long)(hole - data));
		packed += hole - data;
		off = hole;
	}
	fclose(list);
	/* not synced: the images pass through to the destination, and whoever keeps them (a freeze,
	 * a checkpoint) seals them into a file it syncs: syncing here would only lengthen the stop */
	close(out);
	if (failed)
		printf("%d copy %d\n", i, failed);
	else
		printf("%d %lld %o %u %u %lld %lld %llu %llu %lld %s\n", i, (long long)st.st_size, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		       (unsigned)st.st_gid, ns_of(st.st_atim), ns_of(st.st_mtim), (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		       ns_of(st.st_ctim), *extents ? extents : "-");
	free(extents);
	return failed ? 1 : 0;
}

static int pack(const char *dir, int n)
{
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "godwit-carry: cannot open %s: %s\n", dir, strerror(errno));
		return 2;
	}
	int status = 0;
	for (int i = 0; i < n; i++)
		status |= pack_one(i, 3 + i, dirfd);
	return fflush(stdout) == 0 ? status : 2;
}

/*
 * The directory rel's last component lies in, opened beneath root (made, 0700, where missing and
 * make is set); *last points at that component.
 */
static int parent_of(int root, char *rel, const char **last, int make)
{
	int dir = dup(root);
	char *p = rel;
	for (char *slash; dir >= 0 && (slash = strchr(p, '/')); p = slash + 1) {
		*slash = 0;
		int next = open_beneath(dir, p, O_PATH | O_DIRECTORY, 0);
		if (next < 0 && errno == ENOENT && make && (mkdirat(dir, p, 0700) == 0 || errno == EEXIST))
			next = open_beneath(dir, p, O_PATH | O_DIRECTORY, 0);
		*slash = '/';
		int err = errno;
		close(dir);
		errno = err;
		dir = next;
	}
	*last = p;
	return dir;
}

static const char *place_dir(int root, char *rel, mode_t mode, struct stat *st, int *made)
{
	const char *last;
	int dir = parent_of(root, rel, &last, 1);
	if (dir < 0)
		return "parent";
	*made = mkdirat(dir, last, mode & 0777) == 0;
	int err = errno;
	int fd = *made || err == EEXIST ? open_beneath(dir, last, O_PATH | O_DIRECTORY, 0) : -1;
	close(dir);
	if (fd < 0) {
		if (!*made && err != EEXIST)
			errno = err;
		return "mkdir";
	}
	int bad = fstat(fd, st) < 0;
	close(fd);
	return bad ? "stat" : "";
}

static const char *place_fifo(int root, char *rel, mode_t mode, struct stat *st, int *made)
{
	const char *last;
	int dir = parent_of(root, rel, &last, 1);
	if (dir < 0)
		return "parent";
	/* its mode as the source's, whatever this process's umask */
	mode_t umask_was = umask(0);
	*made = mknodat(dir, last, S_IFIFO | (mode & 0777), 0) == 0;
	int err = errno;
	umask(umask_was);
	int fd = *made || err == EEXIST ? open_beneath(dir, last, O_PATH, 0) : -1;
	close(dir);
	if (fd < 0) {
		errno = *made || err == EEXIST ? errno : err;
		return "mkfifo";
	}
	int bad = fstat(fd, st) < 0;
	close(fd);
	if (bad)
		return "stat";
	/* one already there is the same only if it is the owner's FIFO of that mode: a FIFO holds no data of its own */
	if (!*made && (!S_ISFIFO(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 0777) != (mode & 0777))) {
		errno = EEXIST;
		return "open";
	}
	return "";
}

/* whether fd holds only zero bytes from off for len bytes; its holes are not read */
static int zeros_at(int fd, loff_t off, loff_t len)
{
	static char buf[1 << 20];
	for (loff_t end = off + len; off < end;) {
		loff_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0 || data >= end)
			return data >= 0 || errno == ENXIO;
		loff_t hole = lseek(fd, data, SEEK_HOLE);
		for (off = hole < 0 || hole > end ? end : hole; data < off;) {
			ssize_t n = pread(fd, buf, (size_t)(off - data < (loff_t)sizeof(buf) ? off - data : (loff_t)sizeof(buf)), data);
			if (n <= 0)
				return 0;
			for (ssize_t i = 0; i < n; i++)
				if (buf[i])
					return 0;
			data += n;
		}
	}
	return 1;
}

/* whether fd holds at off the len bytes data holds at *from (advanced) */
static int bytes_at(int fd, loff_t off, int data, loff_t *from, loff_t len)
{
	static char ours[1 << 20], theirs[1 << 20];
	while (len > 0) {
		size_t want = len < (loff_t)sizeof(ours) ? (size_t)len : sizeof(ours);
		ssize_t a = pread(data, ours, want, *from), b = pread(fd, theirs, want, off);
		if (a <= 0 || a != b || memcmp(ours, theirs, (size_t)a))
			return 0;
		*from += a;
		off += a;
		len -= a;
	}
	return 1;
}

/*
 * Whether the file at last in dir is what placing would make: the owner's (this process runs as
 * the owner), a regular file of that mode and size, with data's extents at their offsets and
 * zeros elsewhere. The move then leaves it as it is.
 */
static int same_file(int dir, const char *last, int data, mode_t mode, long long size, const char *extents, struct stat *st)
{
	int fd = open_beneath(dir, last, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	int same = fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_uid == geteuid() && (st->st_mode & 07777) == (mode & 01777) && st->st_size == size;
	loff_t at = 0, from = 0;
	for (const char *e = extents; same && strcmp(extents, "-") && *e;) {
		char *end;
		long long off = strtoll(e, &end, 10), len = *end == ':' ? strtoll(end + 1, &end, 10) : -1;
		same = len >= 0 && off >= at && zeros_at(fd, at, off - at) && bytes_at(fd, off, data, &from, len);
		at = off + len;
		e = *end ? end + 1 : end;
	}
	same = same && zeros_at(fd, at, size - at);
	close(fd);
	return same;
}

const char *close_keeping_errno(int fd, const char *failed)
{
	int err = errno;
	close(fd);
	errno = err;
	return failed;
}

/*
 * the written file's size, mode (less setuid/setgid), data synced (or, unless sync, its writing
 * back begun: whoever wrote it syncs it later, the disk meanwhile busy) and times, then closed
 */
const char *finish_file(int fd, long long size, mode_t mode, const struct timespec times[2], int sync, struct stat *st)
{
	const char *failed = "";
	if (ftruncate(fd, (off_t)size) < 0)
		failed = "copy";
	else if (fchmod(fd, mode & 01777) < 0)
		failed = "chmod";
	else if (sync ? fsync(fd) < 0 : sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
		failed = "sync";
	else if (futimens(fd, times) < 0)
		failed = "times";
	else if (fstat(fd, st) < 0)
		failed = "stat";
	return close_keeping_errno(fd, failed);
}

/* "off:len,..." or "-"; *made is cleared where the same file was there already */
static const char *place_file(int root, char *rel, int data, mode_t mode, long long size, long long atime, long long mtime, const char *extents, struct stat *st,
			      int *made)
{
	const char *last;
	int dir = parent_of(root, rel, &last, 1);
	if (dir < 0)
		return "parent";
	int fd = open_beneath(dir, last, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0600);
	int err = errno;
	*made = fd >= 0;
	if (fd < 0 && err == EEXIST && same_file(dir, last, data, mode, size, extents, st)) {
		close(dir);
		return "";
	}
	close(dir);
	errno = err;
	if (fd < 0)
		return "open";
	const char *failed = "";
	loff_t from = 0;
	for (const char *e = extents; !*failed && strcmp(extents, "-") && *e;) {
		char *end;
		long long off = strtoll(e, &end, 10), len = *end == ':' ? strtoll(end + 1, &end, 10) : -1;
		if (len < 0 || (*end && *end != ',')) {
			errno = EINVAL;
			failed = "extents";
		} else if (copy_range(data, &from, fd, (loff_t)off, (size_t)len) < 0)
			failed = "copy";
		e = *end ? end + 1 : end;
	}
	struct timespec times[2] = { ts_of(atime), ts_of(mtime) };
	return *failed ? close_keeping_errno(fd, failed) : finish_file(fd, size, mode, times, 1, st);
}

/*
 * A file staged ahead (STAGED, opened as root at data, in the directory sdir) becomes REL: renamed
 * where both lie on one file system (no byte copied while the program is stopped), copied
 * otherwise. Only a regular file of the owner's is taken: the stage is theirs alone.
 */
static const char *adopt_file(const struct owner *owner, int root, char *rel, int sdir, const char *sname, int data, struct stat *st, int *made)
{
	struct stat from;
	if (fstat(data, &from) < 0)
		return "staged";
	if (!S_ISREG(from.st_mode) || from.st_uid != owner->uid) {
		errno = EPERM;
		return "staged";
	}
	const char *last;
	int dir = parent_of(root, rel, &last, 1);
	if (dir < 0)
		return "parent";
	if (renameat2(sdir, sname, dir, last, RENAME_NOREPLACE) == 0) {
		int bad = fstatat(dir, last, st, AT_SYMLINK_NOFOLLOW) < 0;
		int err = errno;
		close(dir);
		errno = err;
		return bad ? "stat" : "";
	}
	if (errno == EEXIST) {
		/* the same file there already is left, as place_file leaves it */
		char whole[32];
		snprintf(whole, sizeof(whole), "0:%lld", (long long)from.st_size);
		int same = same_file(dir, last, data, from.st_mode, from.st_size, whole, st);
		close(dir);
		if (!same) {
			errno = EEXIST;
			return "open";
		}
		*made = 0;
		unlinkat(sdir, sname, 0);
		return "";
	}
	if (errno != EXDEV)
		return close_keeping_errno(dir, "rename");
	int fd = open_beneath(dir, last, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0600);
	close(dir);
	if (fd < 0)
		return "open";
	for (loff_t off = 0;;) {
		loff_t start = lseek(data, off, SEEK_DATA);
		if (start < 0 && errno == ENXIO)
			break;
		loff_t end = start < 0 ? -1 : lseek(data, start, SEEK_HOLE);
		loff_t from_off = start;
		if (end < 0 || copy_range(data, &from_off, fd, start, (size_t)(end - start)) < 0)
			return close_keeping_errno(fd, "copy");
		off = end;
	}
	struct timespec times[2] = { from.st_atim, from.st_mtim };
	const char *failed = finish_file(fd, from.st_size, from.st_mode, times, 1, st);
	if (!*failed)
		unlinkat(sdir, sname, 0);
	return failed;
}

static int place(const struct owner *owner, int root, int n, char **args)
{
	static int data[MAX_FILES], data_errno[MAX_FILES], stage_dir[MAX_FILES];
	for (int i = 0; i < n; i++) {
		char *from = args[7 * i];
		int staged = from[0] == '@';
		data[i] = strcmp(from, "-") && strcmp(from, "fifo") ? open(from + staged, O_RDONLY | O_CLOEXEC) : -1;
		data_errno[i] = data[i] < 0 ? errno : 0;
		stage_dir[i] = -1;
		char *slash = staged ? strrchr(from, '/') : NULL;
		if (slash) {
			/* the stage's directory is root's to open: the owner cannot search the agent's data */
			*slash = 0;
			stage_dir[i] = open(from + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
			*slash = '/';
		}
	}
	if (become_owner(owner) < 0) {
		fprintf(stderr, "godwit-carry: cannot become uid %u: %s\n", (unsigned)owner->uid, strerror(errno));
		return 2;
	}
	int status = 0;
	for (int i = 0; i < n; i++) {
		char **a = args + 7 * i;
		mode_t mode = (mode_t)strtoul(a[2], NULL, 8);
		struct stat st;
		int made = 1;
		const char *failed;
		if (!strcmp(a[0], "-"))
			failed = place_dir(root, a[1], mode, &st, &made);
		else if (!strcmp(a[0], "fifo"))
			failed = place_fifo(root, a[1], mode, &st, &made);
		else if (data[i] < 0) {
			errno = data_errno[i];
			failed = "source";
		} else if (a[0][0] == '@')
			failed = stage_dir[i] < 0 ? (errno = ENOENT, "staged") : adopt_file(owner, root, a[1], stage_dir[i], strrchr(a[0], '/') + 1, data[i], &st, &made);
		else
			failed = place_file(root, a[1], data[i], mode, atoll(a[3]), atoll(a[4]), atoll(a[5]), a[6], &st, &made);
		if (*failed) {
			printf("%d %s %d\n", i, failed, errno);
			status = 1;
		} else
			printf("%d %s %llu %llu %lld\n", i, made ? "made" : "there", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
			       ns_of(st.st_ctim));
	}
	return fflush(stdout) == 0 ? status : 2;
}

static int remove_all(const struct owner *owner, int root, int n, char **args)
{
	if (become_owner(owner) < 0) {
		fprintf(stderr, "godwit-carry: cannot become uid %u: %s\n", (unsigned)owner->uid, strerror(errno));
		return 2;
	}
	int status = 0;
	for (int i = 0; i < n; i++) {
		char **a = args + 4 * i;
		const char *last;
		struct stat st;
		int dir = parent_of(root, a[0], &last, 0);
		if (dir < 0 || fstatat(dir, last, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != strtoull(a[1], NULL, 10) || st.st_ino != strtoull(a[2], NULL, 10) ||
		    ns_of(st.st_ctim) != strtoll(a[3], NULL, 10))
			printf("%d gone\n", i);
		else if (unlinkat(dir, last, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
			printf("%d unlink %d\n", i, errno);
			status = 1;
		} else
			printf("%d ok\n", i);
		if (dir >= 0)
			close(dir);
	}
	return fflush(stdout) == 0 ? status : 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "pack")) {
		int n = atoi(argv[3]);
		return n >= 0 && n <= MAX_FILES ? pack(argv[2], n) : 2;
	}
	if (argc == 3 && !strcmp(argv[1], "send")) {
		int n = atoi(argv[2]);
		return n >= 0 && n <= MAX_FILES ? carry_send(n) : 2;
	}
	struct owner owner;
	if (argc == 4 && !strcmp(argv[1], "stage") && parse_owner(argv[2], &owner) == 0) {
		/* a directory to sync, opened as root: the owner may not search the agent's data above it */
		int stage = open_no_symlinks(argv[3], O_RDONLY | O_DIRECTORY, 0);
		if (stage < 0) {
			fprintf(stderr, "godwit-carry: cannot open %s: %s\n", argv[3], strerror(errno));
			return 2;
		}
		return carry_stage(&owner, stage);
	}
	int placing = argc >= 4 && !strcmp(argv[1], "place") && (argc - 4) % 7 == 0;
	int removing = argc >= 4 && !strcmp(argv[1], "remove") && (argc - 4) % 4 == 0;
	if ((!placing && !removing) || (argc - 4) / (placing ? 7 : 4) > MAX_FILES || parse_owner(argv[2], &owner) < 0) {
		fprintf(stderr, "usage: godwit-carry pack DIR N\n"
				"       godwit-carry send N\n"
				"       godwit-carry stage \"UID GID G1,...\" STAGE\n"
				"       godwit-carry place \"UID GID G1,...\" ROOT [DATA REL MODE SIZE ATIME_NS MTIME_NS EXTENTS]...\n"
				"       godwit-carry remove \"UID GID G1,...\" ROOT [REL DEV INO CTIME_NS]...\n");
		return 2;
	}
	int root = open_no_symlinks(argv[3], O_PATH | O_DIRECTORY, 0);
	if (root < 0) {
		fprintf(stderr, "godwit-carry: cannot open %s: %s\n", argv[3], strerror(errno));
		return 2;
	}
	return placing ? place(&owner, root, (argc - 4) / 7, argv + 4) : remove_all(&owner, root, (argc - 4) / 4, argv + 4);
}
