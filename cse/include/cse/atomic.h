/* SPDX-License-Identifier: MIT */
/*
 * Atomics on 32-bit words, the one place where user space and kernel differ
 * in spelling: C11/GCC builtins in user space, READ_ONCE/smp_* in the kernel.
 * Words shared with a peer are always accessed through these, so every read
 * of shared memory is a single, explicit load.  Code built for both worlds
 * (the conformance scenarios) uses these, never raw __atomic builtins: on
 * arm64 gcc turns those into calls to libgcc's outline-atomics helpers
 * (__aarch64_ldset4_acq_rel, ...), which the kernel does not have.
 */
#ifndef CSE_ATOMIC_H
#define CSE_ATOMIC_H

#include <cse/abi.h>

#ifdef __KERNEL__
#include <linux/atomic.h>
#include <linux/compiler.h>
#include <asm/barrier.h>

static inline __u32 cse_load(const __u32 *p) { return READ_ONCE(*p); }
static inline __u32 cse_load_acquire(const __u32 *p) { return smp_load_acquire(p); }
static inline void cse_store(__u32 *p, __u32 v) { WRITE_ONCE(*p, v); }
static inline void cse_store_release(__u32 *p, __u32 v) { smp_store_release(p, v); }
static inline __u32 cse_fetch_add(__u32 *p, __u32 v) { return (__u32)atomic_fetch_add((int)v, (atomic_t *)p); }
static inline __u32 cse_fetch_or(__u32 *p, __u32 v) { return (__u32)atomic_fetch_or((int)v, (atomic_t *)p); }
static inline __u32 cse_fetch_and(__u32 *p, __u32 v) { return (__u32)atomic_fetch_and((int)v, (atomic_t *)p); }
static inline __u32 cse_xchg(__u32 *p, __u32 v) { return xchg(p, v); }
/* Returns the old value; the swap happened iff it equals @old. */
static inline __u32 cse_cmpxchg(__u32 *p, __u32 old, __u32 v) { return cmpxchg(p, old, v); }
static inline void cse_mb(void) { smp_mb(); }
static inline void cse_peer_release(const void *p) { (void)p; }
static inline void cse_peer_acquire(const void *p) { (void)p; }
#else
static inline __u32 cse_load(const __u32 *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline __u32 cse_load_acquire(const __u32 *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void cse_store(__u32 *p, __u32 v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void cse_store_release(__u32 *p, __u32 v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline __u32 cse_fetch_add(__u32 *p, __u32 v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline __u32 cse_fetch_or(__u32 *p, __u32 v) { return __atomic_fetch_or(p, v, __ATOMIC_ACQ_REL); }
static inline __u32 cse_fetch_and(__u32 *p, __u32 v) { return __atomic_fetch_and(p, v, __ATOMIC_ACQ_REL); }
static inline __u32 cse_xchg(__u32 *p, __u32 v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }
static inline __u32 cse_cmpxchg(__u32 *p, __u32 old, __u32 v)
{
	__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	return old;
}
static inline void cse_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/*
 * Order that a peer process carries.  A server thread that completes a
 * command in a slot and the one that runs the next command in that slot
 * are ordered by the client (it saw the completion before it reused the
 * slot), through atomics ThreadSanitizer cannot see, since they happen in
 * another process.  cse_peer_release() before a slot goes back to the
 * peer and cse_peer_acquire() when it comes back tell ThreadSanitizer
 * that order; without ThreadSanitizer they are nothing at all.
 */
#if defined(__SANITIZE_THREAD__)
#define CSE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSE_TSAN 1
#endif
#endif
#ifdef CSE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static inline void cse_peer_release(const void *p) { __tsan_release((void *)p); }
static inline void cse_peer_acquire(const void *p) { __tsan_acquire((void *)p); }
#else
static inline void cse_peer_release(const void *p) { (void)p; }
static inline void cse_peer_acquire(const void *p) { (void)p; }
#endif
#endif

#endif /* CSE_ATOMIC_H */
