/* SPDX-License-Identifier: MIT */
/*
 * What the Python binding adds over cse.h, compiled into its extension
 * module (cse._cse).  Each function is one crossing from Python into C that
 * does a whole Python-level operation (a call, a batch, a reap of many
 * completions), because every crossing costs more than the runtime's own
 * work for a small command.  cffi releases the GIL around each of them.
 *
 * A command's outcome travels as one int64 (see CPY_PACK_*): a reap fills
 * an array of them, which Python reads in one go, and a synchronous call
 * returns its common case (status 0, a slot) as just the output length.
 */
#ifndef CSE_PY_H
#define CSE_PY_H

#include <signal.h>
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
void cpy_client_forget(struct cpy_client *w);
/*
 * One synchronous command: the output length when the server's status is 0
 * and the command took a slot (the common case, read without touching
 * cdata), else -1 and the packed outcome in *info.
 */
int64_t cpy_call(struct cpy_client *w, uint32_t code, uint32_t flags,
		 const char *in, size_t in_len, char *out, size_t out_len,
		 int64_t *info);
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

/*
 * A server whose exec handler is a Python callable.  The Python objects are
 * passed by address (CPython's id()) and stay alive while the server
 * exists (the Python Server holds them):
 *   handler  the user's handler(conn, code, data) -> status | (status,
 *            output), called straight from C; 0 to use @slow instead
 *   slow     slow(conn, code, in_addr, in_len, out_addr, out_len) -> the
 *            packed status << 32 | length, for the handlers that take
 *            views of the slot (zero copy, or an output view)
 *   failed   failed(conn, code, exc, nbytes, room) -> the status for a
 *            command whose handler raised or returned something wrong
 *            (exc) or too much output (exc None); it logs why
 * @handle is the cffi handle cpy_py_open() and cpy_py_close() get.
 */
int cpy_server_create(struct cpy_server **out, const char *server_id,
		      uint32_t nworkers, uint32_t default_exec, int32_t spin_ns,
		      void *handle, uintptr_t handler, uintptr_t slow,
		      uintptr_t failed);
void cpy_server_destroy(struct cpy_server *ps);

/*
 * Defined by cffi in the generated module (the cdef's extern "Python+C";
 * they take the GIL).  open returns id() of the connection's Python object
 * (kept alive by the server until close), 0 to refuse it; pin does nothing
 * but leaves cffi's thread state on the calling thread for good (see
 * _cse_py_server.c).
 */
uintptr_t cpy_py_open(void *server_handle);
void cpy_py_close(void *server_handle, uintptr_t conn);
void cpy_py_pin(void);

/* _cse_py_call.c: Client.call's common case as a CPython function */
int cpy_call_install(uintptr_t dict, uintptr_t replies, uintptr_t error);

/* _cse_py_client.c: block every signal around starting the runtime's threads */
void cpy_signals_block(sigset_t *old);
void cpy_signals_restore(const sigset_t *old);

#endif /* CSE_PY_H */
