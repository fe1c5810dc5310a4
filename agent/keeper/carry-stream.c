/*
 * A pre-copy's files as one stream (agent/src/carry-ahead.ts): the source reads each held file's
 * data extents straight from its descriptor into the stream, the destination writes them
 * straight into the move's stage, as the owner. No copy of them lands on either disk but the
 * staged file itself; the source's bytes go from the page cache to its stdout by the kernel
 * (splice to a pipe, sendfile to a socket), not through this process.
 *
 *   godwit-carry send N
 *     Files open at fds 4 .. 4+N-1; the stream on stdout. On fd 3, one line per file:
 *     "I BEFORE AFTER", each DEV:INO:SIZE:MTIME_NS:CTIME_NS as the file's descriptor showed it
 *     before its extents were listed and after its bytes were sent: where the two are alike, what
 *     was sent is that version of the file (a write in between changes its change time, but for
 *     one within the same clock tick as BEFORE: the caller takes a file changed just before as
 *     changed). Or "I STAGE ERRNO", the stream then cut short.
 *   godwit-carry stage "UID GID G1,..." STAGE
 *     The stream on stdin: each file made (never replacing) beneath STAGE as the owner, with its
 *     extents, size, mode less setuid/setgid, and times; all synced once the stream ended. One
 *     line per file: "I made", or "I STAGE ERRNO" (and nothing more is read).
 *
 * The stream, per file: the header's length (HEAD_DIGITS decimal digits and '\n'), the header
 * "NAME MODE SIZE ATIME_NS MTIME_NS EXTENTS\n" (MODE octal; EXTENTS OFF:LEN,... or "-"), then
 * the extents' bytes one after the other. It ends after the last file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "carry.h"

#define HEAD_DIGITS 16
#define MAX_STAGED 4096
/* a pipe this large takes a MiB per wake-up of whoever reads it (pipe-max-size permitting) */
#define PIPE_BYTES (1 << 20)

static char buf[1 << 20];

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* reads exactly len bytes from fd: 0; -1 with errno (ENODATA: it ended first, *got saying after how many) */
static int read_all(int fd, char *p, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, p + *got, len - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENODATA;
			return -1;
		}
		*got += (size_t)n;
	}
	return 0;
}

/*
 * Moves len bytes from `from` to `to`, each at *off where an offset is given (advanced), at its
 * own position otherwise: spliced where one of them is a pipe, sent by the kernel from a file
 * (sendfile) to a socket, read and written otherwise. -1 with errno (ENODATA: `from` ended first).
 */
static int move_bytes(int from, loff_t *from_off, int to, loff_t *to_off, size_t len)
{
	enum { SPLICE, SENDFILE, COPY } how = SPLICE;
	while (len > 0) {
		ssize_t n;
		if (how == SPLICE)
			n = splice(from, from_off, to, to_off, len, SPLICE_F_MORE);
		else if (how == SENDFILE)
			n = sendfile(to, from, from_off, len);
		else {
			size_t want = len < sizeof(buf) ? len : sizeof(buf);
			n = from_off ? pread(from, buf, want, *from_off) : read(from, buf, want);
			if (n > 0 && (to_off ? pwrite(to, buf, (size_t)n, *to_off) != n : write_all(to, buf, (size_t)n) < 0))
				return -1;
			if (n > 0 && from_off)
				*from_off += n;
			if (n > 0 && to_off)
				*to_off += n;
		}
		if (n < 0 && errno == EINVAL && how != COPY) {
			how = how == SPLICE && from_off && !to_off ? SENDFILE : COPY;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENODATA;
			return -1;
		}
		len -= (size_t)n;
	}
	return 0;
}

static void identity(const struct stat *st, char *out, size_t size)
{
	snprintf(out, size, "%llu:%llu:%lld:%lld:%lld", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, (long long)st->st_size, ns_of(st->st_mtim),
		 ns_of(st->st_ctim));
}

/* the data extents of fd as "OFF:LEN,..." ("-": none), and their bytes in all; NULL with errno */
static char *extents_of(int fd, long long *bytes)
{
	char *list = NULL;
	size_t cap = 0;
	FILE *out = open_memstream(&list, &cap);
	if (!out)
		return NULL;
	int failed = 0;
	*bytes = 0;
	for (loff_t off = 0;;) {
		loff_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0) {
			failed = errno == ENXIO ? 0 : errno;
			break;
		}
		loff_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			failed = errno;
			break;
		}
		fprintf(out, "%s%lld:%lld", *bytes ? "," : "", (long long)data, (long long)(hole - data));
		*bytes += hole - data;
		off = hole;
	}
	fclose(out);
	if (failed) {
		free(list);
		errno = failed;
		return NULL;
	}
	if (!*list) {
		free(list);
		list = strdup("-");
	}
	return list;
}

/* sends extent OFF:LEN of fd; a file cut shorter meanwhile is sent as zeros past its end (its AFTER then differs) */
static int send_extent(int fd, loff_t off, long long len)
{
	loff_t at = off;
	if (move_bytes(fd, &at, STDOUT_FILENO, NULL, (size_t)len) == 0)
		return 0;
	if (errno != ENODATA)
		return -1;
	memset(buf, 0, sizeof(buf));
	for (long long left = off + len - at; left > 0;) {
		size_t n = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
		if (write_all(STDOUT_FILENO, buf, n) < 0)
			return -1;
		left -= (long long)n;
	}
	return 0;
}

