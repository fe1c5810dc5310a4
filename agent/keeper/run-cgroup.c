#define _GNU_SOURCE
#include "run-cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keeper.h"

const char *run_cgroup;

void run_cgroup_make(void)
{
	const char *dir = getenv("GODWIT_KEEPER_RUN_CGROUP");
	if (dir && *dir) {
		/* EEXIST: an earlier keeper of this epoch ended before it could remove it */
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_failure("making the run's control group %s (its OOM kills go uncounted)", dir);
		else
			run_cgroup = strdup(dir);
	}
	unsetenv("GODWIT_KEEPER_RUN_CGROUP");
}

int run_cgroup_join(void)
{
	if (!run_cgroup)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s/cgroup.procs", run_cgroup);
	/* "0" is the writer itself, whatever PID namespace it is in */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		log_failure("joining the run's control group %s (its OOM kills go uncounted)", run_cgroup);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

long long run_cgroup_oom_kills(void)
{
	if (!run_cgroup)
		return -1;
	char path[4096], line[256];
	snprintf(path, sizeof(path), "%s/memory.oom_control", run_cgroup);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long long n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "oom_kill %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

void run_cgroup_remove(void)
{
	if (run_cgroup && rmdir(run_cgroup) < 0 && errno != ENOENT)
		log_failure("removing the run's control group %s", run_cgroup);
}
