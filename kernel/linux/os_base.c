// SPDX-License-Identifier: MIT
/* Kernel primitives: memory, logging, time, (no) pollable events. */
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include <cse/os.h>

void *cse_os_zalloc(size_t size)
{
	/* Sleeping allocation: no core path runs in atomic context. */
	return kvzalloc(size ? size : 1, GFP_KERNEL);
}

void cse_os_free(void *p)
{
	kvfree(p);
}

void cse_os_log(int level, const char *fmt, ...)
{
	struct va_format vaf;
	va_list ap;

	va_start(ap, fmt);
	vaf.fmt = fmt;
	vaf.va = &ap;
	/* Rate-limited: a hostile user process must not flood the log. */
	switch (level) {
	case CSE_LOG_ERR:
		pr_err_ratelimited("cse: %pV\n", &vaf);
		break;
	case CSE_LOG_WARN:
		pr_warn_ratelimited("cse: %pV\n", &vaf);
		break;
	case CSE_LOG_INFO:
		pr_info_ratelimited("cse: %pV\n", &vaf);
		break;
	default:
		pr_debug("cse: %pV\n", &vaf);
		break;
	}
	va_end(ap);
}

__u64 cse_os_now_ns(void)
{
	return ktime_get_ns();
}

void cse_os_cpu_relax(void)
{
	cpu_relax();
}

void cse_os_yield(void)
{
	cond_resched();
}

/* No file descriptor to give a kernel caller: no pollable events here. */
int cse_os_event_create(struct cse_os_event **out)
{
	*out = NULL;
	return -EOPNOTSUPP;
}

void cse_os_event_destroy(struct cse_os_event *e)
{
	(void)e;
}

int cse_os_event_fd(const struct cse_os_event *e)
{
	(void)e;
	return -EOPNOTSUPP;
}

void cse_os_event_set(struct cse_os_event *e)
{
	(void)e;
}

void cse_os_event_clear(struct cse_os_event *e)
{
	(void)e;
}
