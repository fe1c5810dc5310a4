/*
 * A program of a chosen resident size for migration benchmarks: fills SIZE_MIB of memory with
 * data that a checksum can verify, prints "ready <checksum>", then prints a heartbeat line every
 * 100 ms until it has printed SECONDS*10 of them; at the end it recomputes and prints the checksum.
 * Usage: memhog SIZE_MIB [SECONDS]
 */
#include <stdio.h>
#include <time.h>

#include "../test/programs/src/filled.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: memhog SIZE_MIB [SECONDS]\n");
		return 2;
	}
	long seconds = argc > 2 ? strtol(argv[2], NULL, 10) : 3600;
	size_t n;
	uint64_t *p = filled(strtoul(argv[1], NULL, 10), &n);
	if (!p) {
		perror("malloc");
		return 1;
	}
	uint64_t before = checksum(p, n, 512);
	printf("ready %016llx\n", (unsigned long long)before);
	fflush(stdout);
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	for (long i = 1; i <= seconds * 10; i++) {
		nanosleep(&tick, NULL);
		printf("beat %ld\n", i);
		fflush(stdout);
	}
	uint64_t after = checksum(p, n, 512);
	printf("%s %016llx\n", after == before ? "intact" : "CORRUPT", (unsigned long long)after);
	return after == before ? 0 : 1;
}
