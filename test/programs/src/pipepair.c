/*
 * pipepair: a producer and a consumer process joined by a pipe.
 *
 *   pipepair [RECORDS]            default 1000 records, about 10 s
 *   pipepair --expect [RECORDS]   print the result line a correct run prints
 *
 * The parent forks the consumer, then writes RECORDS fixed-size records (sequence number, value,
 * check word), one every 10 ms. The consumer reads in bursts every 250 ms, so the pipe usually holds
 * unread records when the pair is checkpointed. It checks that sequence numbers arrive exactly once
 * and in order and that every check word matches, sums the values and prints
 *   result=records=<RECORDS> sum=<sum of values>
 * and exits 0 only if nothing was lost, repeated or corrupted. The parent exits with the consumer's
 * status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RECORDS 1000

struct record {
	uint32_t seq;
	uint32_t val;
	uint64_t check;
};

static uint32_t val_of(uint32_t seq) { return seq * 2654435761u; }
static uint64_t check_of(uint32_t seq, uint32_t val)
{
	return ((uint64_t)seq << 32 | val) * 0x9E3779B97F4A7C15ULL;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t expected_sum(uint32_t n)
{
	uint64_t s = 0;
	for (uint32_t i = 1; i <= n; i++)
		s += val_of(i);
	return s;
}

static int consume(int fd, uint32_t n)
{
	static unsigned char buf[64 * sizeof(struct record)];
	size_t have = 0;
	uint32_t next = 1;
	uint64_t sum = 0;
	int bad = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("pipepair consumer: read");
			return 1;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		size_t off = 0;
		for (; have - off >= sizeof(struct record); off += sizeof(struct record)) {
			struct record rec;
			memcpy(&rec, buf + off, sizeof(rec));
			if (rec.seq != next || rec.val != val_of(rec.seq) ||
			    rec.check != check_of(rec.seq, rec.val)) {
				printf("consumer: BAD record seq=%u (expected %u)\n", rec.seq, next);
				bad = 1;
				next = rec.seq;
			}
			sum += rec.val;
			if (next % 100 == 0)
				printf("consumed %u\n", next);
			next++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		msleep(250);
	}
	uint32_t got = next - 1;
	if (have != 0) {
		printf("consumer: %zu stray bytes at the end\n", have);
		bad = 1;
	}
	if (got != n || sum != expected_sum(n)) {
		printf("consumer: got %u records, sum %llu; expected %u, %llu\n", got,
		       (unsigned long long)sum, n, (unsigned long long)expected_sum(n));
		bad = 1;
	}
	if (bad)
		return 1;
	printf("result=records=%u sum=%llu\n", got, (unsigned long long)sum);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int expect = argc > 1 && strcmp(argv[1], "--expect") == 0;
	int a = expect ? 2 : 1;
	uint32_t n = DEFAULT_RECORDS;
	if (argc > a) {
		char *end;
		unsigned long v = strtoul(argv[a], &end, 10);
		if (*end || !*argv[a] || v == 0 || v > 100000000) {
			fprintf(stderr, "pipepair: bad record count '%s'\n", argv[a]);
			return 2;
		}
		n = (uint32_t)v;
	}
	if (expect) {
		printf("result=records=%u sum=%llu\n", n, (unsigned long long)expected_sum(n));
		return 0;
	}
	printf("pipepair: %u records\n", n);
	int p[2];
	if (pipe(p) < 0) {
		perror("pipe");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		close(p[1]);
		return consume(p[0], n);
	}
	close(p[0]);
	for (uint32_t i = 1; i <= n; i++) {
		struct record rec = { i, val_of(i), 0 };
		rec.check = check_of(rec.seq, rec.val);
		ssize_t w;
		do
			w = write(p[1], &rec, sizeof(rec));
		while (w < 0 && errno == EINTR);
		if (w != (ssize_t)sizeof(rec)) {
			perror("pipepair producer: write");
			return 1;
		}
		if (i % 100 == 0)
			printf("produced %u\n", i);
		msleep(10);
	}
	close(p[1]);
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
