// SPDX-License-Identifier: MIT
/*
 * The module environment (env.h) keeps its promises in both worlds: the
 * same checks run in a user process (U-U, U-K) and in the kernel (K-K,
 * K-U).  Upper time bounds are loose on purpose (a VM under TCG on a busy
 * machine); lower bounds are what a caller relies on.
 */
#include "conformance.h"

/* Slack for upper bounds: a TCG guest can stall for seconds. */
#define SLOW_MS 5000U
/* env_clock_sleep: sleeps of 20 ms, each checked */
#define SLEEP_ROUNDS 10

int env_memory(struct conf_env *env)
{
	const size_t big = 1U << 20;
	__u8 *p, *z;
	size_t i;

	(void)env;
	p = cse_alloc(0);
	CONF_CHECK(p, "cse_alloc(0) returned NULL");
	cse_free(p);
	p = cse_alloc(big);
	z = cse_zalloc(big);
	CONF_CHECK(p && z, "1 MiB allocations failed");
	for (i = 0; i < big; i++)
		CONF_CHECK(!z[i], "cse_zalloc memory not zero at %zu", i);
	memset(p, 0x5a, big);
	memmove(p + 1, p, big - 1);
	CONF_CHECK(p[0] == 0x5a && p[big - 1] == 0x5a, "memset/memmove");
	cse_free(p);
	cse_free(z);
	cse_free(NULL);
	return CONF_PASS;
}

#define MUTEX_THREADS	4
#define MUTEX_ITERS	20000

static struct {
	struct cse_mutex *m;
	unsigned long counter;		/* plain: only the mutex protects it */
	__u32 inside, overlap;
} mx;

static void mutex_thread(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < MUTEX_ITERS; i++) {
		cse_mutex_lock(mx.m);
		if (cse_fetch_add(&mx.inside, 1))
			cse_fetch_add(&mx.overlap, 1);
		mx.counter++;
		cse_fetch_add(&mx.inside, (__u32)-1);
		cse_mutex_unlock(mx.m);
	}
}

int env_mutex(struct conf_env *env)
{
	struct cse_thread *t[MUTEX_THREADS];
	int i, started, ret;

	(void)env;
	memset(&mx, 0, sizeof(mx));
	ret = cse_mutex_create(&mx.m);
	CONF_CHECK(!ret, "mutex: %s", cse_strerror(ret));
	for (started = 0; started < MUTEX_THREADS; started++) {
		ret = cse_thread_start(&t[started], "env-mutex", mutex_thread, NULL);
		if (ret)
			break;
	}
	for (i = 0; i < started; i++)
		cse_thread_join(t[i]);
	cse_mutex_destroy(mx.m);
	cse_mutex_destroy(NULL);
	CONF_CHECK(!ret, "thread: %s", cse_strerror(ret));
	CONF_CHECK(!mx.overlap, "%u times two threads held the mutex", mx.overlap);
	CONF_CHECK(mx.counter == (unsigned long)MUTEX_THREADS * MUTEX_ITERS,
		  "counter %lu, want %d", mx.counter, MUTEX_THREADS * MUTEX_ITERS);
	return CONF_PASS;
}

#define EVENT_SET_AFTER_MS 30U

static void event_setter(void *arg)
{
	cse_sleep_ms(EVENT_SET_AFTER_MS);
	cse_event_set(arg);
}

