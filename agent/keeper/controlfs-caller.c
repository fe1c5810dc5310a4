/*
 * Who may use the program's control view: the program's own tree, and nothing else. FUSE names
 * each request's caller by its PID in the keeper's PID namespace (the host's). The program's
 * processes are those of its PID namespace (the one its root runs in) or of one nested in it:
 * a process cannot leave its PID namespace, and only a process inside it (or root of the host)
 * can make one nested in it. Root in the keeper's own namespace is the agent or CRIU, which dump
 * and restore the program. While a restore is under way the program's root is not known yet:
 * then the keeper's descendants (CRIU and the tasks it brings back) are the program.
 *
 * Anyone else is refused even where the kernel lets them reach the mount: another program of
 * the same owner, or its owner's shell on the host through /proc/PID/root.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controlfs-caller.h"
#include "controlfs.h"
#include "proc-stat.h"

/* the kernel nests PID namespaces 32 deep; a process's parents are walked no further either */
#define MAX_DEPTH 64

struct ns_id {
	dev_t dev;
	ino_t ino;
};

static pthread_mutex_t program_lock = PTHREAD_MUTEX_INITIALIZER;
static int program_known;
/* the program's PID namespace, held open so that its inode number is never another's */
static int program_ns_fd = -1;
static struct ns_id program_ns;
static struct ns_id keeper_ns;
static pid_t keeper;

static int open_pid_ns(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int ns_id_of(int fd, struct ns_id *id)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

static int same_ns(const struct ns_id *a, const struct ns_id *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

int caller_init(void)
{
	keeper = getpid();
	int fd = open_pid_ns(keeper);
	if (fd < 0)
		return -1;
	int r = ns_id_of(fd, &keeper_ns);
	close(fd);
	return r;
}

void controlfs_set_program(pid_t root)
{
	int fd = open_pid_ns(root);
	struct ns_id id = { 0, 0 };
	/* a root already gone leaves no namespace: from then on only the host's root gets in */
	if (fd >= 0 && ns_id_of(fd, &id) < 0) {
		close(fd);
		fd = -1;
	}
	pthread_mutex_lock(&program_lock);
	if (program_ns_fd >= 0)
		close(program_ns_fd);
	program_ns_fd = fd;
	program_ns = id;
	program_known = 1;
	pthread_mutex_unlock(&program_lock);
}

/* whether pid's PID namespace is the program's or nested in it; or, at depth 0, the keeper's for root */
static int in_program_ns(pid_t pid, uid_t uid, int known, const struct ns_id *program)
{
	int fd = open_pid_ns(pid), allowed = 0;
	for (int depth = 0; fd >= 0 && depth < MAX_DEPTH; depth++) {
		struct ns_id id;
		if (ns_id_of(fd, &id) < 0)
			break;
		if (known && program->ino && same_ns(&id, program)) {
			allowed = 1;
			break;
		}
		if (same_ns(&id, &keeper_ns)) {
			allowed = depth == 0 && uid == 0;
			break;
		}
		/* EPERM past the keeper's own namespace: then it was none of the program's */
		int parent = ioctl(fd, NS_GET_PARENT);
		close(fd);
		fd = parent;
	}
	if (fd >= 0)
		close(fd);
	return allowed;
}

static pid_t parent_of(pid_t pid)
{
	char line[512];
	/* "STATE PPID ..." */
	const char *fields = proc_stat_fields(pid, line, sizeof(line));
	int ppid;
	return fields && sscanf(fields, "%*c %d", &ppid) == 1 ? (pid_t)ppid : 0;
}

static int descends_from_keeper(pid_t pid)
{
	for (int depth = 0; pid > 1 && depth < MAX_DEPTH; depth++) {
		pid = parent_of(pid);
		if (pid == keeper)
			return 1;
	}
	return 0;
}

int caller_allowed(pid_t pid, uid_t uid)
{
	/* 0: a caller outside the keeper's PID namespace */
	if (pid <= 0)
		return 0;
	pthread_mutex_lock(&program_lock);
	int known = program_known;
	struct ns_id program = program_ns;
	pthread_mutex_unlock(&program_lock);
	return in_program_ns(pid, uid, known, &program) || (!known && descends_from_keeper(pid));
}
