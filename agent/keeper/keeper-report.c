/*
 * What the keeper tells the agent: events as JSON lines in DIR/status.EPOCH (keeper.c describes
 * them); and its own log (stderr), for what the agent cannot act on. The program's output has its
 * own module, keeper-output.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keeper.h"

static int status_fd = -1;

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
