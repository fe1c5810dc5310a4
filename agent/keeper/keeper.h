/*
 * What the keeper's modules share (keeper.c says what the keeper is and how the agent talks to
 * it): the program's owner, its pipes, and each module's entry points.
 */
#ifndef GODWIT_KEEPER_H
#define GODWIT_KEEPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "owner.h"

/* the program's owner (GODWIT_KEEPER_USER): whose rights the program, and the files opened for it, get */
extern struct owner owner;
extern int have_owner;

/* the program's stdin, stdout and stderr pipes (both ends), and their inode numbers for the started event */
struct program_pipes {
	int in[2], out[2], err[2];
	unsigned long ino_in, ino_out, ino_err;
};

/* keeper-report.c: DIR/status.EPOCH (events), and the keeper's log */
void open_reports(const char *dir, const char *epoch);
/* logs why the keeper cannot go on, ends its control mount and exits 125 */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* logs a failure the keeper goes on after, saying what it ignores */
void log_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void write_all(int fd, const void *buf, size_t len);
void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* keeper-output.c: the output frames, in segments DIR/out.EPOCH.START of about segment bytes (0: one) */
void open_output(const char *dir, const char *epoch, long long segment);
void frame(char type, const void *data, uint32_t len);
/* bytes of frames in the epoch's output, all segments together */
long long output_written(void);
/* the orchestrator has stored the output up to here for good: the segments wholly below go */
void output_taken(long long upto);
void sync_output(void);

/* keeper-dir.c: the small files the agent writes in DIR for the keeper, and the one it writes back */
long long read_taken(const char *dir, const char *epoch);
int read_closed(const char *dir, const char *epoch);
char **read_records(const char *dir, const char *name, const char *epoch, int *count);
void save_unread_input(const char *dir, const char *epoch, int in_r, const char *pending, size_t npending);

/* keeper-mounts.c: the control view's mount, and the program's mount namespace */
/* the program's control directory (GODWIT_KEEPER_CONTROL), or NULL */
extern const char *control_dir;
void mount_control(const char *dir, const char *epoch);
void unmount_control(void);
void set_up_program_mounts(void);

/* keeper-launch.c: a launch, up to the started or launch-failed event */
void reset_signals(void);
/* the program's root (PID 1 of its namespaces), or 0 when it could not start (reported) */
pid_t launch(const char *dir, const char *epoch, const char *cwd, char **argv, const char *init,
	     const struct program_pipes *pipes);
/* the keeper re-run by tini as the program's parent (--exec-stopped): stops, then execs argv */
int exec_stopped(char **argv);

/* keeper-restore.c: `criu restore` run as the keeper's child, and its end */
pid_t start_restore(const char *dir, const char *epoch, char **criu_argv, const struct program_pipes *pipes,
		    int *report);
/* CRIU ended with status: the restored root (started reported), or -1 (restore-failed reported) */
pid_t restore_ended(int status, int report, const char *pidfile, const struct program_pipes *pipes);

/* keeper-relay.c: from the program's start to the exited event */
struct relay {
	const char *dir, *epoch;
	/* restore: where CRIU writes the restored root's PID */
	const char *pidfile;
	struct program_pipes pipes;
	/* SIGCHLD, DIR/wake.EPOCH (taken or closed written anew), DIR/stdin */
	int sfd, wake, fifo;
	/* GODWIT_KEEPER_SPOOL, and how far DIR/taken.EPOCH says the output is stored */
	long long spool_limit, taken;
	/* the program's root once known, CRIU while it restores, where CRIU says why it could not */
	pid_t root, criu;
	int restore_report;
};
/* the keeper's exit status */
int relay(struct relay *r);

#endif