/* file i at fd onto the stream: its header, then its extents' bytes */
static const char *send_one(FILE *report, int i, int fd)
{
	struct stat before, after;
	if (fstat(fd, &before) < 0)
		return "stat";
	long long bytes;
	char *extents = extents_of(fd, &bytes);
	if (!extents)
		return "extents";
	char *head = NULL;
	int len = asprintf(&head, "carried-%d %o %lld %lld %lld %s\n", i, (unsigned)(before.st_mode & 07777), (long long)before.st_size, ns_of(before.st_atim),
			   ns_of(before.st_mtim), extents);
	char digits[HEAD_DIGITS + 2];
	snprintf(digits, sizeof(digits), "%0*d\n", HEAD_DIGITS, len);
	const char *failed = len < 0 ? "header" : write_all(STDOUT_FILENO, digits, HEAD_DIGITS + 1) < 0 || write_all(STDOUT_FILENO, head, (size_t)len) < 0 ? "write" : "";
	for (const char *e = extents; !*failed && strcmp(extents, "-") && *e;) {
		char *end;
		long long off = strtoll(e, &end, 10), n = strtoll(end + 1, &end, 10);
		if (send_extent(fd, (loff_t)off, n) < 0)
			failed = "write";
		e = *end ? end + 1 : end;
	}
	free(head);
	free(extents);
	if (*failed)
		return failed;
	if (fstat(fd, &after) < 0)
		return "stat";
	char was[128], is[128];
	identity(&before, was, sizeof(was));
	identity(&after, is, sizeof(is));
	fprintf(report, "%d %s %s\n", i, was, is);
	return "";
}

int carry_send(int n)
{
	FILE *report = fdopen(3, "w");
	if (!report) {
		fprintf(stderr, "godwit-carry: no report at fd 3: %s\n", strerror(errno));
		return 2;
	}
	fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_BYTES);
	for (int i = 0; i < n; i++) {
		const char *failed = send_one(report, i, 4 + i);
		if (*failed) {
			fprintf(report, "%d %s %d\n", i, failed, errno);
			fclose(report);
			return 1;
		}
	}
	return fclose(report) == 0 ? 0 : 2;
}

/* the next file's header off the stream (malloc'd, NUL-terminated); NULL at the stream's end (errno 0) or with errno */
static char *read_header(void)
{
	char digits[HEAD_DIGITS + 2] = { 0 };
	size_t got;
	if (read_all(STDIN_FILENO, digits, HEAD_DIGITS + 1, &got) < 0) {
		if (errno == ENODATA && got == 0)
			errno = 0;
		return NULL;
	}
	char *end;
	long len = strtol(digits, &end, 10);
	if (end != digits + HEAD_DIGITS || *end != '\n' || len <= 0 || len > (64L << 20)) {
		errno = EPROTO;
		return NULL;
	}
	char *head = malloc((size_t)len + 1);
	if (!head)
		return NULL;
	if (read_all(STDIN_FILENO, head, (size_t)len, &got) < 0) {
		free(head);
		return NULL;
	}
	head[len] = 0;
	return head;
}

/* one file off the stream into the stage, its header head: "" or the stage that failed */
static const char *stage_one(int stage, char *head, char **name)
{
	unsigned mode;
	long long size, atime, mtime;
	int at = 0;
	*name = head;
	char *space = strchr(head, ' ');
	if (!space || sscanf(space + 1, "%o %lld %lld %lld %n", &mode, &size, &atime, &mtime, &at) != 4 || strchr(space + 1 + at, ' ')) {
		errno = EPROTO;
		return "header";
	}
	*space = 0;
	char *extents = space + 1 + at;
	extents[strcspn(extents, "\n")] = 0;
	/* a name of its own, in the stage itself */
	if (!**name || strchr(*name, '/') || !strcmp(*name, ".") || !strcmp(*name, "..")) {
		errno = EPROTO;
		return "header";
	}
	int fd = open_beneath(stage, *name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return "open";
	for (const char *e = extents; strcmp(extents, "-") && *e;) {
		char *end;
		long long off = strtoll(e, &end, 10), len = *end == ':' ? strtoll(end + 1, &end, 10) : -1;
		if (len < 0 || off < 0 || (*end && *end != ',')) {
			errno = EPROTO;
			return close_keeping_errno(fd, "header");
		}
		loff_t to = (loff_t)off;
		if (move_bytes(STDIN_FILENO, NULL, fd, &to, (size_t)len) < 0)
			return close_keeping_errno(fd, "copy");
		e = *end ? end + 1 : end;
	}
	struct timespec times[2] = { ts_of(atime), ts_of(mtime) };
	struct stat st;
	return finish_file(fd, size, mode, times, 0, &st);
}

int carry_stage(const struct owner *owner, int stage)
{
	if (become_owner(owner) < 0) {
		fprintf(stderr, "godwit-carry: cannot become uid %u: %s\n", (unsigned)owner->uid, strerror(errno));
		return 2;
	}
	fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_BYTES);
	static char *names[MAX_STAGED];
	int n = 0;
	for (char *head; (head = read_header()); n++) {
		char *name;
		const char *failed = n < MAX_STAGED ? stage_one(stage, head, &name) : (errno = E2BIG, "header");
		if (*failed) {
			printf("%d %s %d\n", n, failed, errno);
			return 1;
		}
		names[n] = head;
		printf("%d made\n", n);
	}
	if (errno) {
		printf("%d header %d\n", n, errno);
		return 1;
	}
	/* their writing back began as each was written: the disk wrote them while the rest came */
	for (int i = 0; i < n; i++) {
		int fd = open_beneath(stage, names[i], O_RDONLY, 0);
		if (fd < 0 || fsync(fd) < 0) {
			printf("%d sync %d\n", i, errno);
			return 1;
		}
		close(fd);
	}
	if (fsync(stage) < 0) {
		printf("%d sync %d\n", n, errno);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}
