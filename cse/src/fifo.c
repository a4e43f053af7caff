// SPDX-License-Identifier: MIT
/*
 * SHM FIFO.  The seed's reader/writer steps with an atomic increment instead
 * of a lock: a writer claims a position by incrementing wpos, then stores
 * its offset into that entry, tagged with the lap the position belongs to
 * (bits 29..31, never 0).  The single reader takes the
 * entry at its private position once it carries that position's tag.
 *
 * Nobody ever clears an entry: the reader only reads the ring and the
 * writer only stores into it, so a command costs one cache-line transfer
 * each way instead of a read-modify-write ping-pong.  It is safe because
 * capacity >= number of slots and each slot is in at most one FIFO, so a
 * writer never laps the reader; a peer that scribbles over the ring can
 * only make entries look absent or carry offsets the consumer rejects.
 *
 * Sleeping uses the seed's RSEM idea with a futex-style word: the reader
 * announces itself in `sleepers`, re-checks, and sleeps on `wake_seq`; a
 * writer bumps `wake_seq` only when it sees a sleeper.  Full barriers on
 * both sides (store, mb, load) make the lost-wakeup interleaving impossible.
 */
#include "fifo.h"

CSE_STATIC_ASSERT(CSE_MAX_CHUNK <= CSE_FIFO_OFF_MASK + 1,
		  "chunk offsets must leave the tag bits free");
/* Lap tags (fifo_tag) need 2^32 / capacity to be a multiple of 4. */
CSE_STATIC_ASSERT(CSE_MAX_SLOTS <= (1U << 30),
		  "FIFO capacity must divide 2^32 at least four times");

void cse_fifo_attach(struct cse_fifo *f, void *chunk, __u32 off,
		     const struct cse_geom *g)
{
	f->hdr = (struct cse_fifo_hdr *)((char *)chunk + off);
	f->entries = (__u32 *)(f->hdr + 1);
	f->mask = g->fifo_capacity - 1;
	f->shift = 0;
	while ((1U << f->shift) < g->fifo_capacity)
		f->shift++;
	f->rpos = 0;
	f->sync = ((struct cse_chunk_hdr *)chunk)->os_area;
}

/*
 * The tag entries at position @pos carry: the lap number mod 4, plus one so
 * that a zeroed ring holds no valid entry.  An entry holds either this lap's
 * value or the previous lap's, whose tag always differs (also where the
 * 32-bit position wraps, as 2^32 / capacity is a multiple of 4).
 */
static __u32 fifo_tag(const struct cse_fifo *f, __u32 pos)
{
	return (((pos >> f->shift) & 3U) + 1U) << CSE_FIFO_TAG_SHIFT;
}

static void fifo_wake_reader(struct cse_fifo *f)
{
	__u32 s;

	cse_mb();
	s = cse_load(&f->hdr->sleepers);
	if (!s)
		return;
	/*
	 * A parked reader: the one writer that takes the mark back rings;
	 * the others find 0 and make no call.  (A peer that forges the mark
	 * only makes us ring for nothing.)
	 */
	if (s == CSE_FIFO_PARKED && f->ring) {
		if (cse_cmpxchg(&f->hdr->sleepers, CSE_FIFO_PARKED, 0) == CSE_FIFO_PARKED)
			f->ring(f->ring_arg);
		return;
	}
	cse_fetch_add(&f->hdr->wake_seq, 1);
	cse_os_wake(f->sync, &f->hdr->wake_seq);
}

__u32 cse_fifo_claim(struct cse_fifo *f)
{
	return cse_fetch_add(&f->hdr->wpos, 1);
}

void cse_fifo_publish(struct cse_fifo *f, __u32 pos, __u32 off)
{
	cse_store_release(&f->entries[pos & f->mask],
			  fifo_tag(f, pos) | (off & CSE_FIFO_OFF_MASK));
	fifo_wake_reader(f);
}

void cse_fifo_push(struct cse_fifo *f, __u32 off)
{
	cse_fifo_publish(f, cse_fifo_claim(f), off);
}

