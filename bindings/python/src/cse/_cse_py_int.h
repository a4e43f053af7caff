/* SPDX-License-Identifier: MIT */
/*
 * What the binding's C files share among themselves (not Python's: that is
 * _cse_py.h): a word to wait on, the client handle, the packed outcome.
 */
#ifndef CSE_PY_INT_H
#define CSE_PY_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "_cse_py.h"

/* A shared word, read once, ordered with every other seq_cst access. */
static inline uint32_t cpy_ld(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline void cpy_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * A word to wait on: waiters spin briefly, then sleep on a condition
 * variable; wakers take the lock only when someone sleeps.  (seq_cst on
 * both sides: the waiter counts itself in, then re-reads the word; the
 * waker changes the word, then reads the count, so one of them sees the
 * other.)
 */
struct cpy_event {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t word;
	uint32_t sleepers;
};

int cpy_event_init(struct cpy_event *e);
void cpy_event_fini(struct cpy_event *e);
/* Change the word and wake its sleepers. */
void cpy_event_bump(struct cpy_event *e);
/* Wait until the word is not @seen (spinning first when @spin), at most
 * @timeout_ns (0: forever); 0 or -ETIMEDOUT. */
int cpy_event_wait(struct cpy_event *e, uint32_t seen, bool spin, uint64_t timeout_ns);

/*
 * Python may close a client while other threads are inside a call on it;
 * the runtime's handle must outlive those calls.  users counts threads
 * inside; close waits for them (each finishes when its command does).  A
 * user leaving after close began decrements under the lock, so the closer,
 * which frees the lock, sees users reach 0 only after that user's last
 * touch; one that missed the closing flag only decrements, and the closer
 * re-checks on a short timed wait.
 */
struct cpy_client {
	struct cse_client *c;
	uint32_t users;
	uint32_t closing;
	pthread_mutex_t lock;
	pthread_cond_t left;
};

/* A thread enters the handle for a call (-EBADF once it is closing) and leaves it. */
int cpy_client_enter(struct cpy_client *w);
void cpy_client_leave(struct cpy_client *w);

static inline int64_t cpy_pack_served(const struct cse_exec *x)
{
	uint64_t lo = (uint64_t)(x->output_buffer_len_actual & CPY_PACK_LEN_MASK) |
		      (uint64_t)(x->backup & 3) << CPY_PACK_BACKUP_SHIFT;

	return (int64_t)((uint64_t)(uint32_t)x->output_status_code << 32 | lo);
}

static inline int64_t cpy_pack_failed(int err)
{
	return (int64_t)((uint64_t)(uint32_t)err << 32 | CPY_PACK_FAILED);
}

#endif /* CSE_PY_INT_H */
