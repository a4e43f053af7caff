// SPDX-License-Identifier: MIT
/*
 * K-U over loopback TCP: when a user server gave a loopback TCP port, a
 * kernel client's end sends its messages without a chunk (backup
 * commands, submitted offsets) over a TCP connection to 127.0.0.1, opened
 * the first time one is needed, and a receive thread queues what comes
 * back on it with the rest.  The chunk and the server's death still go
 * through the device.
 */
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/net_namespace.h>

#include "compat.h"
#include "ctl_int.h"
#include "os_kernel.h"

/* All of @len bytes, or an error (0 at end-of-file counts as -ECONNRESET). */
static int tcp_recv_all(struct socket *sock, void *buf, size_t len)
{
	struct kvec v = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_WAITALL };
	int n = kernel_recvmsg(sock, &msg, &v, 1, len, MSG_WAITALL);

	if (n == (int)len)
		return 0;
	return n < 0 ? n : -ECONNRESET;
}

/* Queue a message that came over TCP, as if sent in the kernel. */
static void tcp_queue(struct cse_os_ctl *c, struct ctl_msg *m)
{
	spin_lock(&cse_kctl_lock);
	list_add_tail(&m->node, &c->msgs);
	cse_kctl_notify(c);
	spin_unlock(&cse_kctl_lock);
}

/*
 * The client end's receive thread: frames from the user server.  The server
 * is untrusted: a bad frame ends the connection, like its death.  Waits for
 * kthread_stop() at the end, so close can always stop it.
 */
static int tcp_rx_main(void *arg)
{
	struct cse_os_ctl *c = arg;
	struct cse_dev_frame f;
	struct ctl_msg *m;

	while (!kthread_should_stop()) {
		if (tcp_recv_all(c->tcp, &f, sizeof(f)))
			break;
		if (f.resv || !f.len || f.len > CSE_OS_CTL_MSG_MAX)
			break;
		m = kmalloc(sizeof(*m) + f.len, GFP_KERNEL);
		if (!m)
			break;
		m->shm = NULL;
		m->len = f.len;
		if (tcp_recv_all(c->tcp, m->data, f.len)) {
			kfree(m);
			break;
		}
		tcp_queue(c, m);
	}
	spin_lock(&cse_kctl_lock);
	c->tcp_eof = true;
	cse_kctl_notify(c);
	spin_unlock(&cse_kctl_lock);
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static int tcp_send_all(struct socket *sock, struct kvec *v, size_t nv, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	int n = kernel_sendmsg(sock, &msg, v, nv, len);

	return n == (int)len ? 0 : (n < 0 ? n : -EIO);
}

/* Under tcp_lock: connect to the user server and name the connection. */
static int tcp_open(struct cse_os_ctl *c)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(c->tcp_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct kvec v = { .iov_base = &c->token, .iov_len = sizeof(c->token) };
	struct task_struct *t;
	struct socket *sock;
	int ret;

	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (ret)
		return ret;
	ret = cse_kernel_connect_in(sock, &sin);
	if (!ret)
		ret = tcp_send_all(sock, &v, 1, sizeof(c->token));
	if (ret)
		goto err;
	c->tcp = sock;		/* the thread reads it; published below */
	t = kthread_create(tcp_rx_main, c, "cse-tcp-rx");
	if (IS_ERR(t)) {
		ret = PTR_ERR(t);
		c->tcp = NULL;
		goto err;
	}
	get_task_struct(t);
	c->tcp_rx = t;
	WRITE_ONCE(c->tcp, sock);	/* seen by cse_os_ctl_shutdown() */
	wake_up_process(t);
	if (READ_ONCE(c->shut))		/* shut down while we connected */
		kernel_sock_shutdown(sock, SHUT_RDWR);
	cse_os_log(CSE_LOG_INFO, "K-U backup path over 127.0.0.1:%u", c->tcp_port);
	return 0;
err:
	sock_release(sock);
	return ret;
}

int cse_kctl_tcp_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		      const void *b, size_t b_len)
{
	struct cse_dev_frame f = { .len = (u32)(a_len + b_len) };
	struct kvec v[3] = {
		{ .iov_base = &f, .iov_len = sizeof(f) },
		{ .iov_base = (void *)a, .iov_len = a_len },
		{ .iov_base = (void *)b, .iov_len = b_len },
	};
	int ret = 1;

	mutex_lock(&c->tcp_lock);
	if (READ_ONCE(c->shut)) {
		mutex_unlock(&c->tcp_lock);
		return -EPIPE;		/* shut down: open nothing new */
	}
	if (!c->tcp && !c->tcp_failed) {
		ret = tcp_open(c);
		if (ret) {
			cse_os_log(CSE_LOG_WARN, "K-U: no loopback to 127.0.0.1:%u (%d): "
				   "backup messages go through the device", c->tcp_port, ret);
			c->tcp_failed = true;
			ret = 1;
		}
	}
	if (c->tcp)
		ret = tcp_send_all(c->tcp, v, 3, sizeof(f) + a_len + b_len) ? -EPIPE : 0;
	mutex_unlock(&c->tcp_lock);
	return ret;
}
