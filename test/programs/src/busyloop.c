/*
 * busyloop: pure CPU work that a migration must not disturb.
 *
 *   busyloop [ITERATIONS]          run the loop, print progress about every 0.5 s, then the result
 *   busyloop --expect [ITERATIONS] print the result line the loop will print, computed in O(log n)
 *
 * The loop runs the 64-bit LCG x <- a*x + c from x = 1 ITERATIONS times and sums every x it
 * produces (mod 2^64). --expect computes the same two numbers by composing the LCG's affine map with
 * itself (jump-ahead), without running the loop, so the loop's answer is checked independently.
 * Result line: result=x:<16 hex digits>,sum:<16 hex digits>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LCG_A 6364136223846793005ULL
#define LCG_C 1442695040888963407ULL
#define DEFAULT_ITERATIONS 8000000000ULL /* about 10 s on a 2020s x86-64 core */
#define CHUNK (1ULL << 24)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* m steps from x: x' = A x + C, and the sum of the m values produced = P x + Q */
struct jump {
	uint64_t A, C, P, Q;
};

/* first f, then g */
static struct jump then(struct jump f, struct jump g)
{
	struct jump r;
	r.A = g.A * f.A;
	r.C = g.A * f.C + g.C;
	r.P = f.P + g.P * f.A;
	r.Q = f.Q + g.P * f.C + g.Q;
	return r;
}

static void expect(uint64_t n)
{
	struct jump r = { 1, 0, 0, 0 }, b = { LCG_A, LCG_C, LCG_A, LCG_C };
	for (; n; n >>= 1) {
		if (n & 1)
			r = then(r, b);
		b = then(b, b);
	}
	uint64_t x0 = 1;
	printf("result=x:%016llx,sum:%016llx\n", (unsigned long long)(r.A * x0 + r.C),
	       (unsigned long long)(r.P * x0 + r.Q));
}

static uint64_t parse(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	if (*end || !*s) {
		fprintf(stderr, "busyloop: bad iteration count '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "--expect") == 0) {
		expect(argc > 2 ? parse(argv[2]) : DEFAULT_ITERATIONS);
		return 0;
	}
	uint64_t n = argc > 1 ? parse(argv[1]) : DEFAULT_ITERATIONS;
	printf("busyloop: %llu iterations\n", (unsigned long long)n);
	uint64_t x = 1, sum = 0, done = 0;
	double last = now();
	while (done < n) {
		uint64_t k = n - done < CHUNK ? n - done : CHUNK;
		for (uint64_t i = 0; i < k; i++) {
			x = x * LCG_A + LCG_C;
			sum += x;
		}
		done += k;
		double t = now();
		if (t - last >= 0.5) {
			printf("progress %llu/%llu\n", (unsigned long long)done, (unsigned long long)n);
			last = t;
		}
	}
	printf("result=x:%016llx,sum:%016llx\n", (unsigned long long)x, (unsigned long long)sum);
	return 0;
}
