/* SPDX-License-Identifier: MIT */
/* What the kernel primitives share among themselves. */
#ifndef CSE_OS_KERNEL_H
#define CSE_OS_KERNEL_H

#include <linux/poll.h>

#include <cse/os.h>

/* Take another reference on a shared region (for a channel's receiver). */
struct cse_os_shm *cse_kshm_get(struct cse_os_shm *shm);

/*
 * poll() on a channel end or listener behind a /dev/cse file: readable with
 * input or a connection to accept, hung up once either end is shut or gone.
 */
__poll_t cse_kctl_poll(struct cse_os_ctl *c, struct file *file, poll_table *pt);

/*
 * K-U: the loopback TCP port a user listener accepts backup connections
 * on (0: none), and the token that names a connection on it.
 */
void cse_kctl_set_tcp_port(struct cse_os_ctl *listener, u16 port);
u64 cse_kctl_token(struct cse_os_ctl *c);

#endif /* CSE_OS_KERNEL_H */
