// SPDX-License-Identifier: MIT
/*
 * Wait/wake without futexes.
 *
 * Words in private memory (sync == NULL) use one process-wide mutex and
 * condition variable on CLOCK_MONOTONIC: only threads of this process ever
 * touch them.
 *
 * Words in a shared chunk are polled, with a sleep that grows with the time
 * already spent waiting, and cse_os_wake() has nothing to do for them.  No
 * libc object lives in the chunk's os_area, deliberately:
 *
 *  - a process-shared condition variable cannot survive peer death: a peer
 *    killed while it sleeps in pthread_cond_wait() leaves its reference
 *    behind, and glibc before 2.41 then blocks the survivor's next
 *    pthread_cond_broadcast() forever (__condvar_quiesce_and_switch_g1);
 *    musl's pthread_cond_destroy() waits for it the same way;
 *  - every glibc object (mutex, condvar, semaphore) aborts the process
 *    ("The futex facility returned an unexpected error code") when a peer
 *    has scribbled over it, and a peer can make a shared lock look held
 *    forever;
 *  - a 32-bit and a 64-bit peer, or a glibc and a musl peer, disagree on
 *    the layout of all of them.
 *
 * Polling has none of these problems: the peer can only change the word,
 * which the caller validates anyway (and a wake-up of our own is counted
 * where the peer cannot undo it, see own_wakes).  The cost is latency: a waiter that
 * has slept for T notices a change after at most about T/8, never more than
 * POLL_MAX_NS.  The core spins before it sleeps, so a busy channel rarely
 * gets here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "posix.h"

/* Yields before the first sleep: a reply often comes within microseconds. */
#define POLL_YIELDS	16
#define POLL_MIN_NS	(2ULL * 1000)
#define POLL_MAX_NS	(2ULL * 1000 * 1000)
/* Sleep about 1/POLL_FRACTION of the time already waited. */
#define POLL_FRACTION	8

void cse_os_shm_forget(void *addr)
{
	(void)addr;	/* no per-region records in this backend */
}

int cse_os_sync_init(void *sync)
{
	/* Nothing shared to set up; keep the area zero as the ABI says. */
	memset(sync, 0, CSE_OS_SYNC_SIZE);
	return 0;
}

void cse_os_sync_fini(void *sync)
{
	(void)sync;
}

static __u32 word_load(const __u32 *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/* ---- private words: one process-wide mutex and condition variable ---- */

static pthread_mutex_t private_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t private_cond;
static pthread_once_t private_once = PTHREAD_ONCE_INIT;

static void private_init(void)
{
	pthread_condattr_t attr;

	/* Timeouts must not jump with the wall clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&private_cond, &attr);
	pthread_condattr_destroy(&attr);
}

static int private_wait(__u32 *word, __u32 expected, __u64 timeout_ns)
{
	struct timespec ts;
	__u64 ns;
	int ret = 0;

	pthread_once(&private_once, private_init);
	/* Cap absurd timeouts (34 years) rather than overflow a 32-bit time_t. */
	if (timeout_ns / 1000000000ULL > (1U << 30))
		timeout_ns = (1ULL << 30) * 1000000000ULL;
	if (timeout_ns) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (__u64)ts.tv_nsec + timeout_ns % 1000000000ULL;
		ts.tv_sec += (time_t)(timeout_ns / 1000000000ULL +
				      ns / 1000000000ULL);
		ts.tv_nsec = (long)(ns % 1000000000ULL);
	}
	/*
	 * The waker changes the word before it takes the lock to broadcast,
	 * so checking it under the lock cannot miss a wake-up.
	 */
	pthread_mutex_lock(&private_lock);
	while (word_load(word) == expected) {
		ret = timeout_ns ?
			pthread_cond_timedwait(&private_cond, &private_lock,
					       &ts) :
			pthread_cond_wait(&private_cond, &private_lock);
		if (ret == ETIMEDOUT) {
			ret = word_load(word) == expected ? -ETIMEDOUT : 0;
			break;
		}
		ret = 0;
	}
	pthread_mutex_unlock(&private_lock);
	return ret;
}

static void private_wake(void)
{
	pthread_once(&private_once, private_init);
	pthread_mutex_lock(&private_lock);
	pthread_cond_broadcast(&private_cond);
	pthread_mutex_unlock(&private_lock);
}

/* ---- shared words: poll ---- */

/*
 * Our own wake-ups of shared words, counted in private memory, hashed by
 * the word's address.  The word itself is the peer's to write: a peer that
 * writes it back right after our waker changed it would otherwise cancel
 * the wake-up (a server's kick telling a reader to stop, undone by the
 * hostile client it reads from).  A waiter also returns when the count for
 * its word moves; a collision costs a spurious return, which callers
 * re-check anyway.
 */
#define WAKE_BUCKETS	64

static __u32 own_wakes[WAKE_BUCKETS];

static __u32 *own_wake_count(const __u32 *word)
{
	return &own_wakes[((uintptr_t)word / sizeof(*word)) % WAKE_BUCKETS];
}

static int shared_wait(__u32 *word, __u32 expected, __u64 timeout_ns)
{
	__u64 start = cse_os_now_ns(), now, waited, ns;
	__u32 *wakes = own_wake_count(word), woken = word_load(wakes);
	struct timespec ts;
	unsigned int i;

	for (i = 0;; i++) {
		if (word_load(word) != expected || word_load(wakes) != woken)
			return 0;
		now = cse_os_now_ns();
		waited = now - start;
		if (timeout_ns && waited >= timeout_ns)
			return -ETIMEDOUT;
		if (i < POLL_YIELDS) {
			sched_yield();
			continue;
		}
		ns = waited / POLL_FRACTION;
		if (ns < POLL_MIN_NS)
			ns = POLL_MIN_NS;
		if (ns > POLL_MAX_NS)
			ns = POLL_MAX_NS;
		if (timeout_ns && ns > timeout_ns - waited)
			ns = timeout_ns - waited;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)ns;
		if (nanosleep(&ts, NULL) && errno == EINTR)
			return -EINTR;
	}
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	if (!sync)
		return private_wait(word, expected, timeout_ns);
	return shared_wait(word, expected, timeout_ns);
}

void cse_os_wake(void *sync, __u32 *word)
{
	if (!sync) {
		private_wake();
		return;
	}
	/* Shared words are polled; count the wake-up where no peer can undo it. */
	__atomic_fetch_add(own_wake_count(word), 1, __ATOMIC_RELEASE);
}
