/* SPDX-License-Identifier: MIT */
/*
 * Kernel version differences, all in one place.  Everything else in
 * kernel/linux/ is written against the newest API and uses these names.
 */
#ifndef CSE_KERNEL_COMPAT_H
#define CSE_KERNEL_COMPAT_H

#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/version.h>

/* 5.17 renamed complete_and_exit() and moved it into kthread.h. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 17, 0)
#define cse_kthread_complete_and_exit(c, code) complete_and_exit(c, code)
#else
#define cse_kthread_complete_and_exit(c, code) kthread_complete_and_exit(c, code)
#endif

#endif /* CSE_KERNEL_COMPAT_H */
