// SPDX-License-Identifier: MIT
/*
 * White-box tests of the portable core: chunk geometry and validation, and
 * the SHM FIFO under several producers.
 */
#include <pthread.h>
#include <stdlib.h>

#include "../ktap.h"
#include "chunk.h"
#include "fifo.h"

static void *chunk_alloc(const struct cse_geom *g)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, g->chunk_size))
		return NULL;
	memset(p, 0, g->chunk_size);
	return p;
}

static int test_geometry(const struct ktap_case *tc)
{
	struct cse_geom g;
	__u32 i;

	(void)tc;
	KTAP_CHECK(cse_geom_compute(0, 64, 64, &g) == -EINVAL, "0 slots accepted");
	KTAP_CHECK(cse_geom_compute(CSE_MAX_SLOTS + 1, 64, 64, &g) == -EINVAL,
		   "too many slots accepted");
	KTAP_CHECK(cse_geom_compute(4, CSE_MAX_SLOT_AREA + 1, 0, &g) == -EINVAL,
		   "oversized input area accepted");
	KTAP_CHECK(cse_geom_compute(CSE_MAX_SLOTS, CSE_MAX_SLOT_AREA,
				    CSE_MAX_SLOT_AREA, &g) == -EINVAL,
		   "chunk beyond CSE_MAX_CHUNK accepted");
	KTAP_CHECK(!cse_geom_compute(5, 100, 3, &g), "valid geometry refused");
	KTAP_CHECK(g.fifo_capacity == 8, "capacity %u", g.fifo_capacity);
	KTAP_CHECK(g.slot_input_size == 104 && g.slot_output_size == 8,
		   "areas %u %u", g.slot_input_size, g.slot_output_size);
	KTAP_CHECK(g.cs_fifo_off % 64 == 0 && g.sc_fifo_off % 64 == 0 &&
		   g.slots_off % 64 == 0 && g.slot_size % 64 == 0, "misaligned");
	KTAP_CHECK(g.slots_off + 5 * g.slot_size == g.chunk_size, "size");
	for (i = 0; i < 5; i++)
		KTAP_CHECK(cse_geom_slot_index(&g, cse_geom_slot_off(&g, i)) == (int)i,
			   "slot %u", i);
	KTAP_CHECK(cse_geom_slot_index(&g, 0) < 0, "offset 0 accepted");
	KTAP_CHECK(cse_geom_slot_index(&g, g.slots_off + 1) < 0, "unaligned accepted");
	KTAP_CHECK(cse_geom_slot_index(&g, g.chunk_size) < 0, "past end accepted");
	KTAP_CHECK(cse_geom_slot_index(&g, 0xffffffffU) < 0, "huge accepted");
	return 0;
}

static int test_chunk_check(const struct ktap_case *tc)
{
	struct cse_geom g, got;
	struct cse_chunk_hdr *h;
	void *p;

	(void)tc;
	KTAP_CHECK(!cse_geom_compute(8, 256, 256, &g), "geometry");
	p = chunk_alloc(&g);
	KTAP_CHECK(p, "alloc");
	KTAP_CHECK(!cse_chunk_format(p, &g), "format");
	h = p;
	KTAP_CHECK(!cse_chunk_check(p, g.chunk_size, 8, 256, 256, &got), "valid refused");
	KTAP_CHECK(!memcmp(&g, &got, sizeof(g)), "geometry differs");
	KTAP_CHECK(cse_chunk_check(p, g.chunk_size - 64, 8, 256, 256, &got),
		   "short mapping accepted");
	KTAP_CHECK(cse_chunk_check(p, g.chunk_size, 9, 256, 256, &got),
		   "hello/header mismatch accepted");
	h->magic ^= 1;
	KTAP_CHECK(cse_chunk_check(p, g.chunk_size, 8, 256, 256, &got) == -EPROTO,
		   "bad magic accepted");
	h->magic ^= 1;
	h->slots_off += 64;
	KTAP_CHECK(cse_chunk_check(p, g.chunk_size, 8, 256, 256, &got) == -EPROTO,
		   "moved slots accepted");
	h->slots_off -= 64;
	h->resv[2] = 1;
	KTAP_CHECK(cse_chunk_check(p, g.chunk_size, 8, 256, 256, &got) == -EPROTO,
		   "nonzero reserved field accepted");
	cse_os_sync_fini(h->os_area);
	free(p);
	return 0;
}

#define PRODUCERS	4
#define PER_PRODUCER	50000U

