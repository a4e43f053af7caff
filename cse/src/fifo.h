/* SPDX-License-Identifier: MIT */
/*
 * SHM FIFO of slot offsets (seed: the CS and SC FIFOs).  Several writers,
 * one reader.  This is each side's private view of a FIFO in the chunk.
 */
#ifndef CSE_FIFO_H
#define CSE_FIFO_H

#include <cse/os.h>

#include "chunk.h"

/* An entry: slot offset in the low bits, the writer's lap tag above. */
#define CSE_FIFO_TAG_SHIFT	29
#define CSE_FIFO_OFF_MASK	((1U << CSE_FIFO_TAG_SHIFT) - 1)

struct cse_fifo {
	struct cse_fifo_hdr *hdr;	/* in shared memory */
	__u32 *entries;			/* in shared memory */
	__u32 mask;
	__u32 shift;			/* log2(capacity) */
	__u32 rpos;			/* the reader's own position */
	void *sync;			/* chunk os_area for the backend */
	/*
	 * Writer: how to wake a reader that parked the FIFO instead of
	 * sleeping on it (CSE_FIFO_PARKED): ring its doorbell.  NULL: wake
	 * it as a sleeper.
	 */
	void (*ring)(void *arg);
	void *ring_arg;
};

void cse_fifo_attach(struct cse_fifo *f, void *chunk, __u32 off,
		     const struct cse_geom *g);

/*
 * Writers: claim the next position, then publish an offset there (0 gives
 * the position back) and wake the reader if it sleeps.  Every claimed
 * position must be published, or the reader waits there forever.
 */
__u32 cse_fifo_claim(struct cse_fifo *f);
void cse_fifo_publish(struct cse_fifo *f, __u32 pos, __u32 off);
/* Claim and publish in one go. */
void cse_fifo_push(struct cse_fifo *f, __u32 off);
/*
 * A burst: claim @n positions with one atomic add, publish @offs there in
 * order, then wake the reader at most once.
 */
void cse_fifo_push_many(struct cse_fifo *f, const __u32 *offs, __u32 n);

/* Take the next offset, or 0 when the FIFO is empty.  Reader only. */
__u32 cse_fifo_pop(struct cse_fifo *f);

/*
 * Reader: wait until an entry is ready or *@stop is set.  Spin for about
 * @spin_ns first, then sleep, at most @timeout_ns.
 * Return: 0 (re-check), -ETIMEDOUT, or the backend's -errno.
 */
int cse_fifo_wait(struct cse_fifo *f, __s32 spin_ns, const __u32 *stop,
		  __u64 timeout_ns);

/*
 * Reader that serves many FIFOs and sleeps on none: park the FIFO
 * (cse_fifo_park(): true, parked; false, an entry came meanwhile).
 * A parked FIFO's next writer rings the doorbell (struct cse_fifo.ring).
 */
bool cse_fifo_park(struct cse_fifo *f);
/* Reader: whether the next entry is there (cse_fifo_pop() would take it). */
bool cse_fifo_ready(const struct cse_fifo *f);
/* Reader: no longer parked (it reads on). */
void cse_fifo_unpark(struct cse_fifo *f);

/* Wake the reader so it re-checks its stop flag. */
void cse_fifo_kick(struct cse_fifo *f);

/*
 * Spin up to @spin_ns while *@word == @expected.  Return true when the word
 * changed (or *@stop became nonzero) during the spin.
 */
bool cse_spin_while(const __u32 *word, __u32 expected, const __u32 *stop,
		    __s32 spin_ns);

#define CSE_DEFAULT_SPIN_NS	50000

static inline __s32 cse_spin_budget(__s32 opt)
{
	if (opt < 0)
		return 0;
	return opt ? opt : CSE_DEFAULT_SPIN_NS;
}

#endif /* CSE_FIFO_H */
