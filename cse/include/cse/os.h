/* SPDX-License-Identifier: MIT */
/*
 * The primitives the portable core needs from an operating system.  This is
 * the only OS surface: the core in cse/src calls nothing else.  Each backend
 * in platforms/<os>/ (and the kernel build in kernel/linux/) implements all
 * of it; a backend that cannot provide a primitive returns -EOPNOTSUPP.
 * All functions return 0 or -errno unless stated otherwise.
 */
#ifndef CSE_OS_H
#define CSE_OS_H

#include <cse/abi.h>

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/stddef.h>
#include <linux/types.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#endif

#include <cse/atomic.h>
/* The public module environment: the runtime's vocabulary and log levels. */
#include <cse/env.h>

/* ---- memory ---- */

/* Zeroed allocation; NULL on failure. */
void *cse_os_zalloc(size_t size);
void cse_os_free(void *p);

/* ---- logging (levels: CSE_LOG_* of env.h) ---- */

void cse_os_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- time ---- */

/* Monotonic nanoseconds. */
__u64 cse_os_now_ns(void);
/* Pause inside a spin loop. */
void cse_os_cpu_relax(void);
/* Give the CPU away for a moment (used between bounded spins). */
void cse_os_yield(void);

/* ---- wait / wake on a 32-bit word, possibly in shared memory ---- */

/*
 * @sync is the chunk's os_area (struct cse_chunk_hdr.os_area) when @word is
 * in that chunk, or NULL for a word in private memory, so a backend can tell
 * shared words (the futex backend and the kernel sleep on the word itself;
 * the emulated backend polls them) from private ones.
 */
#define CSE_OS_SYNC_SIZE 192

/* Initialise @sync (CSE_OS_SYNC_SIZE bytes) in a freshly created chunk. */
int cse_os_sync_init(void *sync);
/* Release what cse_os_sync_init() set up; the creator calls it last. */
void cse_os_sync_fini(void *sync);

/*
 * Sleep while *word == expected, at most timeout_ns (0: no limit).
 * Return: 0 woken or the word differs; -ETIMEDOUT; -EINTR.
 * Spurious returns are allowed: callers re-check their condition.
 */
int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns);
/*
 * Sleep until *word != expected, however long and whatever signals come:
 * for a waiter that must not give up, because another thread is using its
 * stack.  A private word only.  (The kernel sleeps as TASK_IDLE: not
 * counted as load, not reported as hung.)
 */
void cse_os_wait_until_changed(__u32 *word, __u32 expected);
/*
 * Wake every thread sleeping on @word.  The wait ends whatever @word holds
 * by the time the sleeper runs: a peer that writes a shared word back
 * cannot cancel a wake-up of ours (the futex and the kernel's waitqueue
 * wake the sleeper itself; the emulated backend counts it privately).
 * A waiter that had not started sleeping yet is not covered: whoever stops
 * a waiter through a word the peer can write repeats the wake-up until the
 * waiter has left.
 */
void cse_os_wake(void *sync, __u32 *word);

/* ---- a pollable flag, for event loops ---- */

struct cse_os_event;

/*
 * A flag behind a file descriptor that polls readable while it is set
 * (user space; the kernel has no descriptor to give: -EOPNOTSUPP).
 */
int cse_os_event_create(struct cse_os_event **out);
void cse_os_event_destroy(struct cse_os_event *e);
int cse_os_event_fd(const struct cse_os_event *e);
void cse_os_event_set(struct cse_os_event *e);
void cse_os_event_clear(struct cse_os_event *e);

/* ---- shared memory ---- */

struct cse_os_shm;
struct cse_os_ctl;

/*
 * Create a zeroed region of @size bytes to hand to the peer at the other
 * end of @ctl (or to nobody yet, when @ctl is NULL).  The channel matters
 * when the peer is the kernel: then the kernel allocates the region and
 * this side maps it.
 */
int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out);
void *cse_os_shm_addr(const struct cse_os_shm *shm);
size_t cse_os_shm_size(const struct cse_os_shm *shm);
/* Unmap and release; the region lives on while the peer maps it. */
void cse_os_shm_destroy(struct cse_os_shm *shm);

/* ---- process-local mutex ---- */

struct cse_os_mutex;

int cse_os_mutex_create(struct cse_os_mutex **out);
void cse_os_mutex_destroy(struct cse_os_mutex *m);
void cse_os_mutex_lock(struct cse_os_mutex *m);
void cse_os_mutex_unlock(struct cse_os_mutex *m);

/* ---- threads and worker pools ---- */

struct cse_os_thread;

/* Start @fn(@arg) on a new thread named @name (for ps/top, may be cut). */
int cse_os_thread_start(struct cse_os_thread **out, const char *name,
			void (*fn)(void *arg), void *arg);
/* Wait for the thread to return and free it. */
void cse_os_thread_join(struct cse_os_thread *t);

struct cse_os_pool;

int cse_os_pool_create(unsigned int nthreads, const char *name,
		       struct cse_os_pool **out);