static struct {
	struct cse_fifo f;
	struct cse_geom g;
	__u32 outstanding;	/* offsets in the ring, at most nslots */
	__u32 stop;
} mp;

static void *producer(void *arg)
{
	__u32 id = (__u32)(unsigned long)arg, i;

	for (i = 0; i < PER_PRODUCER; i++) {
		/* Like holding a slot: never more in the ring than slots exist. */
		while (cse_fetch_add(&mp.outstanding, 1) >= mp.g.nslots) {
			cse_fetch_add(&mp.outstanding, (__u32)-1);
			cse_os_yield();
		}
		cse_fifo_push(&mp.f, (id << 20) | (i + 1));
	}
	return NULL;
}

static int test_fifo_producers(const struct ktap_case *tc)
{
	static __u32 next[PRODUCERS];
	pthread_t th[PRODUCERS];
	__u32 got = 0, v, id, seq;
	void *p;
	int i;

	(void)tc;
	KTAP_CHECK(!cse_geom_compute(16, 8, 8, &mp.g), "geometry");
	p = chunk_alloc(&mp.g);
	KTAP_CHECK(p && !cse_chunk_format(p, &mp.g), "chunk");
	cse_fifo_attach(&mp.f, p, mp.g.cs_fifo_off, &mp.g);
	for (i = 0; i < PRODUCERS; i++)
		pthread_create(&th[i], NULL, producer, (void *)(unsigned long)i);
	while (got < PRODUCERS * PER_PRODUCER) {
		v = cse_fifo_pop(&mp.f);
		if (!v) {
			KTAP_CHECK(cse_fifo_wait(&mp.f, 1000, &mp.stop, 2000000000ULL) == 0,
				   "reader slept 2 s with %u of %u popped", got,
				   PRODUCERS * PER_PRODUCER);
			continue;
		}
		cse_fetch_add(&mp.outstanding, (__u32)-1);
		id = v >> 20;
		seq = v & 0xfffff;
		KTAP_CHECK(id < PRODUCERS, "garbage entry %#x", v);
		/* Each producer's entries arrive in its own order, none twice. */
		KTAP_CHECK(seq == next[id] + 1, "producer %u: got %u after %u", id,
			   seq, next[id]);
		next[id] = seq;
		got++;
	}
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	KTAP_CHECK(!cse_fifo_pop(&mp.f), "entries left over");
	free(p);
	return 0;
}

/*
 * Entries are never cleared, so the reader must tell this lap's entries
 * from stale ones by their tag, and skip positions given back.
 */
static int test_fifo_laps(const struct ktap_case *tc)
{
	struct cse_geom g;
	struct cse_fifo w, r;
	__u32 i, lap, pos;
	void *p;

	(void)tc;
	KTAP_CHECK(!cse_geom_compute(4, 8, 8, &g), "geometry");
	p = chunk_alloc(&g);
	KTAP_CHECK(p && !cse_chunk_format(p, &g), "chunk");
	cse_fifo_attach(&w, p, g.cs_fifo_off, &g);
	cse_fifo_attach(&r, p, g.cs_fifo_off, &g);
	KTAP_CHECK(!cse_fifo_pop(&r), "a zeroed ring is not empty");
	for (lap = 0; lap < 10; lap++) {
		for (i = 0; i < g.fifo_capacity; i++)
			cse_fifo_push(&w, 64 * (lap * 8 + i + 1));
		for (i = 0; i < g.fifo_capacity; i++)
			KTAP_CHECK(cse_fifo_pop(&r) == 64 * (lap * 8 + i + 1),
				   "lap %u entry %u", lap, i);
		/* Every entry still holds this lap's value: none may pop again. */
		KTAP_CHECK(!cse_fifo_pop(&r), "lap %u: a stale entry popped", lap);
	}
	/* A position claimed and given back is skipped, in order. */
	pos = cse_fifo_claim(&w);
	cse_fifo_push(&w, 4096);
	KTAP_CHECK(!cse_fifo_pop(&r), "popped past an unpublished position");
	cse_fifo_publish(&w, pos, 0);
	KTAP_CHECK(cse_fifo_pop(&r) == 4096 && !cse_fifo_pop(&r), "skip failed");
	/* Garbage from a peer: wrong tags read as empty. */
	for (i = 0; i < g.fifo_capacity; i++)
		w.entries[i] = 0x12345678;
	KTAP_CHECK(!cse_fifo_pop(&r), "garbage entry popped");
	free(p);
	return 0;
}

static unsigned int rings;

static void count_ring(void *arg)
{
	(void)arg;
	rings++;
}

