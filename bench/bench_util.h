/* SPDX-License-Identifier: MIT */
/* What both benchmark programs share: the clock, percentiles, numbers. */
#ifndef CSE_BENCH_UTIL_H
#define CSE_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * What one now_ns() costs, measured: the mean over a loop of calls.  Each
 * per-sample figure (t1 - t0 around one round trip) includes about one call.
 */
static inline uint64_t clock_cost_ns(void)
{
	enum { CALLS = 20000 };
	uint64_t t0 = now_ns(), t = t0;
	int i;

	for (i = 0; i < CALLS; i++)
		t = now_ns();
	return (t - t0 + CALLS / 2) / CALLS;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* @sorted ascending, n > 0, p in [0, 1]. */
static inline uint64_t percentile(const uint64_t *sorted, unsigned long n, double p)
{
	unsigned long idx = (unsigned long)(p * (double)(n - 1) + 0.5);

	return sorted[idx < n ? idx : n - 1];
}

/*
 * One thread's latency samples, when many threads time their own commands
 * (bench-conns and its baseline): the first @cap of its @n commands.
 */
struct lat_samples {
	uint64_t *v;
	unsigned long n, cap;
};

static inline int lat_init(struct lat_samples *s, unsigned long cap)
{
	s->n = 0;
	s->cap = cap;
	s->v = calloc(cap ? cap : 1, sizeof(uint64_t));
	return s->v ? 0 : -ENOMEM;
}

static inline void lat_add(struct lat_samples *s, uint64_t t)
{
	if (s->n < s->cap)
		s->v[s->n] = t;
	s->n++;
}

/*
 * Move @s's kept samples to @to (room for them; NULL: no memory, drop
 * them) and free them: how many moved.
 */
static inline unsigned long lat_move(struct lat_samples *s, uint64_t *to)
{
	unsigned long k, m = !to ? 0 : s->n < s->cap ? s->n : s->cap;

	for (k = 0; k < m; k++)
		to[k] = s->v[k];
	free(s->v);
	s->v = NULL;
	return m;
}

/* Sort @v (@n samples) and give its p50 and p99; -1 when there are none. */
static inline int lat_p50_p99(uint64_t *v, unsigned long n, unsigned long long *p50,
			      unsigned long long *p99)
{
	if (!v || !n)
		return -1;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	*p50 = percentile(v, n, 0.50);
	*p99 = percentile(v, n, 0.99);
	return 0;
}

/* A whole unsigned number, or exit(2) naming @prog and @what. */
static inline unsigned long parse_ul(const char *prog, const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

#endif /* CSE_BENCH_UTIL_H */
