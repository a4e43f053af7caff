// SPDX-License-Identifier: MIT
/*
 * cse_os_wait_until_changed() for the user-space backends: their
 * cse_os_wait() may return early (a signal, a spurious wake), and this
 * waiter must not give up, so it goes back to sleep until the word changed.
 * (The kernel sleeps as TASK_IDLE instead: kernel/linux.)
 */
#include "posix.h"

void cse_os_wait_until_changed(__u32 *word, __u32 expected)
{
	while (cse_load_acquire(word) == expected)
		cse_os_wait(NULL, word, expected, 0);
}
