/*
 * A program of a chosen resident size for migration benchmarks: fills SIZE_MIB of memory with
 * data that a checksum can verify, prints "ready <checksum>", then prints a heartbeat line every
 * 100 ms until it has printed SECONDS*10 of them; at the end it recomputes and prints the checksum.
 * Usage: memhog SIZE_MIB [SECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t checksum(const uint64_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i += 512)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: memhog SIZE_MIB [SECONDS]\n");
		return 2;
	}
	size_t mib = strtoul(argv[1], NULL, 10);
	long seconds = argc > 2 ? strtol(argv[2], NULL, 10) : 3600;
	size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
	uint64_t *p = malloc(n * sizeof(uint64_t));
	if (!p) {
		perror("malloc");
		return 1;
	}
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	uint64_t before = checksum(p, n);
	printf("ready %016llx\n", (unsigned long long)before);
	fflush(stdout);
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	for (long i = 1; i <= seconds * 10; i++) {
		nanosleep(&tick, NULL);
		printf("beat %ld\n", i);
		fflush(stdout);
	}
	uint64_t after = checksum(p, n);
	printf("%s %016llx\n", after == before ? "intact" : "CORRUPT", (unsigned long long)after);
	return after == before ? 0 : 1;
}
