// SPDX-License-Identifier: MIT
/* Chunk layout: computed identically by both peers, never read back blindly. */
#include "chunk.h"

static __u32 align_up(__u32 v, __u32 a)
{
	return (v + a - 1) & ~(a - 1);
}

static __u32 pow2_at_least(__u32 v)
{
	__u32 p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int cse_geom_compute(__u32 nslots, __u32 in_size, __u32 out_size,
		     struct cse_geom *g)
{
	__u64 slot, fifo, total;

	if (!nslots || nslots > CSE_MAX_SLOTS ||
	    in_size > CSE_MAX_SLOT_AREA || out_size > CSE_MAX_SLOT_AREA)
		return -EINVAL;

	g->nslots = nslots;
	g->fifo_capacity = pow2_at_least(nslots);
	g->slot_input_size = align_up(in_size, 8);
	g->slot_output_size = align_up(out_size, 8);
	slot = sizeof(struct cse_slot_hdr) + (__u64)g->slot_input_size +
	       g->slot_output_size;
	slot = align_up((__u32)slot, CSE_CACHELINE);
	fifo = align_up(sizeof(struct cse_fifo_hdr) + 4 * g->fifo_capacity,
			CSE_CACHELINE);
	total = sizeof(struct cse_chunk_hdr) + 2 * fifo + slot * nslots;
	if (total > CSE_MAX_CHUNK)
		return -EINVAL;

	g->slot_size = (__u32)slot;
	g->cs_fifo_off = sizeof(struct cse_chunk_hdr);
	g->sc_fifo_off = g->cs_fifo_off + (__u32)fifo;
	g->slots_off = g->sc_fifo_off + (__u32)fifo;
	g->chunk_size = (__u32)total;
	return 0;
}

int cse_chunk_format(void *base, const struct cse_geom *g)
{
	struct cse_chunk_hdr *h = base;

	memset(base, 0, g->slots_off);
	h->magic = CSE_ABI_MAGIC;
	h->abi_version = CSE_ABI_VERSION;
	h->chunk_size = g->chunk_size;
	h->nslots = g->nslots;
	h->fifo_capacity = g->fifo_capacity;
	h->slot_size = g->slot_size;
	h->slot_input_size = g->slot_input_size;
	h->slot_output_size = g->slot_output_size;
	h->cs_fifo_off = g->cs_fifo_off;
	h->sc_fifo_off = g->sc_fifo_off;
	h->slots_off = g->slots_off;
	return cse_os_sync_init(h->os_area);
}

int cse_chunk_check(const void *base, size_t mapped,
		    __u32 nslots, __u32 in_size, __u32 out_size,
		    struct cse_geom *g)
{
	struct cse_chunk_hdr h;
	int ret;

	ret = cse_geom_compute(nslots, in_size, out_size, g);
	if (ret)
		return ret;
	if (mapped < sizeof(h) || mapped != g->chunk_size)
		return -EINVAL;

	/* One copy of the header; the peer may keep writing the original. */
	memcpy(&h, base, sizeof(h));
	if (h.magic != CSE_ABI_MAGIC || h.abi_version != CSE_ABI_VERSION)
		return -EPROTO;
	if (h.chunk_size != g->chunk_size || h.nslots != g->nslots ||
	    h.fifo_capacity != g->fifo_capacity ||
	    h.slot_size != g->slot_size ||
	    h.slot_input_size != g->slot_input_size ||
	    h.slot_output_size != g->slot_output_size ||
	    h.cs_fifo_off != g->cs_fifo_off ||
	    h.sc_fifo_off != g->sc_fifo_off || h.slots_off != g->slots_off)
		return -EPROTO;
	if (h.flags || h.resv[0] || h.resv[1] || h.resv[2] || h.resv[3])
		return -EPROTO;
	return 0;
}
