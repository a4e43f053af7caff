// SPDX-License-Identifier: MIT
/* bench/bench_os.h on FreeBSD: procctl and _umtx_op, FreeBSD's futex. */
#include <sys/types.h>
#include <sys/procctl.h>
#include <sys/umtx.h>
#include <errno.h>
#include <stddef.h>

#include "bench_os.h"

void bench_die_with_parent(int sig)
{
	procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig);
}

/* The shared (not _PRIVATE) ops: the word is in a MAP_SHARED region. */
int bench_word_wait(uint32_t *w, uint32_t val)
{
	/* Returns 0 at once when *w != val, where a futex says EAGAIN. */
	return _umtx_op(w, UMTX_OP_WAIT_UINT, val, NULL, NULL) ? -errno : 0;
}

int bench_word_wake(uint32_t *w)
{
	return _umtx_op(w, UMTX_OP_WAKE, 1, NULL, NULL) ? -errno : 0;
}
