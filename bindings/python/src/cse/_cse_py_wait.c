// SPDX-License-Identifier: MIT
/*
 * The binding's C side: a word to wait on (see _cse_py_int.h).
 *
 * User-space code for the platforms the binding runs on (POSIX threads),
 * not part of the portable core: it may call the OS.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cse_py_int.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define CPY_SPIN_NS	50000ULL

int cpy_event_init(struct cpy_event *e)
{
	pthread_condattr_t a;
	int ret;

	e->word = 0;
	e->sleepers = 0;
	ret = pthread_condattr_init(&a);
	if (ret)
		return -ret;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&e->cond, &a);
	pthread_condattr_destroy(&a);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&e->lock, NULL);
	if (ret) {
		pthread_cond_destroy(&e->cond);
		return -ret;
	}
	return 0;
}

void cpy_event_fini(struct cpy_event *e)
{
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}

void cpy_event_bump(struct cpy_event *e)
{
	__atomic_fetch_add(&e->word, 1, __ATOMIC_SEQ_CST);
	if (cpy_ld(&e->sleepers)) {
		pthread_mutex_lock(&e->lock);
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
	}
}

/*
 * Wait until e->word differs from @seen, at most @timeout_ns (0: forever).
 * Spins first when @spin.  Returns 0, or -ETIMEDOUT.
 */
int cpy_event_wait(struct cpy_event *e, uint32_t seen, bool spin,
		      uint64_t timeout_ns)
{
	uint64_t t0 = 0, deadline_ns = 0;
	struct timespec dl;
	int ret = 0;

	if (cpy_ld(&e->word) != seen)
		return 0;
	if (spin || timeout_ns)
		t0 = now_ns();
	if (spin) {
		while (now_ns() - t0 < CPY_SPIN_NS) {
			if (cpy_ld(&e->word) != seen)
				return 0;
			cpy_cpu_relax();
		}
	}
	if (timeout_ns) {
		deadline_ns = t0 + timeout_ns;
		dl.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
		dl.tv_nsec = (long)(deadline_ns % 1000000000ULL);
	}
	pthread_mutex_lock(&e->lock);
	__atomic_fetch_add(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	while (cpy_ld(&e->word) == seen && !ret) {
		if (timeout_ns)
			ret = pthread_cond_timedwait(&e->cond, &e->lock, &dl);
		else
			pthread_cond_wait(&e->cond, &e->lock);
	}
	__atomic_fetch_sub(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&e->lock);
	return ret == ETIMEDOUT && cpy_ld(&e->word) == seen ? -ETIMEDOUT : 0;
}

