/*
 * A forked tree whose processes share memory copy-on-write, as a pre-fork server's workers do.
 * Usage: cowtree NPROC SIZE_MIB
 * The first process fills SIZE_MIB, then forks NPROC-1 children that never write to it: every
 * page stays shared between all NPROC. Prints "ready <checksum>" once all run; for each line read
 * on stdin, every process prints "sum <index> <checksum>" of its memory as it is now (0: the
 * first); at end of input the children end and it prints "result=procs=N intact" or "CORRUPT".
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filled.h"

static volatile sig_atomic_t asked;

static void on_usr1(int sig)
{
	(void)sig;
	asked = 1;
}

static void say_sum(int index, const uint64_t *p, size_t n)
{
	printf("sum %d %016llx\n", index, (unsigned long long)checksum(p, n, 1));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cowtree NPROC SIZE_MIB\n");
		return 2;
	}
	int nproc = atoi(argv[1]);
	if (nproc < 1 || nproc > 64) {
		fprintf(stderr, "cowtree: NPROC must be 1..64\n");
		return 2;
	}
	size_t n;
	uint64_t *p = filled(strtoul(argv[2], NULL, 10), &n);
	if (!p) {
		perror("malloc");
		return 2;
	}
	uint64_t before = checksum(p, n, 1);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* blocked until each child waits for it, so that none is lost before */
	sigprocmask(SIG_BLOCK, &usr1, &old);
	int ready[2];
	if (pipe(ready)) {
		perror("pipe");
		return 2;
	}
	pid_t kids[64];
	for (int i = 1; i < nproc; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("fork");
			return 2;
		}
		if (kids[i] == 0) {
			close(ready[0]);
			close(ready[1]);
			for (;;) {
				while (!asked)
					sigsuspend(&old);
				asked = 0;
				say_sum(i, p, n);
			}
		}
	}
	close(ready[1]);
	printf("ready %016llx\n", (unsigned long long)before);
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		say_sum(0, p, n);
		for (int i = 1; i < nproc; i++)
			kill(kids[i], SIGUSR1);
	}
	int intact = checksum(p, n, 1) == before;
	for (int i = 1; i < nproc; i++) {
		kill(kids[i], SIGTERM);
		waitpid(kids[i], NULL, 0);
	}
	printf("result=procs=%d %s\n", nproc, intact ? "intact" : "CORRUPT");
	return intact ? 0 : 1;
}