/* Queue @fn(@arg) to run on one of the pool's threads. */
int cse_os_pool_submit(struct cse_os_pool *p, void (*fn)(void *arg), void *arg);
/* Run everything queued, then stop and free the pool. */
void cse_os_pool_destroy(struct cse_os_pool *p);

/* ---- control channel (U-U: a SEQPACKET Unix socket; U-K: /dev/cse) ---- */

/* Largest message cse_os_ctl_send()/recv() carry (header + data). */
#define CSE_OS_CTL_MSG_MAX (CSE_WIRE_FRAG + 256U)

/* Register @server_id; -EADDRINUSE if a live server holds it. */
int cse_os_ctl_listen(const char *server_id, struct cse_os_ctl **out);
/*
 * Accept one pending connection from a listener.  -EMFILE/-ENFILE: the
 * process (or system) is out of descriptors, and the connection still
 * waits: refuse it with cse_os_ctl_reject().
 */
int cse_os_ctl_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out);
/*
 * Out of descriptors: accept one pending connection on a descriptor the
 * listener keeps in reserve, send it @msg (the refusal) and close it, so
 * the client hears why instead of waiting for an answer that never comes.
 * Return 0, -EAGAIN if none waited, or -errno (the reserve is gone too).
 */
int cse_os_ctl_reject(struct cse_os_ctl *listener, const void *msg, size_t len);
/* Connect to @server_id; -ENOENT if nobody serves it. */
int cse_os_ctl_connect(const char *server_id, struct cse_os_ctl **out);
/*
 * Send one message made of @a and @b (either may be empty, not both), and
 * with it the shared region @shm when not NULL.  Return 0 or -errno
 * (-EPIPE: peer gone).
 */
int cse_os_ctl_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		    const void *b, size_t b_len, struct cse_os_shm *shm);
/*
 * Receive one message into @buf.  If it carried a shared region and @shm is
 * not NULL, map it into *@shm (the receiver validates its size against what
 * the message claims).  Return its length, 0 when the peer is gone, -errno.
 */
long cse_os_ctl_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		     struct cse_os_shm **shm);
/*
 * Backup in one synchronous call (the seed's U-K backup ioctl; K-K: a
 * direct call): the whole command goes to the server at the other end of
 * the channel, which runs it before the call returns.  Where a backend
 * cannot, both functions return -EOPNOTSUPP and the command travels as
 * messages instead.
 */
struct cse_os_call {
	__u32 input_code;
	__u32 flags;		/* CSE_SLOT_F_INLINE / _WORKER, CSE_WIRE_F_OUTPUT_INIT */
	__u32 input_len;
	__u32 output_len;
	const void *input;
	void *output;		/* output_len bytes, zeroed unless OUTPUT_INIT */
	__u32 output_len_actual;	/* out */
	__s32 output_status;		/* out */
	/*
	 * flags CSE_DEV_CALL_F_SLOT alone, every other field zero: the command
	 * is in the slot at this offset of the connection's chunk, and its
	 * results go into the slot header (abi.h, struct cse_dev_call).
	 * flags CSE_DEV_CALL_F_SLOTS alone: input holds input_len bytes of
	 * slot offsets, run in order; the call returns how many ran.
	 */
	__u32 slot_off;
};

typedef int (*cse_os_call_fn)(void *arg, struct cse_os_call *call);

/*
 * Server end: run calls from the peer as @fn(@arg, call) on the caller's
 * thread.  None starts once @c is shut down, and cse_os_ctl_close(@c)
 * waits for those running.
 */
int cse_os_ctl_serve_calls(struct cse_os_ctl *c, cse_os_call_fn fn, void *arg);
/*
 * Client end: one call; returns what @fn returned, -EPIPE (peer gone) or
 * -EOPNOTSUPP (the peer takes no calls: send messages).
 */
int cse_os_ctl_call(struct cse_os_ctl *c, struct cse_os_call *call);
/* Make blocked and later sends/receives on @c fail (peer sees it gone). */
void cse_os_ctl_shutdown(struct cse_os_ctl *c);
void cse_os_ctl_close(struct cse_os_ctl *c);

/* ---- waiting for several control channels ---- */

struct cse_os_poller;

int cse_os_poller_create(struct cse_os_poller **out);
void cse_os_poller_destroy(struct cse_os_poller *p);
/* Watch @c for input or hang-up; @cookie is reported when it fires. */
int cse_os_poller_add(struct cse_os_poller *p, struct cse_os_ctl *c, void *cookie);
int cse_os_poller_del(struct cse_os_poller *p, struct cse_os_ctl *c);
/*
 * Wait up to @timeout_ms (-1: forever) for ready channels; store up to @max
 * cookies.  Return how many, 0 on timeout or kick, -errno.
 */
int cse_os_poller_wait(struct cse_os_poller *p, void **cookies, int max,
		       int timeout_ms);
/* Make a concurrent cse_os_poller_wait() return early. */
void cse_os_poller_kick(struct cse_os_poller *p);

#endif /* CSE_OS_H */
