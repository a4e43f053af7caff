// SPDX-License-Identifier: MIT
/*
 * The calls of the module environment (env.h) that are a world's own, in
 * the kernel: plain allocation, formatting, logging for modules, sleep and
 * the thread id.  The rest of env.h is the portable core's (cse/src/env.c).
 */
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/mm.h>		/* kvmalloc(): in slab.h only since 5.16 */
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include <cse/env.h>

void *cse_alloc(size_t size)
{
	/* Sleeping allocation: env.h is for process context only. */
	return kvmalloc(size ? size : 1, GFP_KERNEL);
}

int cse_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * Not rate-limited, unlike the runtime's own warnings: a module's log is
 * its own output (a test's transcript), which must come out whole.
 * Debug lines go through pr_debug(): dynamic debug turns them on.
 */
void cse_log(int level, const char *fmt, ...)
{
	struct va_format vaf;
	va_list ap;

	va_start(ap, fmt);
	vaf.fmt = fmt;
	vaf.va = &ap;
	if (level <= CSE_LOG_ERR)
		pr_err("%pV\n", &vaf);
	else if (level == CSE_LOG_WARN)
		pr_warn("%pV\n", &vaf);
	else if (level < CSE_LOG_DEBUG)
		pr_info("%pV\n", &vaf);
	else
		pr_debug("%pV\n", &vaf);
	va_end(ap);
}

/* Uninterruptible, like user space's nanosleep() loop. */
void cse_sleep_ms(unsigned int ms)
{
	u64 end, now;

	if (!ms) {
		cond_resched();
		return;
	}
	/*
	 * fsleep(): usleep_range() for short sleeps (msleep(1) takes a jiffy
	 * or two), msleep() for long ones.  msleep() counts jiffies, which
	 * can come back early by the clock cse_now_ns() reads (sid's 7.2
	 * under TCG: msleep(20) returned after 17.8 ms of ktime), so sleep
	 * again for whatever is left.
	 */
	end = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	while ((now = ktime_get_ns()) < end)
		fsleep((unsigned long)DIV_ROUND_UP_ULL(end - now, NSEC_PER_USEC));
}

__u64 cse_thread_id(void)
{
	return (__u64)(uintptr_t)current;
}
