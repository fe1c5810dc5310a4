/*
 * posixshm: two processes sharing a POSIX shared memory segment, /dev/shm/NAME.
 *
 *   posixshm NAME [TICKS]      default 100 ticks of 100 ms
 *
 * The parent creates the segment (1 MiB), fills it with a pattern, and forks a child that, every
 * 10 ms, checks the pattern and adds one to a counter in the segment. The parent prints
 *   tick=<i> counter=<c> pattern=<ok|bad>
 * every 100 ms, with the counter the child keeps. At the end it stops the child, and prints
 *   result=ticks=<TICKS> pattern=<ok|bad> grew=<yes|no>
 * (grew: the counter rose between every two ticks), removes the segment and exits 0 only if the
 * pattern was right throughout and the counter grew.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE (1 << 20)

struct shared {
	volatile uint64_t counter;
	volatile int bad;
	unsigned char pattern[];
};

static unsigned char byte_at(size_t i) { return (unsigned char)(i * 131 + 7); }

static int pattern_ok(const struct shared *s)
{
	for (size_t i = 0; i < SIZE - sizeof(struct shared); i++)
		if (s->pattern[i] != byte_at(i))
			return 0;
	return 1;
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: posixshm NAME [TICKS]\n");
		return 2;
	}
	char name[256];
	snprintf(name, sizeof(name), "/%s", argv[1]);
	int ticks = argc > 2 ? atoi(argv[2]) : 100;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, SIZE) < 0) {
		perror(name);
		return 1;
	}
	struct shared *s = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < SIZE - sizeof(struct shared); i++)
		s->pattern[i] = byte_at(i);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		for (;;) {
			if (!pattern_ok(s))
				s->bad = 1;
			__atomic_add_fetch(&s->counter, 1, __ATOMIC_SEQ_CST);
			nap(10);
		}
	}
	uint64_t last = 0;
	int grew = 1;
	for (int i = 1; i <= ticks; i++) {
		nap(100);
		uint64_t c = __atomic_load_n(&s->counter, __ATOMIC_SEQ_CST);
		if (c <= last)
			grew = 0;
		last = c;
		printf("tick=%d counter=%llu pattern=%s\n", i, (unsigned long long)c, s->bad ? "bad" : "ok");
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int ok = !s->bad && pattern_ok(s);
	printf("result=ticks=%d pattern=%s grew=%s\n", ticks, ok ? "ok" : "bad", grew ? "yes" : "no");
	shm_unlink(name);
	return ok && grew ? 0 : 1;
}