void cse_fifo_push_many(struct cse_fifo *f, const __u32 *offs, __u32 n)
{
	__u32 pos = cse_fetch_add(&f->hdr->wpos, n), i;

	for (i = 0; i < n; i++)
		cse_store_release(&f->entries[(pos + i) & f->mask],
				  fifo_tag(f, pos + i) | (offs[i] & CSE_FIFO_OFF_MASK));
	fifo_wake_reader(f);
}

__u32 cse_fifo_pop(struct cse_fifo *f)
{
	__u32 v, off;

	for (;;) {
		v = cse_load_acquire(&f->entries[f->rpos & f->mask]);
		if ((v & ~CSE_FIFO_OFF_MASK) != fifo_tag(f, f->rpos))
			return 0;
		f->rpos++;
		off = v & CSE_FIFO_OFF_MASK;
		if (off)
			return off;
		/* A claimed position its writer gave back: skip it. */
	}
}

bool cse_spin_while(const __u32 *word, __u32 expected, const __u32 *stop,
		    __s32 spin_ns)
{
	__u64 deadline = 0;
	unsigned int i = 0;

	if (spin_ns <= 0)
		return false;
	for (;;) {
		if (cse_load_acquire(word) != expected || cse_load(stop))
			return true;
		cse_os_cpu_relax();
		/*
		 * Reading the clock costs more than a pause: do it rarely, and
		 * not at all when the peer answers within the first pauses
		 * (the common case of a round trip while both sides spin).
		 */
		if (++i & 127)
			continue;
		if (!deadline)
			deadline = cse_os_now_ns() + (__u64)spin_ns;
		else if (cse_os_now_ns() > deadline)
			return false;
	}
}

int cse_fifo_wait(struct cse_fifo *f, __s32 spin_ns, const __u32 *stop,
		  __u64 timeout_ns)
{
	__u32 *e = &f->entries[f->rpos & f->mask];
	__u32 stale = cse_load(e), seq;
	int ret;

	/* A writer's store always changes the entry: its tag is the next lap's. */
	if ((stale & ~CSE_FIFO_OFF_MASK) == fifo_tag(f, f->rpos) ||
	    cse_spin_while(e, stale, stop, spin_ns))
		return 0;

	/*
	 * Mirror the read position only now: writers read `sleepers` on the
	 * same cache line, so storing rpos on every pop would cost them a
	 * cache miss per command.
	 */
	cse_store(&f->hdr->rpos, f->rpos);
	/* Acquire: a kicker sets its stop flag before bumping wake_seq. */
	seq = cse_load_acquire(&f->hdr->wake_seq);
	cse_store(&f->hdr->sleepers, 1);
	cse_mb();
	if (cse_load(e) != stale || cse_load(stop)) {
		cse_store(&f->hdr->sleepers, 0);
		return 0;
	}
	ret = cse_os_wait(f->sync, &f->hdr->wake_seq, seq, timeout_ns);
	cse_store(&f->hdr->sleepers, 0);
	return ret == -EINTR ? 0 : ret;
}

bool cse_fifo_ready(const struct cse_fifo *f)
{
	__u32 v = cse_load_acquire(&f->entries[f->rpos & f->mask]);

	return (v & ~CSE_FIFO_OFF_MASK) == fifo_tag(f, f->rpos);
}

bool cse_fifo_park(struct cse_fifo *f)
{
	cse_store(&f->hdr->rpos, f->rpos);
	cse_store(&f->hdr->sleepers, CSE_FIFO_PARKED);
	/* Store the mark, then look: a writer publishes, then looks. */
	cse_mb();
	if (!cse_fifo_ready(f))
		return true;
	cse_store(&f->hdr->sleepers, 0);
	return false;
}

void cse_fifo_unpark(struct cse_fifo *f)
{
	if (cse_load(&f->hdr->sleepers))
		cse_store(&f->hdr->sleepers, 0);
}

void cse_fifo_kick(struct cse_fifo *f)
{
	cse_fetch_add(&f->hdr->wake_seq, 1);
	cse_os_wake(f->sync, &f->hdr->wake_seq);
}
