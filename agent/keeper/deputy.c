/*
 * godwit-deputy: keeps a moved program's home PID on its home node (MOSIX's deputy).
 *
 * After a move the program's first host PID no longer exists, and `kill HOMEPID` in a shell
 * script fails. This helper takes that very PID back (clone3 with set_tid, which needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) for a stand-in that runs as the program's owner, so
 * that the owner's `kill` reaches it and nobody else's does. The stand-in passes every signal it
 * is sent on to the agent, which forwards it to the program wherever it runs; when the program
 * ends, the agent tells the stand-in to end the same way.
 *
 * Usage: GODWIT_DEPUTY_USER="UID GID G1,G2,..." godwit-deputy DIR PID
 * GODWIT_DEPUTY_CGROUPS (':'-separated directories) are the node's program control groups,
 * joined first, as keepers join them: whatever ends the node's programs ends their stand-ins.
 *
 * Two processes: this one (root, the holder) stays the stand-in's parent, reaps it and records
 * how it ended, so that the agent learns of a SIGKILL (which nothing can catch) even after it
 * restarted; the stand-in has no capabilities, PR_SET_NO_NEW_PRIVS, is not dumpable (its owner
 * cannot ptrace it) and leads its own session.
 *
 * Files in DIR (made by the holder, root's, mode 0600):
 *   signals  FIFO: the stand-in writes "N\n" for each signal N it receives. It holds the FIFO
 *            open for reading and writing, so the agent may come and go, and only it does: the
 *            agent reading it sees its end once the stand-in is gone.
 *   control  FIFO: the agent writes "exit CODE\n" or "kill SIGNAL\n", and the stand-in ends so.
 *   status   JSON lines: started {pid}, refused {errno} (the PID is taken, or cannot be),
 *            ended {code,signal} (how the stand-in ended).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups.h"
#include "fifo.h"
#include "owner.h"

static const char *dir;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "godwit-deputy: ");
	vfprintf(stderr, fmt, ap);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void status_event(const char *fmt, ...)
{
	char path[4096], line[256];
	snprintf(path, sizeof(path), "%s/status", dir);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		die("cannot write %s", path);
	close(fd);
}

static int open_fifo(const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open_held_fifo(path);
	if (fd < 0)
		die("opening %s, which must be a FIFO", path);
	return fd;
}

/*
 * root's stand-in too ends with no capabilities, none to regain: the bounding and ambient sets go
 * while it may still drop them, the rest once it is the owner
 */
static void drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		_exit(70);
}

/* ends the stand-in as the program ended: its code, or its signal's default action */
static void end_as(const char *line)
{
	int n;
	if (sscanf(line, "exit %d", &n) == 1)
		_exit(n & 0xff);
	if (sscanf(line, "kill %d", &n) == 1 && n > 0 && n < NSIG) {
		signal(n, SIG_DFL);
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, n);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(n);
		_exit(128 + n); /* a signal whose default is not to end */
	}
}

static void stand_in(const struct owner *o, int signals, int control, int ready)
{
	/* nothing of the holder's (its log) stays open in the owner's process */
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || chdir("/") < 0 || setsid() < 0)
		_exit(71);
	if (null > 2)
		close(null);
	if (drop_capability_bounds() < 0)
		_exit(70);
	if (become_owner(o) < 0)
		_exit(72);
	drop_capabilities();
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(73);
	sigset_t all;
	sigfillset(&all);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0)
		_exit(74);
	/* only now does the holder say it started: as the owner, every signal caught */
	if (write(ready, "", 1) != 1)
		_exit(74);
	close(ready);
	char buf[256];
	size_t have = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = control, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(75);
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				char line[16];
				int n = snprintf(line, sizeof(line), "%u\n", si.ssi_signo);
				/* a full FIFO (no agent for a long while) drops it, as a pending signal coalesces */
				if (write(signals, line, (size_t)n) < 0 && errno != EAGAIN)
					_exit(76);
			}
		}
		if (p[1].revents & POLLIN) {
			ssize_t got = read(control, buf + have, sizeof(buf) - 1 - have);
			if (got > 0) {
				have += (size_t)got;
				buf[have] = 0;
				char *nl;
				while ((nl = strchr(buf, '\n'))) {
					*nl = 0;
					end_as(buf);
					have -= (size_t)(nl + 1 - buf);
					memmove(buf, nl + 1, have + 1);
				}
				if (have == sizeof(buf) - 1)
					have = 0; /* no line: not the agent's */
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: GODWIT_DEPUTY_USER='UID GID G1,...' godwit-deputy DIR PID");
	dir = argv[1];
	char *end;
	errno = 0;
	long pid = strtol(argv[2], &end, 10);
	if (errno || *end || pid < 2)
		die("'%s' is no PID", argv[2]);
	const char *user = getenv("GODWIT_DEPUTY_USER");
	struct owner o;
	if (!user || parse_owner(user, &o) < 0)
		die("GODWIT_DEPUTY_USER '%s' is not \"UID GID G1,G2,...\"", user ? user : "");

	const char *cgroups = getenv("GODWIT_DEPUTY_CGROUPS");
	char failed[4096];
	if (cgroups && join_cgroups(cgroups, failed, sizeof(failed)) < 0)
		die("joining control group %s", failed);

	int signals = open_fifo("signals");
	int control = open_fifo("control");
	/* blocked from birth: a signal sent the moment the PID exists waits for the signalfd */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);

	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		die("pipe");
	pid_t tid = (pid_t)pid;
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)&tid;
	args.set_tid_size = 1;
	long child = syscall(SYS_clone3, &args, sizeof(args));
	if (child < 0) {
		status_event("{\"ev\":\"refused\",\"errno\":%d}\n", errno);
		return 0;
	}
	if (child == 0) {
		close(ready[0]);
		stand_in(&o, signals, control, ready[1]);
	}
	/* the agent sees the signals FIFO end when the stand-in's copy closes, not this one */
	close(signals);
	close(control);
	close(ready[1]);
	char byte;
	ssize_t got;
	while ((got = read(ready[0], &byte, 1)) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (got == 1)
		status_event("{\"ev\":\"started\",\"pid\":%ld}\n", child);
	int ws;
	while (waitpid((pid_t)child, &ws, 0) < 0)
		if (errno != EINTR)
			die("waitpid %ld", child);
	if (got != 1) {
		errno = 0;
		die("the stand-in for PID %ld ended while it set itself up (exit %d, signal %d)", child,
		    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	}
	status_event("{\"ev\":\"ended\",\"code\":%d,\"signal\":%d}\n", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
		     WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return 0;
}
