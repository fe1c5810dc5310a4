/*
 * godwit-keeper: one per managed program per node it runs on (an "epoch").
 *
 * Node.js cannot make itself a child subreaper, cannot create plain pipes (its child stdio are
 * socketpairs, which CRIU cannot hand over), and dies or restarts independently of the programs
 * it manages. This helper does the few things that need a small, long-lived process:
 *   - owns the program's stdin/stdout/stderr as plain pipes, so CRIU dumps them as external
 *     pipes and a restore can take fresh ones with --inherit-fd;
 *   - writes everything the program prints to DIR/out.EPOCH.START (segments) as frames, so
 *     output survives an agent restart and keeps its stdout/stderr interleaving;
 *   - relays framed input from the FIFO DIR/stdin to the program;
 *   - launches the program as PID 1 of new PID, mount and IPC namespaces (so a restore never
 *     collides with a PID), or runs `criu restore -d` as a child subreaper and adopts the
 *     restored tree;
 *   - reaps it and records its real exit status.
 *
 * Usage:
 *   godwit-keeper DIR EPOCH launch CWD -- PROGRAM ARGS...
 *   godwit-keeper DIR EPOCH restore PIDFILE -- CRIU CRIU-ARGS...
 * The environment variable GODWIT_KEEPER_CGROUPS names control groups to join first;
 * GODWIT_KEEPER_RUN_CGROUP a leaf memory group, made by the keeper and joined by the program
 * alone, whose OOM kills the exit reports (run-cgroup.h).
 * GODWIT_KEEPER_USER ("UID GID G1,G2,...") is the program's owner: a launch runs the program as
 * that account, without capabilities and with PR_SET_NO_NEW_PRIVS, after it has checked, as the
 * owner, that CWD and PROGRAM are theirs to use; GODWIT_KEEPER_INIT (tini) is then exec'd as
 * `INIT -s -- KEEPER --exec-stopped PROGRAM ARGS...`, with exactly the environment in
 * DIR/env.EPOCH (NUL-separated KEY=VALUE): the keeper itself, root, never runs with what a user
 * asked for. Started so, tini's child stops itself and becomes the program once the keeper has
 * seen its PID, so that the PID of a program that ends at once (`true`) is known too.
 * GODWIT_KEEPER_CONTROL names the program's control directory (the one the agent answers): the
 * keeper serves the program's view of it (controlfs.c) at DIR/control.EPOCH, which a launch binds
 * at that same path in the program's mount namespace, and a restore hands to CRIU as the
 * external mount the images name.
 * In restore mode the new pipes' program ends are fds 3 (stdin), 4 (stdout), 5 (stderr) of CRIU,
 * and the files DIR/files.EPOCH names (NUL-separated "FLAGS OFFSET PATH": open(2) flags, where to
 * seek) are opened as the owner GODWIT_KEEPER_USER names, following no symbolic link, and placed
 * at fds 6, 7, ... for CRIU's --inherit-fd.
 *
 * DIR/stdin is a FIFO (made if missing) that the keeper holds open for reading and writing, so
 * the agent may come and go; it carries frames 'd' + u32 length + data, or 'c' + u32 0 (close).
 *
 * Input the program had not read when it ended (for instance dumped by CRIU) is saved to
 * DIR/unread.EPOCH before the exited event.
 *
 * Flow (the agent writes these files whole, by rename, then writes a byte to the FIFO
 * DIR/wake.EPOCH, which the keeper holds open as it does DIR/stdin, and reads both files again
 * when woken; a FIFO, not inotify, whose instances the kernel counts per user, 128 by default,
 * shared by every keeper of a machine, since they all start as root):
 * DIR/taken.EPOCH holds the offset of the epoch's output up to which the orchestrator has stored
 * it for good. GODWIT_KEEPER_SPOOL (bytes) bounds what lies beyond it: at the bound the keeper
 * stops reading the program's output pipes, so the program's writes block as on a full pipe,
 * until more is taken. The output is written in segments DIR/out.EPOCH.START (START: the offset
 * of its first byte), a new one begun once the last holds a spool's worth, and each
 * wholly taken is removed (keeper-output.c). After the program's exit the pipes are drained
 * whatever the bound (a pipe's worth at most).
 * DIR/closed.EPOCH names the output streams ("out", "err") whose reader is gone (mosrun's stdout
 * closed): the keeper closes its read end of that pipe, so the program's next write there gets
 * SIGPIPE (or EPIPE) from the kernel, as in a local pipeline. A restore's keeper finds the file
 * written before it starts, and closes the fresh pipe before the program runs again.
 *
 * Events are JSON lines in DIR/status.EPOCH: started {pid,in,out,err} (and program, the program's
 * host PID, on a launch), launch-failed {stage,errno}
 * (stage: account, cwd, program or exec), restore-failed {code,signal,stage,file,errno} (stage:
 * criu, or account, open or seek of file number FILE of DIR/files.EPOCH), stdin-closed,
 * exited {code,signal,oomKills} (oomKills: -1 when not counted). Output frames: one type byte ('o' stdout, 'e' stderr, 'x' exit JSON),
 * a 32-bit little-endian length, the payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroups.h"
#include "fifo.h"
#include "keeper.h"
#include "run-cgroup.h"

/*
 * Where each part lives: keeper-launch.c (a launch), keeper-restore.c (a restore),
 * keeper-mounts.c (the control view's mount and the program's mount namespace), keeper-relay.c
 * (the loop until the program ends), keeper-stdin.c (input frames), keeper-report.c (events,
 * the log), keeper-output.c (output frames, in segments), keeper-dir.c (the agent's files in DIR).
 */