int env_event(struct conf_env *env)
{
	struct cse_event *e;
	struct cse_thread *t;
	__u64 t0, dt;
	int ret;

	(void)env;
	ret = cse_event_create(&e);
	CONF_CHECK(!ret, "create: %s", cse_strerror(ret));
	CONF_CHECK(!cse_event_is_set(e), "a new event is set");
	t0 = cse_now_ms();
	ret = cse_event_wait(e, 50);
	dt = cse_now_ms() - t0;
	CONF_CHECK(ret == -ETIMEDOUT, "wait on a clear event: %s", cse_strerror(ret));
	CONF_CHECK(dt >= 50 && dt < SLOW_MS, "a 50 ms timeout took %llu ms",
		  (unsigned long long)dt);

	/* Set by another thread while we wait. */
	/* The clock starts before the setter: its 30 ms sleep may begin at once. */
	t0 = cse_now_ms();
	ret = cse_thread_start(&t, "env-event", event_setter, e);
	CONF_CHECK(!ret, "thread: %s", cse_strerror(ret));
	ret = cse_event_wait(e, 0);
	dt = cse_now_ms() - t0;
	cse_thread_join(t);
	CONF_CHECK(!ret, "wait: %s", cse_strerror(ret));
	CONF_CHECK(dt + 1 >= EVENT_SET_AFTER_MS && dt < SLOW_MS,
		  "woke after %llu ms, set after %u", (unsigned long long)dt,
		  EVENT_SET_AFTER_MS);

	/* It stays set until cleared. */
	CONF_CHECK(cse_event_is_set(e), "the event reset itself");
	CONF_CHECK(!cse_event_wait(e, 10), "a set event made its waiter wait");
	cse_event_clear(e);
	CONF_CHECK(!cse_event_is_set(e), "clear did not clear");
	CONF_CHECK(cse_event_wait(e, 10) == -ETIMEDOUT, "a cleared event woke");
	cse_event_destroy(e);
	cse_event_destroy(NULL);
	return CONF_PASS;
}

#define ENV_THREADS 8

static struct {
	__u64 id[ENV_THREADS];
	__u32 ran;
	struct cse_event *go;
} th;

/* Stays alive until every thread has started: their ids must all differ. */
static void id_thread(void *arg)
{
	__u64 *slot = arg;

	*slot = cse_thread_id();
	cse_event_wait(th.go, SLOW_MS);
	cse_fetch_add(&th.ran, 1);
}

int env_threads(struct conf_env *env)
{
	struct cse_thread *t[ENV_THREADS];
	__u64 self = cse_thread_id();
	int i, j, started, ret;

	(void)env;
	memset(&th, 0, sizeof(th));
	CONF_CHECK(cse_thread_start(&t[0], "env", NULL, NULL) == -EINVAL,
		  "a thread without a function started");
	ret = cse_event_create(&th.go);
	CONF_CHECK(!ret, "event: %s", cse_strerror(ret));
	for (started = 0; started < ENV_THREADS; started++) {
		ret = cse_thread_start(&t[started], "env-thread", id_thread,
				       &th.id[started]);
		if (ret)
			break;
	}
	cse_event_set(th.go);
	for (i = 0; i < started; i++)
		cse_thread_join(t[i]);
	cse_event_destroy(th.go);
	CONF_CHECK(started == ENV_THREADS, "thread %d: %s", started, cse_strerror(ret));
	/* Joined means returned: every function ran to its end. */
	CONF_CHECK(th.ran == ENV_THREADS, "%u of %d threads ran", th.ran, ENV_THREADS);
	for (i = 0; i < ENV_THREADS; i++) {
		CONF_CHECK(th.id[i] && th.id[i] != self, "thread %d has id %llx", i,
			  (unsigned long long)th.id[i]);
		for (j = 0; j < i; j++)
			CONF_CHECK(th.id[i] != th.id[j], "threads %d and %d share an id",
				  j, i);
	}
	return CONF_PASS;
}

#define POOL_THREADS	3
#define POOL_ITEMS	1000

static struct {
	__u32 done, running, most;
} pl;

static void pool_item(void *arg)
{
	__u32 now = cse_fetch_add(&pl.running, 1) + 1, most;

	(void)arg;
	/* Record the most items seen running at once. */
	while ((most = cse_load(&pl.most)) < now &&
	       cse_cmpxchg(&pl.most, most, now) != most)
		;
	cse_fetch_add(&pl.running, (__u32)-1);
	cse_fetch_add(&pl.done, 1);
}

