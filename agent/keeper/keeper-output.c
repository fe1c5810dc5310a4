/*
 * The program's output as frames (keeper.c describes them), in segments DIR/out.EPOCH.START laid
 * end to end: START is the offset in the epoch's output of the segment's first byte. A new
 * segment begins, at a frame's start, once the one written holds the spool's size
 * (GODWIT_KEEPER_SPOOL) or more; a segment wholly below what the orchestrator has stored for good
 * (DIR/taken.EPOCH) is removed. So the node holds, besides what is not yet taken, at most one segment and a frame of
 * what is, however much the program prints; the agent (agent/src/output.ts) reads across them.
 *
 * The keeper is the only writer and holds one segment open, close-on-exec: neither the program
 * nor CRIU (both started by the keeper) inherit it, so no dump holds a segment, and one may go
 * while the program is stopped for a dump.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "keeper.h"

static const char *out_dir, *out_epoch;
/* the spool's size; 0: one segment, never removed */
static long long segment_bytes;
/* the segment written */
static int out_fd = -1;
/* bytes of frames in the epoch's output: the offset the next frame starts at */
static long long written;
/* the starts of the segments on disk, oldest first; the last is the one written */
static long long *starts;
static size_t nstarts, capacity;
/* how far the orchestrator has stored the output for good, as last told */
static long long taken;

static void segment_path(char *path, size_t size, long long start)
{
	snprintf(path, size, "%s/out.%s.%lld", out_dir, out_epoch, start);
}

/* Removes the segments wholly taken: those the next of which starts at or below taken. */
static void remove_taken(void)
{
	size_t gone = 0;
	/* the last is written on, whatever was taken */
	while (gone + 1 < nstarts && starts[gone + 1] <= taken) {
		char path[4096];
		segment_path(path, sizeof(path), starts[gone]);
		if (unlink(path) < 0 && errno != ENOENT)
			log_failure("removing %s, stored for good (it stays)", path);
		gone++;
	}
	memmove(starts, starts + gone, (nstarts - gone) * sizeof(*starts));
	nstarts -= gone;
}

/*
 * Begins the segment that starts at `written`. One there already (left by an earlier keeper of
 * the epoch, whose restore failed before the program ran) is written on after its end.
 */
static void begin_segment(void)
{
	char path[4096];
	segment_path(path, sizeof(path), written);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("open %s", path);
	if (nstarts == capacity) {
		capacity = capacity ? 2 * capacity : 8;
		starts = realloc(starts, capacity * sizeof(*starts));
		if (!starts)
			die("keeping the list of output segments");
	}
	starts[nstarts++] = written;
	written += st.st_size;
	if (out_fd >= 0)
		close(out_fd);
	out_fd = fd;
	/* taken may have passed the one before while it was written */
	remove_taken();
}

void open_output(const char *dir, const char *epoch, long long segment)
{
	out_dir = dir;
	out_epoch = epoch;
	segment_bytes = segment;
	begin_segment();
}

void frame(char type, const void *data, uint32_t len)
{
	if (segment_bytes > 0 && written - starts[nstarts - 1] >= segment_bytes)
		begin_segment();
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

void output_taken(long long upto)
{
	taken = upto;
	remove_taken();
}

void sync_output(void)
{
	for (size_t i = 0; i + 1 < nstarts; i++) {
		char path[4096];
		segment_path(path, sizeof(path), starts[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			log_failure("syncing %s", path);
		if (fd >= 0)
			close(fd);
	}
	if (fsync(out_fd) < 0)
		log_failure("syncing the output segment written");
}
