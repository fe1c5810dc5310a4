#define _GNU_SOURCE
#include "cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int join_cgroups(const char *list, char *failed, size_t size)
{
	char *dirs = strdup(list), *save = NULL;
	if (!dirs)
		return -1;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char path[4096], pid[32];
		snprintf(path, sizeof(path), "%s/cgroup.procs", d);
		int n = snprintf(pid, sizeof(pid), "%d\n", getpid());
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, pid, (size_t)n) != n) {
			int err = errno;
			if (fd >= 0)
				close(fd);
			snprintf(failed, size, "%s", d);
			free(dirs);
			errno = err;
			return -1;
		}
		close(fd);
	}
	free(dirs);
	return 0;
}