int env_pool(struct conf_env *env)
{
	struct cse_pool *p;
	int i, ret;

	(void)env;
	memset(&pl, 0, sizeof(pl));
	CONF_CHECK(cse_pool_create(&p, 0, "env") == -EINVAL, "a pool of 0 threads");
	CONF_CHECK(cse_pool_create(&p, 513, "env") == -EINVAL, "a pool of 513 threads");
	ret = cse_pool_create(&p, POOL_THREADS, "env-pool");
	CONF_CHECK(!ret, "create: %s", cse_strerror(ret));
	for (i = 0; i < POOL_ITEMS; i++) {
		ret = cse_pool_submit(p, pool_item, NULL);
		if (ret)
			break;
	}
	/* Destroy runs what is queued first. */
	cse_pool_destroy(p);
	cse_pool_destroy(NULL);
	CONF_CHECK(!ret, "submit %d: %s", i, cse_strerror(ret));
	CONF_CHECK(pl.done == POOL_ITEMS, "%u of %d items ran", pl.done, POOL_ITEMS);
	CONF_CHECK(pl.most >= 1 && pl.most <= POOL_THREADS,
		  "%u items ran at once on a pool of %d", pl.most, POOL_THREADS);
	return CONF_PASS;
}

int env_clock_sleep(struct conf_env *env)
{
	__u64 ns0, ns1, ms0, ms1;
	int i;

	(void)env;
	ns0 = cse_now_ns();
	for (i = 0; i < 1000; i++) {
		ns1 = cse_now_ns();
		CONF_CHECK(ns1 >= ns0, "the clock went back by %llu ns",
			  (unsigned long long)(ns0 - ns1));
		ns0 = ns1;
	}
	/*
	 * Several sleeps, each checked: a sleep that rounds to the tick can
	 * come back early from some phases of the tick only (the kernel's
	 * msleep(20) on sid's 7.2 under TCG: 17.5 ms in one run of two).
	 */
	for (i = 0; i < SLEEP_ROUNDS; i++) {
		ms0 = cse_now_ms();
		ns0 = cse_now_ns();
		cse_sleep_ms(20);
		ns1 = cse_now_ns();
		ms1 = cse_now_ms();
		CONF_CHECK(ns1 - ns0 >= 20ULL * 1000000, "sleep_ms(20) #%d slept %llu ns",
			   i, (unsigned long long)(ns1 - ns0));
		CONF_CHECK(ms1 - ms0 >= 19 && ms1 - ms0 < SLOW_MS, "ms clock moved %llu ms",
			   (unsigned long long)(ms1 - ms0));
	}
	cse_sleep_ms(0);
	return CONF_PASS;
}

int env_format(struct conf_env *env)
{
	static const char want[] = "-7 42 ff 0X1F s 18446744073709551615 12 c %";
	char buf[96], small[8];
	int n;

	(void)env;
	n = cse_snprintf(buf, sizeof(buf), "%d %u %x %#X %s %llu %zu %c %%", -7, 42U,
			 255U, 31U, "s", ~0ULL, (size_t)12, 'c');
	CONF_CHECK(n == (int)strlen(want) && !strcmp(buf, want), "got \"%s\" (%d)", buf, n);
	n = cse_snprintf(small, sizeof(small), "%s", "0123456789");
	CONF_CHECK(n == 10 && !memcmp(small, "0123456\0", 8),
		  "cut to %zu: \"%s\", returned %d", sizeof(small), small, n);
	CONF_CHECK(cse_snprintf(NULL, 0, "%05d", 42) == 5, "the length of a format");
	CONF_CHECK(strnlen("abcdef", 3) == 3 && strnlen("ab", 8) == 2, "strnlen");
	CONF_CHECK(memcmp("abc", "abd", 3) < 0, "memcmp");
	cse_log(CSE_LOG_DEBUG, "# env_format: a debug line (hidden unless enabled)");
	return CONF_PASS;
}
