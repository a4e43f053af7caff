/* SPDX-License-Identifier: MIT */
/*
 * What the Python binding adds over cse.h, compiled into its extension
 * module (cse._cse).  Each function is one crossing from Python into C that
 * does a whole Python-level operation (a call, a batch, a reap of many
 * completions), because every crossing costs more than the runtime's own
 * work for a small command.  cffi releases the GIL around each of them.
 *
 * Results of a command travel as one int64 (see CPY_PACK_*), so that a
 * synchronous call returns everything Python needs in its return value and
 * no cdata has to be read back.
 */
#ifndef CSE_PY_H
#define CSE_PY_H

#include <stddef.h>
#include <stdint.h>

#include <cse/cse.h>

/*
 * One command's outcome in an int64:
 *   served:  status << 32 | backup << 28 | output length  (bit 31 clear)
 *   failed:  -errno << 32 | 1 << 31        (the runtime's verdict, or the
 *                                           execute's error when not issued)
 * Lengths are below CSE_MAX_BACKUP (64 MiB), so they fit in 28 bits.
 */
#define CPY_PACK_FAILED		(1U << 31)
#define CPY_PACK_BACKUP_SHIFT	28
#define CPY_PACK_LEN_MASK	((1U << CPY_PACK_BACKUP_SHIFT) - 1)

struct cpy_client;
struct cpy_queue;
struct cpy_server;

int cpy_client_open(struct cpy_client **out, const char *server_id,
		    uint32_t nslots, uint32_t slot_input_size,
		    uint32_t slot_output_size, uint32_t slot_policy,
		    int32_t spin_ns, uint32_t submit);
void cpy_client_close(struct cpy_client *w);
void cpy_client_free(struct cpy_client *w);
int64_t cpy_call(struct cpy_client *w, uint32_t code, uint32_t flags,
		 const char *in, size_t in_len, char *out, size_t out_len);
int cpy_batch(struct cpy_client *w, uint32_t code, const uint32_t *codes,
	      uint32_t flags, const char *in, size_t in_stride,
	      const uint32_t *in_lens, char *out, size_t out_stride,
	      uint32_t n, uint32_t window, int32_t *results,
	      int32_t *statuses, uint32_t *lens);

int cpy_queue_new(struct cpy_queue **out);
void cpy_queue_close(struct cpy_queue *q);
void cpy_queue_free(struct cpy_queue *q);
int cpy_submit(struct cpy_client *w, struct cpy_queue *q, uint64_t token,
	       uint32_t code, uint32_t flags, const char *in, size_t in_len,
	       size_t out_len);
int cpy_reap(struct cpy_queue *q, uint64_t *tokens, int64_t *packed,
	     uint32_t max, char *out, size_t out_cap, int32_t timeout_ms);

int cpy_server_create(struct cpy_server **out, const char *server_id,
		      uint32_t nworkers, uint32_t default_exec, int32_t spin_ns,
		      void *handle);
void cpy_server_destroy(struct cpy_server *ps);

/*
 * The server handlers in Python, defined by cffi in the generated module
 * (the cdef's extern "Python+C" declarations; they take the GIL):
 * open returns the connection's handle, NULL to refuse it; exec returns
 * status << 32 | output length.
 */
void *cpy_py_open(void *server_handle);
int64_t cpy_py_exec(void *conn_handle, uint32_t code, char *in, size_t in_len,
		    char *out, size_t out_len);
void cpy_py_close(void *conn_handle);

#endif /* CSE_PY_H */
