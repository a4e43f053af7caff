// SPDX-License-Identifier: MIT
/*
 * Control channel, /dev/cse: a user client of a kernel server (U-K) and a
 * kernel client of a user server (K-U) talk through the device file of
 * their connection (platforms/<backend>/dev.c does the ioctls); a kernel
 * client's connection may also have a loopback TCP connection for its
 * backup commands (ctl_tcp.c), found here by its token.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "ctl_int.h"

/*
 * Kernel clients' connections, so the TCP connection a kernel client opens
 * later (naming itself by token) finds the one it belongs to.
 */
static pthread_mutex_t kconns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cse_os_ctl *kconns;

void cse_ctl_kconn_add(struct cse_os_ctl *c)
{
	pthread_mutex_lock(&kconns_lock);
	c->next_kconn = kconns;
	kconns = c;
	pthread_mutex_unlock(&kconns_lock);
}

void cse_ctl_kconn_del(struct cse_os_ctl *c)
{
	struct cse_os_ctl **pp;

	pthread_mutex_lock(&kconns_lock);
	for (pp = &kconns; *pp; pp = &(*pp)->next_kconn) {
		if (*pp == c) {
			*pp = c->next_kconn;
			break;
		}
	}
	pthread_mutex_unlock(&kconns_lock);
}

bool cse_os_ctl_is_dev(const struct cse_os_ctl *c)
{
	return c->kernel_peer;
}

/*
 * Let kernel clients reach the listener too (K-U), when the kernel has CSE.
 * No device, or one we may not open (it is 0600 by default), means user
 * clients only.  An id the kernel already has (a kernel server's) is a
 * real conflict: fail rather than serve half the callers.
 */
int cse_ctl_dev_listen(struct cse_os_ctl *c, const char *server_id)
{
	unsigned int port = 0;
	/* No loopback (a sandbox without lo): backup through the device. */
	int tfd = cse_ctl_tcp_listener(&port), ret;

	ret = cse_os_dev_listen(server_id, tfd >= 0 ? port : 0, &c->dev_fd);
	if (ret) {
		if (tfd >= 0)
			close(tfd);
		c->dev_fd = -1;
		return ret == -ENOENT || ret == -EACCES || ret == -EPERM ? 0 : ret;
	}
	c->tcp_fd = tfd;
	return 0;
}

/*
 * Hand @fd to the kernel client's connection @token names (and to its
 * poller).  False if none does (a stranger, a wrong token): then the
 * caller closes it.
 */
bool cse_ctl_kconn_attach(int fd, __u64 token)
{
	struct cse_os_ctl *c;
	bool attached = false;

	pthread_mutex_lock(&kconns_lock);
	for (c = kconns; c; c = c->next_kconn)
		if (c->token == token && c->tcp_fd < 0)
			break;
	if (c && (!c->poller || !cse_os_poller_watch_fd(c->poller, fd, c->cookie))) {
		c->tcp_fd = fd;
		attached = true;
	}
	pthread_mutex_unlock(&kconns_lock);
	return attached;
}

/* A kernel client's connection: the device, or its TCP backup connection. */
long cse_ctl_dev_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		       struct cse_os_shm **shm)
{
	struct pollfd p[2] = {
		{ .fd = c->fd, .events = POLLIN },
		{ .fd = c->tcp_fd, .events = POLLIN },
	};

	if (c->tcp_fd < 0)
		return cse_os_dev_recv(c->fd, buf, cap, shm);
	while (poll(p, 2, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (p[0].revents || !p[1].revents)
		return cse_os_dev_recv(c->fd, buf, cap, shm);
	if (shm)
		*shm = NULL;
	return cse_ctl_tcp_recv_frame(c->tcp_fd, buf, cap);
}

/* A kernel client waiting on the listener's registration, if any. */
int cse_ctl_dev_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out)
{
	int fd, ret;

	if (listener->dev_fd < 0)
		return -EAGAIN;
	ret = cse_os_dev_accept(listener->dev_fd, &fd);
	if (ret)
		return ret;
	ret = cse_ctl_new(fd, out);
	if (ret)
		return ret;
	(*out)->kernel_peer = true;
	if (!cse_os_dev_conn_token(fd, &(*out)->token))
		cse_ctl_kconn_add(*out);
	return 0;
}

/* A kernel server of that name (U-K). */
int cse_ctl_dev_connect(const char *server_id, struct cse_os_ctl **out)
{
	int fd, ret;

	ret = cse_os_dev_connect(server_id, &fd);
	if (ret)
		return ret;
	ret = cse_ctl_new(fd, out);
	if (!ret)
		(*out)->kernel_peer = true;
	return ret;
}
