/*
 * Holds a chosen amount of memory with data whose checksum is known, to prove that a migration
 * moved every page. Usage: memcheck SIZE_MIB [hidden]
 * Prints "ready <checksum>" once filled; for each line read on stdin prints "sum <checksum>" of
 * the memory as it is now; at end of input prints "intact" or "CORRUPT" and exits 0 or 1.
 * hidden: the memory is PROT_NONE, unreadable even to the program, but while it sums it up.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filled.h"

static int hidden;
static void *pages;
static size_t pages_len;

/* the whole pages of the memory, readable or not */
static void show(int readable)
{
	if (hidden && mprotect(pages, pages_len, readable ? PROT_READ | PROT_WRITE : PROT_NONE)) {
		perror("mprotect");
		exit(2);
	}
}

static uint64_t sum(const uint64_t *p, size_t n)
{
	show(1);
	uint64_t s = checksum(p, n, 1);
	show(0);
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "hidden"))) {
		fprintf(stderr, "usage: memcheck SIZE_MIB [hidden]\n");
		return 2;
	}
	size_t n;
	uint64_t *p = filled(strtoul(argv[1], NULL, 10), &n);
	if (!p) {
		perror("malloc");
		return 2;
	}
	size_t page = sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)(p + n)) & ~(page - 1);
	hidden = argc == 3;
	pages = (void *)start;
	pages_len = end > start ? end - start : 0;
	uint64_t before = sum(p, n);
	printf("ready %016llx\n", (unsigned long long)before);
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		printf("sum %016llx\n", (unsigned long long)sum(p, n));
		fflush(stdout);
	}
	int intact = sum(p, n) == before;
	printf("%s\n", intact ? "intact" : "CORRUPT");
	return intact ? 0 : 1;
}
