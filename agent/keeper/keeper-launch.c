/*
 * A launch: the program as PID 1's child in new PID, mount and IPC namespaces (and its own network
 * namespace, GODWIT_KEEPER_NETNS, when it has an address of its own), PID 1 being tini
 * (GODWIT_KEEPER_INIT), run as the owner, without capabilities, with exactly the environment in
 * DIR/env.EPOCH, after the child has checked, as the owner, that CWD and PROGRAM are theirs to
 * use. tini's child is this keeper's own file again (--exec-stopped): it stops itself and becomes
 * the program once the keeper has seen its PID, so that the PID of a program that ends at once
 * (`true`) is known too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock-ms.h"
#include "controlfs.h"
#include "keeper.h"
#include "proc-stat.h"
#include "run-cgroup.h"

/* what the child tells the keeper first when tini runs the program itself (see launch_child) */
#define DIRECT "direct\n"

struct launch_args {
	int in, out, err;
	const char *cwd;
	char **argv;
	/* the program's environment (DIR/env.EPOCH), tini, and this keeper's executable */
	char **envp;
	const char *init;
	const char *self;
	/* where the child says why it could not start the program: closed by a successful exec */
	int report;
	/* the program's own network namespace (GODWIT_KEEPER_NETNS, mosrun --ip), or -1: the node's */
	int netns;
};

static char child_stack[256 * 1024] __attribute__((aligned(16)));

void reset_signals(void)
{
	int sigs[] = { SIGPIPE, SIGINT, SIGHUP, SIGTERM };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		die("unblocking signals for the child");
}

/* Tells the keeper why the program could not start (stage, errno), and ends the child. */
static int launch_failed(int report, const char *stage, int err)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %d", stage, err);
	if (write(report, msg, (size_t)n) < 0)
		_exit(125);
	_exit(err == ENOENT ? 127 : 126);
}

/*
 * The program as a shell would find it, with the owner's rights (so "not found" and "permission
 * denied" are the owner's answers, not root's): a name with a slash as it is, else the first
 * executable file of that name on the environment's PATH. 0, or the errno that explains it.
 */
static int find_program(const char *name, char **envp, char *out, size_t size)
{
	struct stat st;
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		if (stat(out, &st) < 0)
			return errno;
		if (S_ISDIR(st.st_mode))
			return EISDIR;
		return access(out, X_OK) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EACCES;
	}
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int found = ENOENT;
	for (const char *d = path; *d;) {
		const char *colon = strchr(d, ':');
		size_t len = colon ? (size_t)(colon - d) : strlen(d);
		if (len > 0 && len + strlen(name) + 2 <= size) {
			memcpy(out, d, len);
			out[len] = '/';
			strcpy(out + len + 1, name);
			if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) {
				if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
					return 0;
				found = EACCES;
			}
		}
		d = colon ? colon + 1 : d + len;
	}
	return found;
}

/* PID 1 of the program's new namespaces. */
static int launch_child(void *p)
{
	struct launch_args *a = p;
	/* first, while root: the program and tini live in it, and CRIU dumps it with them */
	if (a->netns >= 0 && setns(a->netns, CLONE_NEWNET) < 0)
		return launch_failed(a->report, "netns", errno);
	/* while the keeper's log is still stderr; a failure only leaves its OOM kills uncounted */
	run_cgroup_join();
	reset_signals();
	set_up_program_mounts();
	if (setsid() < 0)
		die("setsid");
	if (dup2(a->in, 0) < 0 || dup2(a->out, 1) < 0 || dup2(a->err, 2) < 0)
		die("dup2");
	/* nothing of the keeper's may reach the program; the report pipe closes at the exec */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return launch_failed(a->report, "exec", errno);
	if (become_owner(&owner) < 0)
		return launch_failed(a->report, "account", errno);
	if (chdir(a->cwd) < 0)
		return launch_failed(a->report, "cwd", errno);
	static char program[4096];
	int err = find_program(a->argv[0], a->envp, program, sizeof(program));
	if (err)
		return launch_failed(a->report, "program", err);
	/*
	 * Where the owner may not run this keeper's file (an installation only root can enter), tini
	 * runs the program itself: it works as well, but a program that ends at once does so unseen.
	 */
	int stop_first = access(a->self, X_OK) == 0;
	if (!stop_first && write(a->report, DIRECT, strlen(DIRECT)) < 0)
		_exit(125);
	int argc = 0;
	while (a->argv[argc])
		argc++;
	char **argv = calloc((size_t)argc + 6, sizeof(char *));
	if (!argv)
		return launch_failed(a->report, "exec", ENOMEM);
	int k = 0;
	argv[k++] = (char *)a->init;
	argv[k++] = "-s";
	argv[k++] = "--";
	if (stop_first) {
		argv[k++] = (char *)a->self;
		argv[k++] = "--exec-stopped";
	}
	argv[k++] = program;
	for (int i = 1; i < argc; i++)
		argv[k++] = a->argv[i];
	execve(a->init, argv, a->envp);
	return launch_failed(a->report, "exec", errno);
}

