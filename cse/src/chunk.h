/* SPDX-License-Identifier: MIT */
/* Chunk geometry: where the FIFOs and slots of a connection's region lie. */
#ifndef CSE_CHUNK_H
#define CSE_CHUNK_H

#include <cse/os.h>

struct cse_geom {
	__u32 nslots;
	__u32 fifo_capacity;
	__u32 slot_input_size;
	__u32 slot_output_size;
	__u32 slot_size;
	__u32 cs_fifo_off;
	__u32 sc_fifo_off;
	__u32 slots_off;
	__u32 chunk_size;
};

/* Lay out a chunk for the requested slots; -EINVAL outside the limits. */
int cse_geom_compute(__u32 nslots, __u32 in_size, __u32 out_size,
		     struct cse_geom *g);

/* Write a fresh header and zeroed FIFOs into @base (creator side). */
int cse_chunk_format(void *base, const struct cse_geom *g);

/*
 * Check a chunk a peer created against the geometry it announced and the
 * size actually mapped.  Every header field is read once; on success @g
 * holds our own copy, which is all we use afterwards.
 */
int cse_chunk_check(const void *base, size_t mapped,
		    __u32 nslots, __u32 in_size, __u32 out_size,
		    struct cse_geom *g);

/*
 * Map a slot offset taken from a FIFO to a slot index.  Return the index,
 * or -EPROTO if the offset is not the start of a slot.
 */
static inline int cse_geom_slot_index(const struct cse_geom *g, __u32 off)
{
	__u32 rel;

	if (off < g->slots_off)
		return -EPROTO;
	rel = off - g->slots_off;
	if (rel % g->slot_size || rel / g->slot_size >= g->nslots)
		return -EPROTO;
	return (int)(rel / g->slot_size);
}

static inline __u32 cse_geom_slot_off(const struct cse_geom *g, __u32 idx)
{
	return g->slots_off + idx * g->slot_size;
}

#endif /* CSE_CHUNK_H */
