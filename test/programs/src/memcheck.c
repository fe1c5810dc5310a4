/*
 * Holds a chosen amount of memory with data whose checksum is known, to prove that a migration
 * moved every page. Usage: memcheck SIZE_MIB
 * Prints "ready <checksum>" once filled; for each line read on stdin prints "sum <checksum>" of
 * the memory as it is now; at end of input prints "intact" or "CORRUPT" and exits 0 or 1.
 */
#include <stdio.h>

#include "filled.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: memcheck SIZE_MIB\n");
		return 2;
	}
	size_t n;
	uint64_t *p = filled(strtoul(argv[1], NULL, 10), &n);
	if (!p) {
		perror("malloc");
		return 2;
	}
	uint64_t before = checksum(p, n, 1);
	printf("ready %016llx\n", (unsigned long long)before);
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		printf("sum %016llx\n", (unsigned long long)checksum(p, n, 1));
		fflush(stdout);
	}
	int intact = checksum(p, n, 1) == before;
	printf("%s\n", intact ? "intact" : "CORRUPT");
	return intact ? 0 : 1;
}
