/* SPDX-License-Identifier: MIT */
/*
 * Kernel version differences, all in one place.  Everything else in
 * kernel/linux/ is written against the newest API and uses these names.
 */
#ifndef CSE_KERNEL_COMPAT_H
#define CSE_KERNEL_COMPAT_H

#include <linux/completion.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/version.h>

/* 5.17 renamed complete_and_exit() and moved it into kthread.h. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 17, 0)
#define cse_kthread_complete_and_exit(c, code) complete_and_exit(c, code)
#else
#define cse_kthread_complete_and_exit(c, code) kthread_complete_and_exit(c, code)
#endif

/*
 * 6.19 made kernel_connect() take a struct sockaddr_unsized: an address
 * whose size is the length argument, not sizeof(struct sockaddr).
 */
static inline int cse_kernel_connect_in(struct socket *sock, struct sockaddr_in *sin)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 19, 0)
	return kernel_connect(sock, (struct sockaddr *)sin, sizeof(*sin), 0);
#else
	return kernel_connect(sock, (struct sockaddr_unsized *)sin, sizeof(*sin), 0);
#endif
}

#endif /* CSE_KERNEL_COMPAT_H */