/*
 * A burst: one claim for all its positions (across the ring's end here),
 * entries in order, and one wake however many entries: one ring of a
 * parked reader's doorbell, one bump of a sleeping reader's word.
 */
static int test_fifo_burst(const struct ktap_case *tc)
{
	static const __u32 offs[5] = { 64, 128, 192, 256, 320 };
	struct cse_geom g;
	struct cse_fifo w, r;
	__u32 i, round, seq;
	void *p;

	(void)tc;
	KTAP_CHECK(!cse_geom_compute(8, 8, 8, &g), "geometry");
	p = chunk_alloc(&g);
	KTAP_CHECK(p && !cse_chunk_format(p, &g), "chunk");
	cse_fifo_attach(&w, p, g.cs_fifo_off, &g);
	cse_fifo_attach(&r, p, g.cs_fifo_off, &g);
	w.ring = count_ring;
	for (i = 0; i < g.fifo_capacity - 2; i++) {
		cse_fifo_push(&w, 4096);
		KTAP_CHECK(cse_fifo_pop(&r) == 4096, "single %u", i);
	}
	for (round = 0; round < 3; round++) {
		rings = 0;
		seq = cse_load(&w.hdr->wake_seq);
		if (round == 1)
			KTAP_CHECK(cse_fifo_park(&r), "park an empty FIFO");
		if (round == 2)
			cse_store(&r.hdr->sleepers, 1);	/* as a sleeping reader */
		cse_fifo_push_many(&w, offs, 5);
		KTAP_CHECK(cse_load(&w.hdr->wpos) == g.fifo_capacity - 2 + 5 * (round + 1),
			   "round %u: wpos %u", round, cse_load(&w.hdr->wpos));
		KTAP_CHECK(rings == (round == 1), "round %u: %u rings", round, rings);
		KTAP_CHECK(cse_load(&w.hdr->wake_seq) - seq == (round == 2),
			   "round %u: wake_seq moved by %u", round,
			   cse_load(&w.hdr->wake_seq) - seq);
		cse_store(&r.hdr->sleepers, 0);
		for (i = 0; i < 5; i++)
			KTAP_CHECK(cse_fifo_pop(&r) == offs[i], "round %u entry %u", round, i);
		KTAP_CHECK(!cse_fifo_pop(&r), "round %u: an entry too many", round);
	}
	free(p);
	return 0;
}

static void *late_pusher(void *arg)
{
	struct cse_fifo *f = arg;

	usleep(50000);
	cse_fifo_push(f, 1234);
	return NULL;
}

static int test_fifo_sleep_wake(const struct ktap_case *tc)
{
	struct cse_geom g;
	struct cse_fifo f;
	pthread_t th;
	__u32 stop = 0, v = 0;
	__u64 t0;
	int ret;
	void *p;

	(void)tc;
	KTAP_CHECK(!cse_geom_compute(4, 8, 8, &g), "geometry");
	p = chunk_alloc(&g);
	KTAP_CHECK(p && !cse_chunk_format(p, &g), "chunk");
	cse_fifo_attach(&f, p, g.cs_fifo_off, &g);
	t0 = cse_os_now_ns();
	KTAP_CHECK(cse_fifo_wait(&f, -1, &stop, 20000000ULL) == -ETIMEDOUT,
		   "empty FIFO did not time out");
	KTAP_CHECK(cse_os_now_ns() - t0 >= 15000000ULL, "timed out too early");

	pthread_create(&th, NULL, late_pusher, &f);
	t0 = cse_os_now_ns();
	while (!(v = cse_fifo_pop(&f))) {
		ret = cse_fifo_wait(&f, 0, &stop, 5000000000ULL);
		KTAP_CHECK(ret == 0, "sleeping reader not woken: %d", ret);
	}
	pthread_join(th, NULL);
	KTAP_CHECK(v == 1234, "popped %u", v);
	KTAP_CHECK(cse_os_now_ns() - t0 < 2000000000ULL, "wake took too long");
	free(p);
	return 0;
}

static const struct ktap_case cases[] = {
	{ "geometry", test_geometry, 10, NULL },
	{ "chunk_check", test_chunk_check, 10, NULL },
	{ "fifo_producers", test_fifo_producers, 120, NULL },
	{ "fifo_laps", test_fifo_laps, 30, NULL },
	{ "fifo_burst", test_fifo_burst, 30, NULL },
	{ "fifo_sleep_wake", test_fifo_sleep_wake, 30, NULL },
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