int exec_stopped(char **argv)
{
	raise(SIGSTOP);
	execv(argv[0], argv);
	return errno == ENOENT ? 127 : 126;
}

/* the state letter of /proc/PID/stat (R, S, T, Z...), or 0 when there is no such process */
static char state_of(pid_t pid)
{
	char buf[512];
	const char *fields = proc_stat_fields(pid, buf, sizeof(buf));
	return fields ? fields[0] : 0;
}

/*
 * The host PID of tini's child, once it has stopped itself (--exec-stopped): it becomes the
 * program only when the keeper sends SIGCONT. 0 when tini ends first (the helper could not be
 * run) or nothing stops within two seconds; the program then runs on with its PID unknown.
 */
static pid_t stopped_program(pid_t root)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", root, root);
	for (long long until = now_ms() + 2000; now_ms() < until;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		pid_t kid = (pid_t)atoi(buf);
		if (kid > 0 && state_of(kid) == 'T')
			return kid;
		if (state_of(root) == 'Z')
			return 0;
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* what launch_child reported: all it wrote before the exec closed the pipe, NUL-terminated */
static void read_report(int fd, char *why, size_t size)
{
	size_t got = 0;
	for (ssize_t r; got < size - 1;) {
		r = read(fd, why + got, size - 1 - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	why[got] = 0;
}

pid_t launch(const char *dir, const char *epoch, const char *cwd, char **argv, const char *init,
	     const struct program_pipes *pipes)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		die("pipe");
	int nenv;
	static char self[4096];
	ssize_t selflen = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (selflen <= 0 || selflen >= (ssize_t)sizeof(self) - 1)
		die("reading /proc/self/exe");
	const char *netns_path = getenv("GODWIT_KEEPER_NETNS");
	int netns = -1;
	if (netns_path && (netns = open(netns_path, O_RDONLY | O_CLOEXEC)) < 0)
		die("opening the program's network namespace");
	unsetenv("GODWIT_KEEPER_NETNS");
	struct launch_args a = { pipes->in[0], pipes->out[1], pipes->err[1], cwd, argv,
				 read_records(dir, "env", epoch, &nenv), init, self, report[1], netns };
	pid_t root = clone(launch_child, child_stack + sizeof(child_stack), CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD, &a);
	if (root < 0)
		die("clone");
	close(report[1]);
	if (netns >= 0)
		close(netns);
	/* only now: the clone above must copy a keeper without threads */
	if (control_dir) {
		controlfs_set_program(root);
		if (controlfs_serve() < 0)
			die("serving the control directory");
	}
	char why[64];
	read_report(report[0], why, sizeof(why));
	close(report[0]);
	int direct = strncmp(why, DIRECT, strlen(DIRECT)) == 0;
	char stage[16];
	int err;
	if (sscanf(why + (direct ? strlen(DIRECT) : 0), "%15s %d", stage, &err) == 2) {
		waitpid(root, NULL, 0);
		unmount_control();
		event("{\"ev\":\"launch-failed\",\"stage\":\"%s\",\"errno\":%d}", stage, err);
		return 0;
	}
	pid_t program = direct ? 0 : stopped_program(root);
	event("{\"ev\":\"started\",\"pid\":%d,\"program\":%d,\"in\":%lu,\"out\":%lu,\"err\":%lu}", root, program,
	      pipes->ino_in, pipes->ino_out, pipes->ino_err);
	/* ESRCH: it was ended while stopped, and is reaped as any end */
	if (program > 0 && kill(program, SIGCONT) < 0 && errno != ESRCH)
		log_failure("letting the program (PID %d) start", program);
	return root;
}
