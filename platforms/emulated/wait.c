// SPDX-License-Identifier: MIT
/*
 * Wait/wake without futexes, from POSIX semaphores in the chunk's os_area.
 *
 * Why not a process-shared mutex and condition variable: a peer killed while
 * it sleeps in pthread_cond_wait() leaves its reference in the condvar, and
 * glibc (before 2.41) then blocks the survivor's next broadcast forever
 * (__condvar_quiesce_and_switch_g1 waits for that reference to drop);
 * musl's pthread_cond_destroy() waits for it too.  Peer death must never
 * hang the survivor, so nothing here ever waits for the peer: a dead
 * sleeper costs at most a spurious wakeup.
 *
 * The scheme is an eventcount.  A sleeper reads the generation g, counts
 * itself in nwait[g % NSEM] and sleeps on sem[g % NSEM].  A waker bumps the
 * generation, takes the count of the slot it closed and posts that many
 * tokens there, so everyone who was asleep in that generation wakes, and a
 * woken sleeper that sleeps again registers in a newer slot instead of
 * taking a token meant for someone slower.  Tokens left over (sleepers that
 * died or timed out) are harmless: whoever takes one re-checks its word.
 *
 * A token can still be taken by the wrong sleeper when a slot comes round
 * again (NSEM wakes later), and a hostile peer can scribble over the whole
 * area.  So no sleep lasts longer than SYNC_SLICE_NS: the sleeper then looks
 * at its word itself.  That bounds the cost of any lost wakeup to one slice
 * instead of a hang.
 *
 * The area holds no pointer and no lock, only semaphores and counters, so
 * the emulated backend still cannot mix a 32-bit and a 64-bit peer (sem_t
 * differs), but such a pair degrades to slice polling rather than breaking.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include "posix.h"

#define SYNC_NSEM	4
/* Longest sleep between two looks at the word. */
#define SYNC_SLICE_NS	(50ULL * 1000 * 1000)
/* Wake-ups one wake posts at most, whatever the peer-writable count says. */
#define SYNC_MAX_POST	(CSE_MAX_SLOTS + 64U)
/* Registrations a sleeper retries while wakes keep racing it. */
#define SYNC_REG_TRIES	64

struct emul_sync {
	sem_t sem[SYNC_NSEM];
	__u32 gen;			/* bumped by every wake that has sleepers */
	__u32 nwait[SYNC_NSEM];		/* sleepers counted in gen % SYNC_NSEM */
};

CSE_STATIC_ASSERT(sizeof(struct emul_sync) <= CSE_OS_SYNC_SIZE,
		  "emulated sync state must fit the chunk's os_area");
CSE_STATIC_ASSERT(_Alignof(struct emul_sync) <= CSE_CACHELINE,
		  "os_area is only cache-line aligned");

/* Words in private memory (sync == NULL) share one process-local area. */
static struct emul_sync private_sync;
static pthread_once_t private_once = PTHREAD_ONCE_INIT;

static int sync_setup(struct emul_sync *s, int pshared)
{
	int i, ret;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < SYNC_NSEM; i++) {
		if (sem_init(&s->sem[i], pshared, 0)) {
			ret = -errno;
			while (i--)
				sem_destroy(&s->sem[i]);
			return ret;
		}
	}
	return 0;
}

static void private_init(void)
{
	/* Cannot fail for a process-private semaphore with value 0. */
	sync_setup(&private_sync, 0);
}

static struct emul_sync *sync_get(void *sync)
{
	if (sync)
		return sync;
	pthread_once(&private_once, private_init);
	return &private_sync;
}

int cse_os_sync_init(void *sync)
{
	return sync_setup(sync, 1);
}

void cse_os_sync_fini(void *sync)
{
	struct emul_sync *s = sync;
	int i;

	/* Does not wait for sleepers (glibc and musl): a dead one is fine. */
	for (i = 0; i < SYNC_NSEM; i++)
		sem_destroy(&s->sem[i]);
}

/*
 * Full barrier between a store and a load of different words (the Dekker
 * pattern of wait and wake).  GCC refuses fences under ThreadSanitizer,
 * which does not model them anyway: use a sequentially consistent
 * read-modify-write there, which it understands.
 */
static void sync_mb(void)
{
#ifdef __SANITIZE_THREAD__
	static __u32 dummy;

	__atomic_fetch_add(&dummy, 0, __ATOMIC_SEQ_CST);
#else
	cse_mb();
#endif
}

