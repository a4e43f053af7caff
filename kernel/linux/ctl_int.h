/* SPDX-License-Identifier: MIT */
/*
 * The kernel's control channel in parts, named as in platforms/posix/
 * where the concern is the same (kernel/linux/ only):
 *
 *   ctl.c       the channel: the registry of server_ids, pairs of message
 *               queues, calls, shutdown and close (K-K, and the kernel's
 *               side of every /dev/cse connection)
 *   ctl_dev.c   /dev/cse: user processes as clients (U-K) and servers (K-U)
 *   ctl_tcp.c   a kernel client's loopback TCP connection to a user server
 *   poller.c    waiting for several channels
 */
#ifndef CSE_KERNEL_CTL_INT_H
#define CSE_KERNEL_CTL_INT_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include <cse/cse.h>
#include <cse/os.h>


struct ctl_msg {
	struct list_head node;
	struct cse_os_shm *shm;
	size_t len;
	char data[];
};

struct cse_os_ctl {
	struct list_head node;		/* registry (listener) or accept queue */
	bool listener;
	bool shut;
	char name[CSE_SERVER_ID_MAX];
	struct cse_os_ctl *peer;	/* NULL once the other end is closed */
	struct list_head msgs;		/* incoming messages */
	struct list_head pending;	/* listener: ends waiting for accept() */
	wait_queue_head_t wq;		/* receivers */
	struct cse_os_poller *poller;
	void *cookie;
	struct list_head poll_node;

	/* A server end that takes whole commands in one call (os.h) */
	cse_os_call_fn call_fn;
	void *call_arg;
	unsigned int calls;		/* running; close waits for none */

	/* K-U backup path (see the top of this file) */
	u16 tcp_port;			/* listener; and the client end it serves */
	u64 token;			/* both ends of a K-U connection */
	struct mutex tcp_lock;		/* opening the socket; whole frames */
	struct socket *tcp;		/* client end, once opened */
	struct task_struct *tcp_rx;
	bool tcp_failed;		/* could not open: the device path it is */
	bool tcp_eof;			/* the server closed it (or broke a frame) */
};

struct cse_os_poller {
	wait_queue_head_t wq;
	struct list_head ctls;
	bool kicked;
};

/* One lock for all channel state (ctl.c says why). */
extern spinlock_t cse_kctl_lock;

/* ctl.c, under cse_kctl_lock: wake @c's receivers and poller. */
void cse_kctl_notify(struct cse_os_ctl *c);
/* ctl.c, under cse_kctl_lock: input, end-of-file or a pending connection. */
bool cse_kctl_ready(const struct cse_os_ctl *c);
/* ctl_tcp.c: 1: not for TCP (send it in the kernel); else 0 or an error. */
int cse_kctl_tcp_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		      const void *b, size_t b_len);

#endif /* CSE_KERNEL_CTL_INT_H */