struct owner owner;
int have_owner;

/*
 * GODWIT_KEEPER_CGROUPS (':'-separated directories) are the node's program control groups:
 * joined before any child exists, so the program, or the tree `criu restore` brings back, is
 * held to the node's capacity. Not passed on to the program.
 */
static void join_node_cgroups(void)
{
	const char *list = getenv("GODWIT_KEEPER_CGROUPS");
	char failed[4096];
	if (list && join_cgroups(list, failed, sizeof(failed)) < 0)
		die("joining control group %s", failed);
	unsetenv("GODWIT_KEEPER_CGROUPS");
}

/* GODWIT_KEEPER_USER: "UID GID G1,G2,..." (the groups may be empty); not passed on */
static void read_owner(void)
{
	const char *s = getenv("GODWIT_KEEPER_USER");
	if (s && *s) {
		if (parse_owner(s, &owner) < 0)
			die("GODWIT_KEEPER_USER '%s' is not \"UID GID G1,G2,...\"", s);
		have_owner = 1;
	}
	unsetenv("GODWIT_KEEPER_USER");
}

static unsigned long ino_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	return (unsigned long)st.st_ino;
}

static void make_pipes(struct program_pipes *p)
{
	if (pipe2(p->in, O_CLOEXEC) < 0 || pipe2(p->out, O_CLOEXEC) < 0 || pipe2(p->err, O_CLOEXEC) < 0)
		die("pipe");
	p->ino_in = ino_of(p->in[0]);
	p->ino_out = ino_of(p->out[0]);
	p->ino_err = ino_of(p->err[0]);
}

/* SIGCHLD as a file to poll: blocked before any child exists, so that no end goes unseen */
static int child_signals(void)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("blocking SIGCHLD");
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	return sfd;
}

static int usage(void)
{
	fprintf(stderr, "usage: godwit-keeper DIR EPOCH launch CWD -- PROGRAM ARGS...\n"
			"       godwit-keeper DIR EPOCH restore PIDFILE -- CRIU CRIU-ARGS...\n");
	return 2;
}

int main(int argc, char **argv)
{
	/* tini's child (see keeper-launch.c): stopped until the keeper has seen its PID */
	if (argc >= 3 && strcmp(argv[1], "--exec-stopped") == 0)
		return exec_stopped(argv + 2);
	if (argc < 7 || strcmp(argv[5], "--") != 0)
		return usage();
	struct relay r = { .dir = argv[1], .epoch = argv[2], .root = -1, .criu = -1, .restore_report = -1 };
	const char *dir = r.dir, *epoch = r.epoch, *mode = argv[3], *arg = argv[4];
	char **rest = argv + 6;
	int restoring;
	if (strcmp(mode, "launch") == 0)
		restoring = 0;
	else if (strcmp(mode, "restore") == 0)
		restoring = 1;
	else
		return usage();

	join_node_cgroups();
	run_cgroup_make();
	read_owner();
	const char *init = getenv("GODWIT_KEEPER_INIT");
	if (!restoring && (!have_owner || !init || *init != '/')) {
		errno = EINVAL;
		die("a launch needs GODWIT_KEEPER_USER and GODWIT_KEEPER_INIT");
	}
	init = init ? strdup(init) : NULL;
	unsetenv("GODWIT_KEEPER_INIT");
	mount_control(dir, epoch);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER");

	open_reports(dir, epoch);
	const char *spool_env = getenv("GODWIT_KEEPER_SPOOL");
	r.spool_limit = spool_env ? atoll(spool_env) : 0;
	/*
	 * a new segment once the last holds a spool's worth: the node then holds at most about two
	 * spools of a program's output (the one not taken, and the rest of the segment it began in),
	 * and removes or begins a file only every spool's worth of output
	 */
	open_output(dir, epoch, r.spool_limit);
	unsetenv("GODWIT_KEEPER_SPOOL");
	char path[4096];
	/* held before anything is read, so that no change between goes unheard */
	snprintf(path, sizeof(path), "%s/wake.%s", dir, epoch);
	r.wake = open_held_fifo(path);
	if (r.wake < 0)
		die("opening %s, which must be a FIFO", path);
	r.taken = read_taken(dir, epoch);
	output_taken(r.taken);
	snprintf(path, sizeof(path), "%s/stdin", dir);
	r.fifo = open_held_fifo(path);
	if (r.fifo < 0)
		die("opening %s, which must be a FIFO", path);
	make_pipes(&r.pipes);
	r.sfd = child_signals();

	if (restoring) {
		r.pidfile = arg;
		r.criu = start_restore(dir, epoch, rest, &r.pipes, &r.restore_report);
	} else {
		r.root = launch(dir, epoch, arg, rest, init, &r.pipes);
		if (!r.root) {
			run_cgroup_remove();
			return 1;
		}
	}
	return relay(&r);
}
