/*
 * Memory filled with the same xorshift64 data at every run, and a checksum of it: what the
 * migration tests and benchmarks hold, so that a changed or missing page shows.
 */
#include <stdint.h>
#include <stdlib.h>

/* SIZE_MIB of filled memory (*words: its length in 64-bit words), or NULL */
static uint64_t *filled(size_t mib, size_t *words)
{
	size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
	uint64_t *p = malloc(n * sizeof(uint64_t));
	if (!p)
		return NULL;
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	*words = n;
	return p;
}

/* FNV-1a over every stride-th word (512: one word per 4 KiB page) */
static uint64_t checksum(const uint64_t *p, size_t n, size_t stride)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i += stride)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}
