// SPDX-License-Identifier: MIT
/*
 * The module environment (env.h) on the runtime's own primitives (os.h),
 * written once for every backend, user and kernel.  The handles env.h
 * hands out (struct cse_mutex, cse_thread, cse_pool) are the os.h objects
 * themselves under a public name: no second allocation, and os.h can
 * change behind them.  The event is the one object of its own: a 32-bit
 * word in private memory with the wait and wake every backend already has.
 */
#include <cse/env.h>
#include <cse/os.h>

#define NSEC_PER_MS 1000000ULL

/* ---- memory ---- */

void *cse_zalloc(size_t size)
{
	return cse_os_zalloc(size);
}

void cse_free(void *p)
{
	cse_os_free(p);
}

/* ---- mutex ---- */

int cse_mutex_create(struct cse_mutex **out)
{
	struct cse_os_mutex *m;
	int ret = cse_os_mutex_create(&m);

	if (!ret)
		*out = (struct cse_mutex *)m;
	return ret;
}

void cse_mutex_destroy(struct cse_mutex *m)
{
	cse_os_mutex_destroy((struct cse_os_mutex *)m);
}

void cse_mutex_lock(struct cse_mutex *m)
{
	cse_os_mutex_lock((struct cse_os_mutex *)m);
}

void cse_mutex_unlock(struct cse_mutex *m)
{
	cse_os_mutex_unlock((struct cse_os_mutex *)m);
}

/* ---- event ---- */

struct cse_event {
	__u32 set;		/* 0 or 1; waiters sleep while it is 0 */
};

int cse_event_create(struct cse_event **out)
{
	struct cse_event *e = cse_os_zalloc(sizeof(*e));

	if (!e)
		return -ENOMEM;
	*out = e;
	return 0;
}

void cse_event_destroy(struct cse_event *e)
{
	cse_os_free(e);
}

void cse_event_set(struct cse_event *e)
{
	/* Release: what the setter wrote before is seen by the woken waiter. */
	cse_store_release(&e->set, 1);
	cse_os_wake(NULL, &e->set);
}

void cse_event_clear(struct cse_event *e)
{
	cse_store_release(&e->set, 0);
}

bool cse_event_is_set(struct cse_event *e)
{
	return cse_load_acquire(&e->set) != 0;
}

int cse_event_wait(struct cse_event *e, unsigned int timeout_ms)
{
	__u64 deadline = timeout_ms ?
			 cse_os_now_ns() + timeout_ms * NSEC_PER_MS : 0;
	__u64 now, left = 0;
	int ret;

	for (;;) {
		if (cse_load_acquire(&e->set))
			return 0;
		if (deadline) {
			now = cse_os_now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			left = deadline - now;
		}
		/* Spurious and early returns are allowed: the loop re-checks. */
		ret = cse_os_wait(NULL, &e->set, 0, left);
		if (ret == -EINTR)
			return ret;
	}
}

/* ---- threads and pools ---- */

int cse_thread_start(struct cse_thread **out, const char *name,
		     void (*fn)(void *arg), void *arg)
{
	struct cse_os_thread *t;
	int ret;

	if (!fn)
		return -EINVAL;
	ret = cse_os_thread_start(&t, name ? name : "cse-module", fn, arg);
	if (!ret)
		*out = (struct cse_thread *)t;
	return ret;
}

void cse_thread_join(struct cse_thread *t)
{
	cse_os_thread_join((struct cse_os_thread *)t);
}

/* The kernel's workqueue limit (WQ_MAX_ACTIVE), so both worlds refuse alike. */
#define POOL_MAX_THREADS 512U

int cse_pool_create(struct cse_pool **out, unsigned int nthreads, const char *name)
{
	struct cse_os_pool *p;
	int ret;

	if (!nthreads || nthreads > POOL_MAX_THREADS)
		return -EINVAL;
	ret = cse_os_pool_create(nthreads, name ? name : "cse-pool", &p);
	if (!ret)
		*out = (struct cse_pool *)p;
	return ret;
}

int cse_pool_submit(struct cse_pool *p, void (*fn)(void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	return cse_os_pool_submit((struct cse_os_pool *)p, fn, arg);
}

void cse_pool_destroy(struct cse_pool *p)
{
	cse_os_pool_destroy((struct cse_os_pool *)p);
}

/* ---- time ---- */

__u64 cse_now_ns(void)
{
	return cse_os_now_ns();
}

__u64 cse_now_ms(void)
{
	/*
	 * Module code calls this instead of dividing itself.  (The kernel
	 * build is 64-bit only; a 32-bit one would need div_u64() here.)
	 */
	return cse_os_now_ns() / NSEC_PER_MS;
}
