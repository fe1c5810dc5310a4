/*
 * The keeper's loop, from the program's start to its end: the program's output into frames
 * (within the spool's bound), input from the FIFO, the agent's taken and closed files as they
 * come, and the reaping of CRIU and of the program's root; then the exit frame and event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock-ms.h"
#include "keeper-stdin.h"
#include "keeper.h"
#include "run-cgroup.h"

#define DRAIN_AFTER_EXIT_MS 3000
/* children reaped before the restored root's PID was known */
#define MAX_EARLY 64

/* what the loop knows of the program's end */
struct ending {
	int have_exit, exit_status;
	long long exited_at;
	pid_t early_pid[MAX_EARLY];
	int early_status[MAX_EARLY], nearly;
};

static void exited(struct ending *e, int status)
{
	e->have_exit = 1;
	e->exit_status = status;
	e->exited_at = now_ms();
}

/* DIR/taken.EPOCH or DIR/closed.EPOCH written anew (the agent woke the keeper): read both again */
static void read_dir_changes(struct relay *r, int *closed)
{
	char drain[256];
	while (read(r->wake, drain, sizeof(drain)) > 0)
		;
	r->taken = read_taken(r->dir, r->epoch);
	output_taken(r->taken);
	*closed = read_closed(r->dir, r->epoch);
}

/* reaps the keeper's children: -1 when CRIU failed (reported), else 0 */
static int reap(struct relay *r, struct ending *e)
{
	struct signalfd_siginfo si;
	while (read(r->sfd, &si, sizeof(si)) == sizeof(si))
		;
	int st;
	pid_t w;
	while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
		if (w == r->criu) {
			r->criu = -1;
			r->root = restore_ended(st, r->restore_report, r->pidfile, &r->pipes);
			if (r->root < 0)
				return -1;
			for (int i = 0; i < e->nearly; i++)
				if (e->early_pid[i] == r->root)
					exited(e, e->early_status[i]);
		} else if (w == r->root) {
			exited(e, st);
		} else if (r->root < 0 && e->nearly < MAX_EARLY) {
			e->early_pid[e->nearly] = w;
			e->early_status[e->nearly++] = st;
		}
	}
	return 0;
}

int relay(struct relay *r)
{
	/*
	 * Keep a read end of the program's stdin: input it had not read when CRIU dumped it would
	 * otherwise vanish with the pipe (a restore gets fresh pipes). Read only after it is gone.
	 */
	int in_r = r->pipes.in[0];
	close(r->pipes.out[1]);
	close(r->pipes.err[1]);
	struct stdin_relay in;
	stdin_relay_init(&in, r->fifo, r->pipes.in[1]);
	/* the program's stdout and stderr: bit 0 and bit 1 of closed, frame types 'o' and 'e' */
	int rfd[2] = { r->pipes.out[0], r->pipes.err[0] }, is_open[2] = { 1, 1 };
	const char types[2] = { 'o', 'e' };
	int closed = read_closed(r->dir, r->epoch);
	struct ending e = { 0 };
	static char buf[65536];

	for (;;) {
		for (int k = 0; k < 2; k++)
			if ((closed & (1 << k)) && is_open[k]) {
				close(rfd[k]);
				is_open[k] = 0;
			}
		if (e.have_exit && ((!is_open[0] && !is_open[1]) || now_ms() - e.exited_at > DRAIN_AFTER_EXIT_MS))
			break;
		/* the spool is full: the program's writes wait, as on a full pipe, until more is taken */
		int room = e.have_exit || r->spool_limit <= 0 || output_written() - r->taken < r->spool_limit;
		struct pollfd p[6];
		int np = 0, i_sfd, i_wake, i_stream[2] = { -1, -1 };
		p[np] = (struct pollfd){ r->sfd, POLLIN, 0 };
		i_sfd = np++;
		p[np] = (struct pollfd){ r->wake, POLLIN, 0 };
		i_wake = np++;
		for (int k = 0; k < 2; k++)
			if (is_open[k] && room) {
				p[np] = (struct pollfd){ rfd[k], POLLIN, 0 };
				i_stream[k] = np++;
			}
		int i_in = stdin_poll(&in, p, &np);
		int n = poll(p, (nfds_t)np, e.have_exit ? 200 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[i_wake].revents & POLLIN)
			read_dir_changes(r, &closed);
		if ((p[i_sfd].revents & POLLIN) && reap(r, &e) < 0) {
			run_cgroup_remove();
			return 1;
		}
		for (int k = 0; k < 2; k++) {
			if (i_stream[k] < 0 || !(p[i_stream[k]].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = read(rfd[k], buf, sizeof(buf));
			if (got > 0)
				frame(types[k], buf, (uint32_t)got);
			else if (got == 0 || (errno != EINTR && errno != EAGAIN))
				is_open[k] = 0;
		}
		if (i_in >= 0)
			stdin_ready(&in, p[i_in].revents);
	}

	size_t npending;
	const char *pending = stdin_pending(&in, &npending);
	save_unread_input(r->dir, r->epoch, in_r, pending, npending);
	char js[128];
	int code = WIFEXITED(e.exit_status) ? WEXITSTATUS(e.exit_status) : -1;
	int sig = WIFSIGNALED(e.exit_status) ? WTERMSIG(e.exit_status) : 0;
	/* the program's whole tree is gone: its group's count is final */
	long long oom = run_cgroup_oom_kills();
	run_cgroup_remove();
	int len = snprintf(js, sizeof(js), "{\"code\":%d,\"signal\":%d,\"oomKills\":%lld}", code, sig, oom);
	frame('x', js, (uint32_t)len);
	sync_output();
	unmount_control();
	event("{\"ev\":\"exited\",\"code\":%d,\"signal\":%d,\"oomKills\":%lld}", code, sig, oom);
	return 0;
}
