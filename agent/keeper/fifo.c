#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fifo.h"

int open_held_fifo(const char *path)
{
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return -1;
	/* read and write: never blocks, and never sees an end while this process holds it */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? errno : S_ISFIFO(st.st_mode) ? 0 : ENXIO;
	if (err) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}
