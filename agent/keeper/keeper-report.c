/*
 * What the keeper tells the agent: events as JSON lines in DIR/status.EPOCH, and the program's
 * output as frames in DIR/out.EPOCH (keeper.c describes both); and its own log (stderr), for what
 * the agent cannot act on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "keeper.h"

static int status_fd = -1, out_fd = -1;
/* bytes of frames in DIR/out.EPOCH: the keeper is its only writer */
static long long written;

static void log_errno(const char *fmt, va_list ap)
{
	int err = errno;
	fprintf(stderr, "godwit-keeper: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(err));
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_errno(fmt, ap);
	va_end(ap);
	unmount_control();
	exit(125);
}

void log_failure(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_errno(fmt, ap);
	va_end(ap);
}

void open_reports(const char *dir, const char *epoch)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/status.%s", dir, epoch);
	status_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (status_fd < 0)
		die("open %s", path);
	snprintf(path, sizeof(path), "%s/out.%s", dir, epoch);
	out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (out_fd < 0)
		die("open %s", path);
	struct stat out_st;
	if (fstat(out_fd, &out_st) < 0)
		die("fstat %s", path);
	written = out_st.st_size;
}

void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += n;
		len -= (size_t)n;
	}
}

void event(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	write_all(status_fd, line, (size_t)n);
	/* written whole, so the agent reads it: only a crash of the node could still lose it */
	if (fsync(status_fd) < 0)
		log_failure("syncing the status file");
}

void frame(char type, const void *data, uint32_t len)
{
	char hdr[5];
	hdr[0] = type;
	memcpy(hdr + 1, &len, 4); /* x86-64 and arm64 are little-endian */
	struct iovec iov[2] = { { hdr, 5 }, { (void *)data, len } };
	ssize_t want = 5 + (ssize_t)len, n;
	do
		n = writev(out_fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n != want)
		die("writing output frame");
	written += n;
}

long long output_written(void)
{
	return written;
}

void punch_taken(long long taken)
{
	static long long punched;
	long long upto = taken & ~4095LL;
	if (upto <= punched)
		return;
	/* a file system without holes keeps the bytes: only the disk use stays unbounded there */
	if (fallocate(out_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, punched, upto - punched) < 0 &&
	    errno != EOPNOTSUPP)
		log_failure("giving back output stored for good, up to offset %lld", upto);
	punched = upto;
}

void sync_output(void)
{
	if (fsync(out_fd) < 0)
		log_failure("syncing the output file");
}
