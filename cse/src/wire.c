// SPDX-License-Identifier: MIT
#include "wire.h"

int cse_wire_send(struct cse_os_ctl *ctl, struct cse_os_mutex *lock,
		  const void *hdr, size_t hdr_len, const void *data, size_t len)
{
	const char *p = data;
	size_t first = cse_wire_first_frag(len);
	size_t done;
	int ret;

	cse_os_mutex_lock(lock);
	ret = cse_os_ctl_send(ctl, hdr, hdr_len, p, first, NULL);
	for (done = first; !ret && done < len;) {
		size_t n = cse_wire_first_frag(len - done);

		ret = cse_os_ctl_send(ctl, p + done, n, NULL, 0, NULL);
		done += n;
	}
	cse_os_mutex_unlock(lock);
	return ret;
}

int cse_wire_recv_first(const void *msg, size_t msg_len, size_t hdr_len,
			void *data, size_t len, size_t *done)
{
	size_t first = cse_wire_first_frag(len);

	if (msg_len != hdr_len + first)
		return -EPROTO;
	if (first)
		memcpy(data, (const char *)msg + hdr_len, first);
	*done = first;
	return 0;
}

int cse_wire_recv_next(struct cse_os_ctl *ctl, void *data, size_t len,
		       size_t *done)
{
	size_t want = cse_wire_first_frag(len - *done);
	long n = cse_os_ctl_recv(ctl, (char *)data + *done, want, NULL);

	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return n == -EMSGSIZE ? -EPROTO : (int)n;
	/* Fragments are full-sized but the last: anything else is a lie. */
	if ((size_t)n != want)
		return -EPROTO;
	*done += (size_t)n;
	return 0;
}

int cse_wire_recv_data(struct cse_os_ctl *ctl, const void *msg, size_t msg_len,
		       size_t hdr_len, void *data, size_t len)
{
	size_t done;
	int ret;

	ret = cse_wire_recv_first(msg, msg_len, hdr_len, data, len, &done);
	while (!ret && done < len)
		ret = cse_wire_recv_next(ctl, data, len, &done);
	return ret;
}
