/* SPDX-License-Identifier: MIT */
/*
 * The environment a CSE module gets: everything besides messaging (cse.h)
 * that a code module needs to run unchanged as a user program and as a
 * Linux kernel module.  A module that includes only <cse/cse.h>,
 * <cse/env.h> (and <cse/module.h> for its entry point) needs no OS header
 * and no #ifdef of its own; this header holds the one #ifdef there is.
 *
 * What is here, and why this much:
 *   - the vocabulary: size_t, bool, NULL, fixed-width integers (uint8_t ..
 *     int64_t, uintptr_t, which the kernel spells the same, and the __u8 ..
 *     __u64 of cse.h), errno values, and memcpy, memmove, memset, memcmp,
 *     strlen, strnlen, strcmp, strncmp (the C library's in user space, the
 *     kernel's own there), plus the atomics of <cse/atomic.h> and
 *     cse_snprintf();
 *   - memory, a mutex, an event to wait on with a timeout, threads and a
 *     worker pool, a monotonic clock, sleep and logging with levels:
 *     what the modules we know needed (the conformance suite, the kvstore
 *     example), and nothing that exists for one world only.
 * Every call means the same in both worlds; where they differ in a detail,
 * the call's comment says how.
 *
 * Calls that can fail return 0 or a negative errno value (never setting
 * errno); allocation returns NULL on failure; the clock returns ns.
 *
 * Context: every call may sleep (it may allocate or block), so in the
 * kernel none may be made in atomic context (under a spinlock, in an
 * interrupt).  CSE handlers and module start/stop functions run in
 * process context, where all of it is allowed.
 *
 * Most of it is the runtime's private primitives (<cse/os.h>) behind
 * stable names: the portable core implements it once (cse/src/env.c) for
 * every backend, user (linux, emulated, freebsd) and kernel.  Only
 * formatting, logging, sleep, plain allocation and the thread id need a
 * world's own call (platforms/posix/env.c, kernel/linux/env.c).  os.h stays
 * private: it may change with the runtime, this header may not.
 */
#ifndef CSE_ENV_H
#define CSE_ENV_H

#include <cse/abi.h>

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/types.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#endif

#include <cse/atomic.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CSE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory ---- */

/*
 * @size bytes (at least one) of uninitialised memory, or NULL.  Large
 * sizes are fine in both worlds (the kernel falls back to vmalloc).
 */
void *cse_alloc(size_t size);
/* Like cse_alloc(), zeroed. */
void *cse_zalloc(size_t size);
/* Free what cse_alloc() or cse_zalloc() returned; NULL is ignored. */
void cse_free(void *p);

/* ---- a mutex ---- */

struct cse_mutex;

/* A sleeping, non-recursive mutex for this process (or module). */
int cse_mutex_create(struct cse_mutex **out);
/* Destroy an unlocked mutex; NULL is ignored. */
void cse_mutex_destroy(struct cse_mutex *m);
/* Take @m, sleeping while another thread holds it. */
void cse_mutex_lock(struct cse_mutex *m);
void cse_mutex_unlock(struct cse_mutex *m);

/* ---- an event ---- */

/*
 * A flag threads can wait on: set by one thread, seen by every waiter,
 * and set until cleared (it does not reset itself).
 */
struct cse_event;

/* A new event, clear. */
int cse_event_create(struct cse_event **out);
/* Destroy @e, which nobody may still wait on; NULL is ignored. */
void cse_event_destroy(struct cse_event *e);
/* Set @e and wake every thread waiting on it. */
void cse_event_set(struct cse_event *e);
void cse_event_clear(struct cse_event *e);
/* Whether @e is set, without waiting. */
bool cse_event_is_set(struct cse_event *e);
/*
 * Wait until @e is set, at most @timeout_ms (0: no limit).  Returns 0 once
 * set, -ETIMEDOUT, or -EINTR when a signal interrupted the wait: in user
 * space a signal whose handler ran, in the kernel any signal pending for
 * the calling process (a kthread has none; insmod has one when it is
 * killed, and then every further wait would end at once: return, do not
 * wait again).
 */
int cse_event_wait(struct cse_event *e, unsigned int timeout_ms);

/* ---- threads ---- */

struct cse_thread;

/*
 * Run @fn(@arg) on a new thread (a kthread in the kernel) named @name
 * (for ps and top; cut to 15 bytes).  There is no way to kill a thread:
 * tell it to return (an event, an atomic flag), then join it.  In user
 * space a thread starts with every signal blocked.
 */
int cse_thread_start(struct cse_thread **out, const char *name,
		     void (*fn)(void *arg), void *arg);
/* Wait until @t's function has returned, and free @t. */
void cse_thread_join(struct cse_thread *t);
/* An id of the calling thread, unique among running threads (for logs). */
__u64 cse_thread_id(void);

/* ---- a worker pool ---- */

struct cse_pool;

/*
 * @nthreads (1..512) threads that run submitted work items, each on
 * whichever thread is free, at most @nthreads at once (in the kernel an
 * unbound workqueue; 512 is its limit).  No order between items is
 * promised.
 */
int cse_pool_create(struct cse_pool **out, unsigned int nthreads, const char *name);
/* Queue @fn(@arg); -ENOMEM, or -ESHUTDOWN once the pool is being destroyed. */
int cse_pool_submit(struct cse_pool *p, void (*fn)(void *arg), void *arg);
/*
 * Run every queued item, then stop the threads and free @p (NULL is
 * ignored).  Not from one of @p's own items: it waits for them.
 */
void cse_pool_destroy(struct cse_pool *p);

/* ---- time ---- */

/* Monotonic time in nanoseconds (not the wall clock; never goes back). */
__u64 cse_now_ns(void);
/*
 * The same clock in milliseconds, for deadlines: it saves module code a
 * 64-bit division, which a 32-bit kernel has no operator for.
 */
__u64 cse_now_ms(void);
/*
 * Sleep at least @ms milliseconds (0: give up the CPU briefly).  Signals
 * do not cut it short in either world.
 */
void cse_sleep_ms(unsigned int ms);

/* ---- logging and formatting ---- */

#define CSE_LOG_ERR	3
#define CSE_LOG_WARN	4
#define CSE_LOG_INFO	6
#define CSE_LOG_DEBUG	7

/*
 * Log one line (a trailing newline is added) at @level: to stderr in user
 * space, in one write, so lines of several threads never mix (debug lines
 * only with CSE_DEBUG set in the environment); to the kernel log in the
 * kernel, at the matching KERN_ level.  Written as given, with no prefix:
 * name your module in the message.  Not rate-limited: a module that logs
 * about its peers' input must bound that itself (a hostile peer would
 * flood the log).  Lines longer than 1000 bytes may be cut.
 */
void cse_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * snprintf(): at most @size bytes with the NUL, the length the whole
 * result would have.  The formats both worlds share: %d %i %u %x %X %o %c
 * %s %p %% with the flags, width, precision and the hh h l ll z t
 * modifiers; no floating point (the kernel has none), no %n.  A 64-bit
 * value prints the same everywhere as %llu of (unsigned long long)v: the
 * C libraries disagree on which type uint64_t and __u64 are.
 */
int cse_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif /* CSE_ENV_H */
