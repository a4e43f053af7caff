// SPDX-License-Identifier: MIT
/*
 * SHM FIFO.  The seed's reader/writer steps with a compare-and-swap instead
 * of a lock: a writer claims a position by incrementing wpos, then swaps its
 * offset into the (empty, 0) entry at that position.  The single reader
 * takes the entry at its private position once it is nonzero and clears it.
 * Because capacity >= number of slots and each slot is in at most one FIFO,
 * an honest writer always finds its entry empty; a writer that does not
 * (the peer scribbled over the ring) gives up after a bounded spin.
 *
 * Sleeping uses the seed's RSEM idea with a futex-style word: the reader
 * announces itself in `sleepers`, re-checks, and sleeps on `wake_seq`; a
 * writer bumps `wake_seq` only when it sees a sleeper.  Full barriers on
 * both sides (store, mb, load) make the lost-wakeup interleaving impossible.
 */
#include "fifo.h"

#define PUSH_SPIN_LIMIT (1U << 20)

void cse_fifo_attach(struct cse_fifo *f, void *chunk, __u32 off,
		     const struct cse_geom *g)
{
	f->hdr = (struct cse_fifo_hdr *)((char *)chunk + off);
	f->entries = (__u32 *)(f->hdr + 1);
	f->mask = g->fifo_capacity - 1;
	f->rpos = 0;
	f->sync = ((struct cse_chunk_hdr *)chunk)->os_area;
}

static void fifo_wake_reader(struct cse_fifo *f)
{
	cse_mb();
	if (cse_load(&f->hdr->sleepers)) {
		cse_fetch_add(&f->hdr->wake_seq, 1);
		cse_os_wake(f->sync, &f->hdr->wake_seq);
	}
}

int cse_fifo_push(struct cse_fifo *f, __u32 off)
{
	__u32 pos = cse_fetch_add(&f->hdr->wpos, 1);
	__u32 *e = &f->entries[pos & f->mask];
	__u32 tries = 0;

	while (cse_cmpxchg(e, 0, off) != 0) {
		if (++tries > PUSH_SPIN_LIMIT)
			return -EPROTO;
		if (tries & 63)
			cse_os_cpu_relax();
		else
			cse_os_yield();
	}
	fifo_wake_reader(f);
	return 0;
}

__u32 cse_fifo_pop(struct cse_fifo *f)
{
	__u32 *e = &f->entries[f->rpos & f->mask];
	__u32 off = cse_load_acquire(e);

	if (!off)
		return 0;
	cse_store_release(e, 0);
	f->rpos++;
	cse_store(&f->hdr->rpos, f->rpos);
	return off;
}

bool cse_spin_while(const __u32 *word, __u32 expected, const __u32 *stop,
		    __s32 spin_ns)
{
	__u64 deadline;
	unsigned int i = 0;

	if (spin_ns <= 0)
		return false;
	deadline = cse_os_now_ns() + (__u64)spin_ns;
	for (;;) {
		if (cse_load_acquire(word) != expected || cse_load(stop))
			return true;
		cse_os_cpu_relax();
		/* Reading the clock costs more than a pause: do it rarely. */
		if (!(++i & 127) && cse_os_now_ns() > deadline)
			return false;
	}
}

int cse_fifo_wait(struct cse_fifo *f, __s32 spin_ns, const __u32 *stop,
		  __u64 timeout_ns)
{
	__u32 *e = &f->entries[f->rpos & f->mask];
	__u32 seq;
	int ret;

	if (cse_spin_while(e, 0, stop, spin_ns))
		return 0;

	seq = cse_load(&f->hdr->wake_seq);
	cse_store(&f->hdr->sleepers, 1);
	cse_mb();
	if (cse_load(e) || cse_load(stop)) {
		cse_store(&f->hdr->sleepers, 0);
		return 0;
	}
	ret = cse_os_wait(f->sync, &f->hdr->wake_seq, seq, timeout_ns);
	cse_store(&f->hdr->sleepers, 0);
	return ret == -EINTR ? 0 : ret;
}

void cse_fifo_kick(struct cse_fifo *f)
{
	cse_fetch_add(&f->hdr->wake_seq, 1);
	cse_os_wake(f->sync, &f->hdr->wake_seq);
}
