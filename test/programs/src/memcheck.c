/*
 * Holds a chosen amount of memory with data whose checksum is known, to prove that a migration
 * moved every page. Usage: memcheck SIZE_MIB
 * Prints "ready <checksum>" once filled; for each line read on stdin prints "sum <checksum>" of
 * the memory as it is now; at end of input prints "intact" or "CORRUPT" and exits 0 or 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t checksum(const uint64_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: memcheck SIZE_MIB\n");
		return 2;
	}
	size_t n = strtoul(argv[1], NULL, 10) * 1024 * 1024 / sizeof(uint64_t);
	uint64_t *p = malloc(n * sizeof(uint64_t));
	if (!p) {
		perror("malloc");
		return 2;
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
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		printf("sum %016llx\n", (unsigned long long)checksum(p, n));
		fflush(stdout);
	}
	int intact = checksum(p, n) == before;
	printf("%s\n", intact ? "intact" : "CORRUPT");
	return intact ? 0 : 1;
}
