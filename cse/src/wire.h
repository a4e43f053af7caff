/* SPDX-License-Identifier: MIT */
/*
 * Control-channel framing shared by client and server: a message header
 * (one of the struct cse_wire_* in abi.h) optionally followed by data that
 * travels in fragments of at most CSE_WIRE_FRAG bytes.  The first fragment
 * rides in the header's own message, so a small backup command costs one
 * message each way.
 */
#ifndef CSE_WIRE_H
#define CSE_WIRE_H

#include <cse/os.h>

/*
 * Send @hdr followed by @len bytes of @data, holding @lock so that
 * concurrent senders on the same channel never interleave fragments.
 */
int cse_wire_send(struct cse_os_ctl *ctl, struct cse_os_mutex *lock,
		  const void *hdr, size_t hdr_len, const void *data, size_t len);

/*
 * Receive the data announced by a header.  @msg/@msg_len is the message the
 * header came in and @hdr_len the header's size: the bytes after it are the
 * first fragment.  The rest are read from @ctl.  Anything that does not add
 * up to exactly @len bytes is -EPROTO; a vanished peer is -ECONNRESET.
 */
int cse_wire_recv_data(struct cse_os_ctl *ctl, const void *msg, size_t msg_len,
		       size_t hdr_len, void *data, size_t len);

/*
 * The same one message at a time, for a reader that must not wait for a
 * peer that stops half-way (a server's control thread): first the
 * fragment in the header's message, then each next one as it arrives
 * (cse_wire_recv_next() reads exactly one message), *@done counting the
 * bytes so far, until it reaches @len.
 */
int cse_wire_recv_first(const void *msg, size_t msg_len, size_t hdr_len,
			void *data, size_t len, size_t *done);
int cse_wire_recv_next(struct cse_os_ctl *ctl, void *data, size_t len,
		       size_t *done);

/* A status a peer sent: 0 or a -errno (at most 4095, as the kernel's). */
static inline bool cse_wire_status_ok(int v)
{
	return v <= 0 && v >= -4095;
}

static inline size_t cse_wire_first_frag(size_t len)
{
	return len < CSE_WIRE_FRAG ? len : CSE_WIRE_FRAG;
}

#endif /* CSE_WIRE_H */
