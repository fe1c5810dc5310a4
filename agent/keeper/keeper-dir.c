/*
 * The files of DIR the agent (agent/src/keeper.ts) writes for the keeper, whole and by rename:
 * taken.EPOCH, closed.EPOCH, and the root-only records env.EPOCH and files.EPOCH; and the one the
 * keeper leaves for the next run, unread.EPOCH.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keeper.h"

/* The first bytes of the small file DIR/NAME.EPOCH, NUL-terminated: "" without one. */
static void read_small(const char *dir, const char *name, const char *epoch, char *text, size_t size)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, epoch);
	text[0] = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_failure("reading %s (taken as empty)", path);
		return;
	}
	ssize_t r = read(fd, text, size - 1);
	if (r < 0)
		log_failure("reading %s (taken as empty)", path);
	close(fd);
	text[r > 0 ? r : 0] = 0;
}

/* How far DIR/taken.EPOCH says the output is stored: 0 without it. */
long long read_taken(const char *dir, const char *epoch)
{
	char text[32];
	read_small(dir, "taken", epoch, text, sizeof(text));
	return atoll(text);
}

/* Which output streams DIR/closed.EPOCH names: bit 0 stdout ("out"), bit 1 stderr ("err"). */
int read_closed(const char *dir, const char *epoch)
{
	char text[32];
	read_small(dir, "closed", epoch, text, sizeof(text));
	return (strstr(text, "out") ? 1 : 0) | (strstr(text, "err") ? 2 : 0);
}

/*
 * DIR/NAME.EPOCH, written by the agent for root alone: records separated by NUL, so that no byte
 * of a value (a newline in a path) can start another. A missing file holds none. The records,
 * NULL-terminated, and their count.
 */
char **read_records(const char *dir, const char *name, const char *epoch, int *count)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, epoch);
	char *text = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		die("open %s", path);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_size > (1 << 20))
			die("%s: too large", path);
		text = calloc((size_t)st.st_size + 1, 1);
		ssize_t r;
		while (text && got < (size_t)st.st_size && (r = read(fd, text + got, (size_t)st.st_size - got)) > 0)
			got += (size_t)r;
		close(fd);
	}
	int n = 0;
	for (size_t i = 0; i < got; i++)
		n += text[i] == 0;
	char **records = calloc((size_t)n + 2, sizeof(char *));
	if ((fd >= 0 && !text) || !records)
		die("reading %s", path);
	int k = 0;
	for (size_t i = 0; i < got; i += strlen(text + i) + 1)
		if (text[i])
			records[k++] = text + i;
	*count = k;
	return records;
}

/* What the program left unread on its stdin, for the run that follows a dump: DIR/unread.EPOCH */
void save_unread_input(const char *dir, const char *epoch, int in_r, const char *pending, size_t npending)
{
	char path[4096], buf[65536];
	if (fcntl(in_r, F_SETFL, O_NONBLOCK) < 0)
		die("reading what the program left on its stdin");
	ssize_t n = read(in_r, buf, sizeof(buf));
	if (n <= 0 && npending == 0)
		return;
	snprintf(path, sizeof(path), "%s/unread.%s", dir, epoch);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open %s", path);
	while (n > 0) {
		write_all(fd, buf, (size_t)n);
		n = read(in_r, buf, sizeof(buf));
	}
	/* then what the keeper had taken from the FIFO but not yet passed on */
	write_all(fd, pending, npending);
	close(fd);
}
