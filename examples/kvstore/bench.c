// SPDX-License-Identifier: MIT
/*
 * The kvstore benchmark: synchronous gets of a 64-byte value, each timed.
 * Prints one line, "kvstore_bench: " and a JSON record of the figures
 * bench/run.py reads (it adds ops/s and the direction, which this side
 * cannot know): no division or floating point here, which a kernel lacks.
 */
#include "kvclient.h"

#define BENCH_VALUE	64U
#define BENCH_WARMUP	200U
#define BENCH_MAX	10000000U	/* keeps iters * 99 within 32 bits */

static void sift_down(__u64 *a, unsigned int root, unsigned int n)
{
	unsigned int child;
	__u64 tmp;

	while ((child = 2 * root + 1) < n) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		tmp = a[root];
		a[root] = a[child];
		a[child] = tmp;
		root = child;
	}
}

/* Heapsort: no library sort in both worlds, and no recursion on a kernel stack. */
static void sort_u64(__u64 *a, unsigned int n)
{
	unsigned int i;
	__u64 tmp;

	for (i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (i = n; i-- > 1;) {
		tmp = a[0];
		a[0] = a[i];
		a[i] = tmp;
		sift_down(a, 0, i);
	}
}

int kv_bench(struct kv_client *kc, unsigned int iters)
{
	static const char key[] = "bench-key";
	__u8 value[BENCH_VALUE], got[BENCH_VALUE];
	__u64 *lat, total = 0, t0;
	unsigned int i;
	size_t len;
	int ret, status = -1;

	if (!iters || iters > BENCH_MAX)
		return -EINVAL;
	lat = cse_alloc(iters * sizeof(*lat));
	if (!lat)
		return -ENOMEM;
	memset(value, 0x5a, sizeof(value));
	ret = kv_put(kc, key, sizeof(key) - 1, value, sizeof(value), &status);
	for (i = 0; !ret && status == KV_OK && i < BENCH_WARMUP + iters; i++) {
		t0 = cse_now_ns();
		ret = kv_get(kc, key, sizeof(key) - 1, got, sizeof(got), &len, &status);
		if (i >= BENCH_WARMUP) {
			lat[i - BENCH_WARMUP] = cse_now_ns() - t0;
			total += lat[i - BENCH_WARMUP];
		}
		if (!ret && (status != KV_OK || len != sizeof(value)))
			ret = -EPROTO;
	}
	if (!ret && status != KV_OK)
		ret = -EPROTO;
	if (!ret) {
		sort_u64(lat, iters);
		cse_log(CSE_LOG_INFO, "kvstore_bench: {\"case\":\"kvstore_get\",\"payload\":%u,"
			"\"inflight\":1,\"iters\":%u,\"p50_ns\":%llu,\"p99_ns\":%llu,"
			"\"total_ns\":%llu}", BENCH_VALUE, iters,
			(unsigned long long)lat[iters / 2],
			(unsigned long long)lat[iters * 99U / 100U],
			(unsigned long long)total);
	}
	kv_del(kc, key, sizeof(key) - 1, &status);
	cse_free(lat);
	return ret;
}
