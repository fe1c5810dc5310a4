/*
 * A restore: `criu restore -d` run as the keeper's child (the keeper, a child subreaper, adopts
 * the restored tree). The new pipes' program ends are CRIU's fds 3 (stdin), 4 (stdout), 5
 * (stderr); the files DIR/files.EPOCH names are opened as the owner and placed at fds 6, 7, ...
 * for CRIU's --inherit-fd. Why CRIU could not be started comes back on a pipe, as stage, file
 * and errno of the restore-failed event. The keeper reports CRIU's PID and start time as it forks it
 * (event criu).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controlfs.h"
#include "keeper.h"
#include "proc-stat.h"
#include "run-cgroup.h"

#define MAX_FILES 64

/* Ends the child that was to exec CRIU, telling the keeper why: stage, which file (or -1), errno */
static void __attribute__((noreturn)) restore_failed(int report, const char *stage, int file, int err)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %d %d", stage, file, err);
	ssize_t told = write(report, msg, (size_t)n);
	(void)told; /* the keeper reports a plain failure then */
	_exit(125);
}

/*
 * Opens the files DIR/files.EPOCH names (records "FLAGS OFFSET PATH": open(2) flags, where to
 * seek) each at fd 100 or above, as their owner and following no symbolic link: CRIU, root,
 * gets them already open, and so never opens or creates anything the owner could not. A file
 * that cannot be opened ends the child, reported as stage "open" with its index and errno.
 */
static int open_inherited_files(const char *dir, const char *epoch, int *fds, int report)
{
	int n;
	char **records = read_records(dir, "files", epoch, &n);
	if (n == 0)
		return 0;
	if (n > MAX_FILES || !have_owner) {
		errno = EINVAL;
		die("%d files to open for the program: at most %d, and only with GODWIT_KEEPER_USER", n, MAX_FILES);
	}
	if (fs_as_owner(&owner) < 0)
		restore_failed(report, "account", -1, errno);
	for (int i = 0; i < n; i++) {
		int flags, off = 0;
		long long offset;
		if (sscanf(records[i], "%d %lld %n", &flags, &offset, &off) != 2 || off == 0) {
			errno = EINVAL;
			die("%s/files.%s: bad entry '%s'", dir, epoch, records[i]);
		}
		int fd = open_no_symlinks(records[i] + off, flags, 0600);
		if (fd < 0)
			restore_failed(report, "open", i, errno);
		if (!(flags & O_APPEND) && offset > 0 && lseek(fd, offset, SEEK_SET) < 0)
			restore_failed(report, "seek", i, errno);
		fds[i] = fcntl(fd, F_DUPFD, 100);
		if (fds[i] < 0)
			die("dup");
		close(fd);
	}
	if (fs_back_to_root() < 0)
		restore_failed(report, "account", -1, errno);
	return n;
}

/* The child that becomes CRIU, its stdio /dev/null, the program's pipes and files in place. */
static void __attribute__((noreturn)) exec_criu(const char *dir, const char *epoch, char **criu_argv,
						 const struct program_pipes *pipes, int report)
{
	/* the restored tree is forked by CRIU, in CRIU's groups (--manage-cgroups=ignore) */
	run_cgroup_join();
	reset_signals();
	int devnull = open("/dev/null", O_RDWR);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		die("redirecting criu's stdio");
	/* fds 3..5 may be taken by our own descriptors: move the pipe ends clear first */
	int a = fcntl(pipes->in[0], F_DUPFD, 100), b = fcntl(pipes->out[1], F_DUPFD, 100),
	    c = fcntl(pipes->err[1], F_DUPFD, 100), why = fcntl(report, F_DUPFD_CLOEXEC, 100);
	if (a < 0 || b < 0 || c < 0 || why < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0 || dup2(c, 5) < 0)
		die("placing pipes for criu");
	int files[MAX_FILES], nfiles = open_inherited_files(dir, epoch, files, why);
	for (int i = 0; i < nfiles; i++)
		if (dup2(files[i], 6 + i) < 0)
			die("placing files for criu");
	/* CRIU would take any other open file for the program's */
	if (syscall(SYS_close_range, 6 + nfiles, ~0U, 0) < 0)
		restore_failed(why, "criu", -1, errno);
	execv(criu_argv[0], criu_argv);
	die("exec %s", criu_argv[0]);
}

pid_t start_restore(const char *dir, const char *epoch, char **criu_argv, const struct program_pipes *pipes,
		    int *report)
{
	if (control_dir && controlfs_serve() < 0)
		die("serving the control directory");
	int why[2];
	if (pipe2(why, O_CLOEXEC) < 0)
		die("pipe");
	pid_t criu = fork();
	if (criu < 0)
		die("fork");
	if (criu == 0)
		exec_criu(dir, epoch, criu_argv, pipes, why[1]);
	close(why[1]);
	/* the agent may have to end this CRIU (its lazy-pages daemon failed): by PID and start time, which no later process at that PID shares */
	event("{\"ev\":\"criu\",\"pid\":%d,\"start\":%llu}", criu, proc_start_time(criu));
	*report = why[0];
	/* read once CRIU has ended, when all it will say is there */
	if (fcntl(why[0], F_SETFL, O_NONBLOCK) < 0)
		die("pipe");
	return criu;
}

pid_t restore_ended(int status, int report, const char *pidfile, const struct program_pipes *pipes)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[64] = { 0 }, stage[16] = "criu";
		int file = -1, err = 0;
		if (read(report, why, sizeof(why) - 1) > 0 && sscanf(why, "%15s %d %d", stage, &file, &err) != 3) {
			strcpy(stage, "criu");
			file = -1;
			err = 0;
		}
		event("{\"ev\":\"restore-failed\",\"code\":%d,\"signal\":%d,\"stage\":\"%s\",\"file\":%d,\"errno\":%d}",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0, stage,
		      file, err);
		unmount_control();
		return -1;
	}
	pid_t root;
	FILE *f = fopen(pidfile, "r");
	if (!f || fscanf(f, "%d", &root) != 1)
		die("reading pidfile %s", pidfile);
	fclose(f);
	if (control_dir)
		controlfs_set_program(root);
	event("{\"ev\":\"started\",\"pid\":%d,\"in\":%lu,\"out\":%lu,\"err\":%lu}", root, pipes->ino_in, pipes->ino_out,
	      pipes->ino_err);
	return root;
}
