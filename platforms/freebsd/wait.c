// SPDX-License-Identifier: MIT
/*
 * Wait/wake with _umtx_op(2), FreeBSD's futex.  UMTX_OP_WAIT_UINT sleeps
 * while a 32-bit word holds the expected value and returns 0 at once when
 * it does not; UMTX_OP_WAKE wakes sleepers on the word.
 *
 * Words in a chunk use the shared operations: the kernel keys them on the
 * mapped object and offset (the chunk is a MAP_SHARED mapping), so a
 * process wakes its peer, which maps the chunk at another address.  Words
 * in private memory (sync == NULL) use the _PRIVATE operations, keyed on
 * the address in this process, which skip that lookup.  A word is always
 * waited on and woken with the same kind (the core passes the same sync
 * to both), so the two keys never meet.  The umtx needs no state of its
 * own: the sync area stays zero.
 */
#include <sys/types.h>
#include <sys/umtx.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

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

void cse_os_shm_forget(void *addr)
{
	(void)addr;	/* no per-region records in this backend */
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	int op = sync ? UMTX_OP_WAIT_UINT : UMTX_OP_WAIT_UINT_PRIVATE;
	/*
	 * A relative timeout on CLOCK_MONOTONIC, which only the extended
	 * struct _umtx_time can name (a bare timespec means CLOCK_REALTIME).
	 * The kernel tells the two apart by the size passed in uaddr.
	 */
	struct _umtx_time t = { ._flags = 0, ._clockid = CLOCK_MONOTONIC };
	void *size = NULL, *tp = NULL;
	__u64 sec;

	if (timeout_ns) {
		sec = timeout_ns / 1000000000ULL;
		/* Cap absurd timeouts rather than overflow a 32-bit time_t (i386). */
		if (sec > INT_MAX)
			sec = INT_MAX;
		t._timeout.tv_sec = (time_t)sec;
		t._timeout.tv_nsec = (long)(timeout_ns % 1000000000ULL);
		size = (void *)(uintptr_t)sizeof(t);
		tp = &t;
	}
	if (_umtx_op(word, op, expected, size, tp) == 0)
		return 0;	/* woken, or *word != expected already */
	switch (errno) {
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EINTR:		/* the kernel turns ERESTART into EINTR here */
		return -EINTR;
	default:
		return -errno;
	}
}

void cse_os_wake(void *sync, __u32 *word)
{
	_umtx_op(word, sync ? UMTX_OP_WAKE : UMTX_OP_WAKE_PRIVATE, INT_MAX,
		 NULL, NULL);
}
