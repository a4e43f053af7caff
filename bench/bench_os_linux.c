// SPDX-License-Identifier: MIT
/* bench/bench_os.h on Linux: prctl and the futex. */
#include <errno.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_os.h"

void bench_die_with_parent(int sig)
{
	prctl(PR_SET_PDEATHSIG, sig);
}

/* Shared (not private) futex ops: the word is in a MAP_SHARED region. */
int bench_word_wait(uint32_t *w, uint32_t val)
{
	return syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0) < 0 ? -errno : 0;
}

int bench_word_wake(uint32_t *w)
{
	return syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0) < 0 ? -errno : 0;
}
