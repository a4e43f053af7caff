// SPDX-License-Identifier: MIT
/*
 * Wait/wake on a futex.  The shared (non-private) operations are used for
 * every word: a chunk's words are mapped by two processes at different
 * addresses, and the kernel keys a shared futex on the page, not the
 * address.  A private word works with them too, just a little slower.
 * The futex needs no state of its own, so the sync area stays zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

int cse_os_sync_init(void *sync)
{
	(void)sync;
	return 0;
}

void cse_os_sync_fini(void *sync)
{
	(void)sync;
}

static long futex(__u32 *uaddr, int op, __u32 val, const struct timespec *ts)
{
#ifdef SYS_futex_time64
	/*
	 * A 32-bit build with a 64-bit time_t (_TIME_BITS=64) must use the
	 * time64 call: the old one reads a 32-bit timespec.
	 */
	if (sizeof(ts->tv_sec) != sizeof(long))
		return syscall(SYS_futex_time64, uaddr, op, val, ts, NULL, 0);
#endif
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	__u64 sec;

	(void)sync;
	if (timeout_ns) {
		sec = timeout_ns / 1000000000ULL;
		/* Cap absurd timeouts rather than overflow a 32-bit time_t. */
		if (sec > INT_MAX)
			sec = INT_MAX;
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = (long)(timeout_ns % 1000000000ULL);
		tsp = &ts;
	}
	/* The timeout is relative, measured on CLOCK_MONOTONIC. */
	if (futex(word, FUTEX_WAIT, expected, tsp) == 0)
		return 0;
	switch (errno) {
	case EAGAIN:		/* *word != expected already */
		return 0;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EINTR:
		return -EINTR;
	default:
		return -errno;
	}
}

void cse_os_wake(void *sync, __u32 *word)
{
	(void)sync;
	futex(word, FUTEX_WAKE, INT_MAX, NULL);
}
