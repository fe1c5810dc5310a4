/*
 * mapshared: writes a file progressively through a MAP_SHARED mapping, then checks the file.
 *
 *   mapshared DIR [STEPS]             default 100 steps, 100 ms apart (about 10 s)
 *   mapshared --expect [STEPS]        print the result line a correct run prints
 *
 * Creates DIR/mapshared.dat (256 KiB, sized once at the start so its size never changes while the
 * program runs: CRIU refuses to restore an open file whose size changed), maps it MAP_SHARED and,
 * at step s = 1..STEPS, writes 64 words derived from s at positions derived from s and stores s in
 * word 0. At the end it msyncs, unmaps, closes, reads the file back with read(2), replays the writes
 * into a fresh buffer and compares. Result line:
 *   result=steps=<STEPS> hash=<16 hex digits>   (FNV-1a over the file's words)
 * and exit 0 only if the file holds exactly what was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (256 * 1024)
#define NWORDS (FILE_SIZE / 8)
#define PER_STEP 64
#define DEFAULT_STEPS 100

static void apply(volatile uint64_t *w, uint32_t s)
{
	for (uint32_t k = 0; k < PER_STEP; k++) {
		uint64_t pos = 1 + ((uint64_t)s * 7919 + (uint64_t)k * 104729) % (NWORDS - 1);
		w[pos] = w[pos] * 31 + ((uint64_t)s << 32 | k) * 0x9E3779B97F4A7C15ULL;
	}
	w[0] = s;
}

static uint64_t hash(const uint64_t *w)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < NWORDS; i++) {
		h ^= w[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t *replay(uint32_t steps)
{
	uint64_t *w = calloc(NWORDS, 8);
	if (!w) {
		perror("calloc");
		exit(1);
	}
	for (uint32_t s = 1; s <= steps; s++)
		apply(w, s);
	return w;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "--expect") == 0) {
		uint32_t steps = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : DEFAULT_STEPS;
		printf("result=steps=%u hash=%016llx\n", steps, (unsigned long long)hash(replay(steps)));
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: mapshared DIR [STEPS] | mapshared --expect [STEPS]\n");
		return 2;
	}
	uint32_t steps = DEFAULT_STEPS;
	if (argc > 2) {
		char *end;
		unsigned long v = strtoul(argv[2], &end, 10);
		if (*end || !*argv[2] || v > 100000000) {
			fprintf(stderr, "mapshared: bad step count '%s'\n", argv[2]);
			return 2;
		}
		steps = (uint32_t)v;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/mapshared.dat", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	if (ftruncate(fd, FILE_SIZE) < 0)
		die("ftruncate");
	volatile uint64_t *map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	printf("mapshared: %s, %u steps\n", path, steps);
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	for (uint32_t s = 1; s <= steps; s++) {
		apply(map, s);
		if (s % 10 == 0)
			printf("step %u\n", s);
		nanosleep(&pause, NULL);
	}
	if (msync((void *)map, FILE_SIZE, MS_SYNC) < 0)
		die("msync");
	munmap((void *)map, FILE_SIZE);
	close(fd);

	uint64_t *got = malloc(FILE_SIZE);
	if (!got)
		die("malloc");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	size_t have = 0;
	while (have < FILE_SIZE) {
		ssize_t r = read(fd, (char *)got + have, FILE_SIZE - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	char extra;
	if (have != FILE_SIZE || read(fd, &extra, 1) != 0) {
		printf("mapshared: file has the wrong size\n");
		return 1;
	}
	close(fd);
	uint64_t *want = replay(steps);
	size_t diff = 0;
	for (size_t i = 0; i < NWORDS; i++)
		if (got[i] != want[i])
			diff++;
	if (diff) {
		printf("mapshared: %zu words differ from what was written\n", diff);
		return 1;
	}
	printf("result=steps=%u hash=%016llx\n", steps, (unsigned long long)hash(got));
	return 0;
}
