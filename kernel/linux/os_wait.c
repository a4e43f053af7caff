// SPDX-License-Identifier: MIT
/*
 * Wait and wake on a 32-bit word: the kernel's hashed variable waitqueues
 * (wait_var_event / wake_up_var) are exactly "sleep until this word
 * changes".  Sleeps are interruptible so a long idle wait never trips the
 * hung-task detector; callers re-check their condition after any return,
 * and a wait returns after any wake-up.
 */
#include <linux/jiffies.h>
#include <linux/minmax.h>
#include <linux/sched/signal.h>
#include <linux/wait_bit.h>

#include <cse/os.h>

int cse_os_sync_init(void *sync)
{
	(void)sync;
	return 0;
}

void cse_os_sync_fini(void *sync)
{
	(void)sync;
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	struct wait_queue_head *wq = __var_waitqueue(word);
	struct wait_bit_queue_entry wbq;
	/* Clamped: a huge timeout from user space must not wrap negative. */
	long left = timeout_ns ?
		    (long)min_t(u64, nsecs_to_jiffies(timeout_ns) + 1,
				MAX_SCHEDULE_TIMEOUT - 1) :
		    MAX_SCHEDULE_TIMEOUT;
	int ret = 0;

	(void)sync;
	init_wait_var_entry(&wbq, word, 0);
	for (;;) {
		prepare_to_wait_event(wq, &wbq.wq_entry, TASK_INTERRUPTIBLE);
		if (READ_ONCE(*word) != expected)
			break;
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (!left) {
			ret = -ETIMEDOUT;
			break;
		}
		left = schedule_timeout(left);
		/*
		 * Woken (or out of time): return rather than sleep again if
		 * the word is back at @expected.  A hostile user peer may have
		 * written it back to cancel our own wake-up (a kick telling a
		 * reader to stop); the caller re-checks its condition.
		 */
		if (left)
			break;
	}
	finish_wait(wq, &wbq.wq_entry);
	return ret;
}

void cse_os_wait_until_changed(__u32 *word, __u32 expected)
{
	struct wait_queue_head *wq = __var_waitqueue(word);
	struct wait_bit_queue_entry wbq;

	init_wait_var_entry(&wbq, word, 0);
	for (;;) {
		prepare_to_wait_event(wq, &wbq.wq_entry, TASK_IDLE);
		if (READ_ONCE(*word) != expected)
			break;
		schedule();
	}
	finish_wait(wq, &wbq.wq_entry);
}

void cse_os_wake(void *sync, __u32 *word)
{
	(void)sync;
	/* Pairs with the waiter's check after prepare_to_wait_event(). */
	smp_mb();
	wake_up_var(word);
}