static __u32 load(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Decrement unless a wake already drained the count to zero. */
static void count_put(__u32 *p)
{
	__u32 v = load(p);

	while (v && !__atomic_compare_exchange_n(p, &v, v - 1, false,
						 __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
		;
}

/*
 * Leave generation @g without a token: uncount ourselves if it is still
 * open, else a waker counted us and posted a token that we take back (it
 * may not be there yet or someone took it: then it floats, harmlessly).
 */
static void sync_leave(struct emul_sync *s, __u32 g)
{
	if (load(&s->gen) == g)
		count_put(&s->nwait[g % SYNC_NSEM]);
	else
		sem_trywait(&s->sem[g % SYNC_NSEM]);
}

/* Sleep on @sem at most @ns: 0 token, -ETIMEDOUT, -EINTR. */
static int sync_sleep(sem_t *sem, __u64 ns)
{
	struct timespec ts;
	clockid_t clk;
	int ret;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 30)
	clk = CLOCK_MONOTONIC;
#else
	clk = CLOCK_REALTIME;	/* sem_timedwait() knows no other clock */
#endif
	clock_gettime(clk, &ts);
	ns += (__u64)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 30)
	ret = sem_clockwait(sem, clk, &ts);
#else
	ret = sem_timedwait(sem, &ts);
#endif
	if (!ret)
		return 0;
	ret = errno;
	if (ret == ETIMEDOUT || ret == EINTR)
		return -ret;
	/*
	 * EINVAL: the peer wrote garbage over the semaphore.  Do not spin on
	 * it: sleep a little and let the caller look at its word.
	 */
	ts.tv_sec = 0;
	ts.tv_nsec = 1000 * 1000;
	nanosleep(&ts, NULL);
	return -ETIMEDOUT;
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	struct emul_sync *s = sync_get(sync);
	__u64 deadline = 0, now, slice;
	unsigned int tries = 0;
	__u32 g;
	int ret;

	if (timeout_ns) {
		deadline = cse_os_now_ns() + timeout_ns;
		if (deadline < timeout_ns)
			deadline = ~0ULL;
	}
again:
	g = load(&s->gen);
	__atomic_fetch_add(&s->nwait[g % SYNC_NSEM], 1, __ATOMIC_SEQ_CST);
	if (load(&s->gen) != g) {
		/* A wake slipped in: it may have drained the slot before us. */
		count_put(&s->nwait[g % SYNC_NSEM]);
		if (++tries < SYNC_REG_TRIES)
			goto again;
		return 0;
	}
	/*
	 * Counted, then look: a waker changes the word before it reads the
	 * count, so either it sees us or we see the new value.
	 */
	sync_mb();
	if (load(word) != expected) {
		sync_leave(s, g);
		return 0;
	}

	for (;;) {
		slice = SYNC_SLICE_NS;
		if (deadline) {
			now = cse_os_now_ns();
			if (now >= deadline) {
				sync_leave(s, g);
				return load(word) != expected ? 0 : -ETIMEDOUT;
			}
			if (deadline - now < slice)
				slice = deadline - now;
		}
		ret = sync_sleep(&s->sem[g % SYNC_NSEM], slice);

		if (load(&s->gen) != g) {
			/* Woken by a wake (ours may have been for any word). */
			if (ret)
				sem_trywait(&s->sem[g % SYNC_NSEM]);
			if (ret == -EINTR)
				return -EINTR;
			if (load(word) != expected)
				return 0;
			tries = 0;
			goto again;
		}
		if (ret == -EINTR) {
			sync_leave(s, g);
			return -EINTR;
		}
		/* A stale token, or the slice ran out: still counted, look. */
		if (load(word) != expected) {
			sync_leave(s, g);
			return 0;
		}
	}
}

void cse_os_wake(void *sync, __u32 *word)
{
	struct emul_sync *s = sync_get(sync);
	__u32 g, n;

	(void)word;	/* one area serves every word of the chunk */
	sync_mb();
	g = load(&s->gen);
	if (!load(&s->nwait[g % SYNC_NSEM]))
		return;		/* nobody asleep: no system call */

	g = __atomic_fetch_add(&s->gen, 1, __ATOMIC_SEQ_CST);
	n = __atomic_exchange_n(&s->nwait[g % SYNC_NSEM], 0, __ATOMIC_SEQ_CST);
	if (n > SYNC_MAX_POST)
		n = SYNC_MAX_POST;
	while (n--) {
		if (sem_post(&s->sem[g % SYNC_NSEM]))
			break;	/* EOVERFLOW: plenty of tokens already */
	}
}
