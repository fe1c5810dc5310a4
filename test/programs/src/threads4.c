/*
 * threads4: four pthreads, each doing deterministic work on its own quarter of a shared array.
 *
 *   threads4 [STEPS]            run STEPS steps (default 100, about 10 s), printing "step S" after each
 *   threads4 --expect [STEPS]   do the same work in one thread and print the result line
 *
 * Each step, the main thread releases the four workers through a barrier; each runs PASSES passes of
 * an integer mix over its quarter; the main thread waits for all four at a second barrier, prints
 * progress and sleeps 100 ms. At the end it hashes the whole array (64-bit FNV-1a over the words).
 * Result line: result=<16 hex digits>
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 4
#define WORDS (1u << 20)
#define PART (WORDS / NTHREADS)
#define PASSES 64
#define DEFAULT_STEPS 100

static uint32_t *array;
static unsigned steps;
static pthread_barrier_t start_b, end_b;

static void work(uint32_t *part, unsigned step, unsigned id)
{
	for (unsigned pass = 0; pass < PASSES; pass++) {
		uint32_t salt = (step * PASSES + pass) * 0x27d4eb2du + id;
		for (unsigned j = 0; j < PART; j++) {
			uint32_t v = part[j];
			v = v * 2654435761u + salt;
			v ^= v >> 15;
			part[j] = v;
		}
	}
}

static void *worker(void *p)
{
	unsigned id = (unsigned)(uintptr_t)p;
	for (unsigned s = 0; s < steps; s++) {
		pthread_barrier_wait(&start_b);
		work(array + id * PART, s, id);
		pthread_barrier_wait(&end_b);
	}
	return NULL;
}

static void init(void)
{
	array = malloc(WORDS * sizeof(uint32_t));
	if (!array) {
		perror("malloc");
		exit(1);
	}
	for (uint32_t i = 0; i < WORDS; i++)
		array[i] = i * 0x9E3779B9u;
}

static void finish(void)
{
	uint64_t h = 14695981039346656037ULL;
	for (uint32_t i = 0; i < WORDS; i++) {
		h ^= array[i];
		h *= 1099511628211ULL;
	}
	printf("result=%016llx\n", (unsigned long long)h);
}

static unsigned parse(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || !*s || v > 1000000) {
		fprintf(stderr, "threads4: bad step count '%s'\n", s);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int expect = argc > 1 && strcmp(argv[1], "--expect") == 0;
	int a = expect ? 2 : 1;
	steps = argc > a ? parse(argv[a]) : DEFAULT_STEPS;
	init();
	if (expect) {
		for (unsigned s = 0; s < steps; s++)
			for (unsigned id = 0; id < NTHREADS; id++)
				work(array + id * PART, s, id);
		finish();
		return 0;
	}
	printf("threads4: %u threads, %u steps\n", NTHREADS, steps);
	pthread_barrier_init(&start_b, NULL, NTHREADS + 1);
	pthread_barrier_init(&end_b, NULL, NTHREADS + 1);
	pthread_t t[NTHREADS];
	for (unsigned id = 0; id < NTHREADS; id++)
		if (pthread_create(&t[id], NULL, worker, (void *)(uintptr_t)id) != 0) {
			fprintf(stderr, "threads4: pthread_create failed\n");
			return 1;
		}
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	for (unsigned s = 0; s < steps; s++) {
		pthread_barrier_wait(&start_b);
		pthread_barrier_wait(&end_b);
		printf("step %u\n", s + 1);
		nanosleep(&pause, NULL);
	}
	for (unsigned id = 0; id < NTHREADS; id++)
		pthread_join(t[id], NULL);
	finish();
	return 0;
}
