/*
 * sysvshm: a producer and a consumer process sharing a SysV shared memory segment, handing items
 * over with a pair of SysV semaphores (empty/full).
 *
 *   sysvshm [ITEMS]            default 1000 items, about 10 s
 *   sysvshm --expect [ITEMS]   print the result line a correct run prints
 *
 * The parent creates the segment and the semaphore set (IPC_PRIVATE), forks the consumer, then for
 * i = 1..ITEMS: waits for "empty", stores i*i in the slot, adds i to counter[i % 64], signals
 * "full" and sleeps 10 ms. The consumer waits for "full", checks the slot and the counter against
 * its own private copy, sums the slots and signals "empty". At the end the consumer prints
 *   result=items=<ITEMS> sum=<sum of i*i>
 * and exits 0 only if every item and counter was right; the parent checks the counters once more,
 * removes the IPC objects and exits with the consumer's status.
 *
 * CRIU can only checkpoint SysV IPC objects that live in the dumped tree's own IPC namespace: run it
 * under a launcher that gives it one (godwit's keeper does, `unshare --ipc` does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ITEMS 1000
#define NCOUNTERS 64
#define SEM_EMPTY 0
#define SEM_FULL 1

struct shared {
	volatile uint64_t slot;
	volatile uint64_t produced;
	volatile uint64_t counter[NCOUNTERS];
};

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int semid;

static void sem_add(int which, int delta)
{
	struct sembuf op = { (unsigned short)which, (short)delta, 0 };
	while (semop(semid, &op, 1) < 0) {
		if (errno != EINTR) {
			perror("semop");
			exit(1);
		}
	}
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t expected_sum(uint64_t n)
{
	uint64_t s = 0;
	for (uint64_t i = 1; i <= n; i++)
		s += i * i;
	return s;
}

static int consume(struct shared *sh, uint64_t n)
{
	uint64_t mine[NCOUNTERS] = { 0 }, sum = 0;
	int bad = 0;
	for (uint64_t i = 1; i <= n; i++) {
		sem_add(SEM_FULL, -1);
		mine[i % NCOUNTERS] += i;
		if (sh->slot != i * i || sh->produced != i || sh->counter[i % NCOUNTERS] != mine[i % NCOUNTERS]) {
			printf("consumer: BAD item %llu: slot=%llu produced=%llu counter=%llu (want %llu)\n",
			       (unsigned long long)i, (unsigned long long)sh->slot,
			       (unsigned long long)sh->produced,
			       (unsigned long long)sh->counter[i % NCOUNTERS],
			       (unsigned long long)mine[i % NCOUNTERS]);
			bad = 1;
		}
		sum += sh->slot;
		if (i % 100 == 0)
			printf("consumed %llu\n", (unsigned long long)i);
		sem_add(SEM_EMPTY, 1);
	}
	if (bad || sum != expected_sum(n)) {
		printf("consumer: FAILED (sum %llu, expected %llu)\n", (unsigned long long)sum,
		       (unsigned long long)expected_sum(n));
		return 1;
	}
	printf("result=items=%llu sum=%llu\n", (unsigned long long)n, (unsigned long long)sum);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int expect = argc > 1 && strcmp(argv[1], "--expect") == 0;
	int a = expect ? 2 : 1;
	uint64_t n = DEFAULT_ITEMS;
	if (argc > a) {
		char *end;
		unsigned long v = strtoul(argv[a], &end, 10);
		if (*end || !*argv[a] || v == 0 || v > 1000000) {
			fprintf(stderr, "sysvshm: bad item count '%s'\n", argv[a]);
			return 2;
		}
		n = v;
	}
	if (expect) {
		printf("result=items=%llu sum=%llu\n", (unsigned long long)n,
		       (unsigned long long)expected_sum(n));
		return 0;
	}
	printf("sysvshm: %llu items\n", (unsigned long long)n);
	int shmid = shmget(IPC_PRIVATE, sizeof(struct shared), IPC_CREAT | 0600);
	if (shmid < 0) {
		perror("shmget");
		return 1;
	}
	struct shared *sh = shmat(shmid, NULL, 0);
	if (sh == (void *)-1) {
		perror("shmat");
		return 1;
	}
	memset((void *)sh, 0, sizeof(*sh));
	semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	if (semid < 0) {
		perror("semget");
		return 1;
	}
	unsigned short init[2] = { 1, 0 };
	union semun arg = { .array = init };
	if (semctl(semid, 0, SETALL, arg) < 0) {
		perror("semctl SETALL");
		return 1;
	}
	printf("sysvshm: shmid=%d semid=%d\n", shmid, semid);
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0)
		return consume(sh, n);

	uint64_t mine[NCOUNTERS] = { 0 };
	for (uint64_t i = 1; i <= n; i++) {
		sem_add(SEM_EMPTY, -1);
		sh->slot = i * i;
		sh->counter[i % NCOUNTERS] += i;
		mine[i % NCOUNTERS] += i;
		sh->produced = i;
		sem_add(SEM_FULL, 1);
		if (i % 100 == 0)
			printf("produced %llu\n", (unsigned long long)i);
		msleep(10);
	}
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	for (int k = 0; k < NCOUNTERS; k++)
		if (sh->counter[k] != mine[k]) {
			printf("producer: counter %d is %llu, expected %llu\n", k,
			       (unsigned long long)sh->counter[k], (unsigned long long)mine[k]);
			code = code ? code : 1;
		}
	shmdt((void *)sh);
	shmctl(shmid, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	return code;
}
