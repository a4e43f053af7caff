// SPDX-License-Identifier: MIT
/*
 * Control channel, loopback TCP: the connection a kernel client of a user
 * server (K-U) opens for its backup commands, framed (struct
 * cse_dev_frame), and the listener's side that names each new one by the
 * token it sends first.  Never blocks the server's control thread: a
 * connection whose token is late waits in the poller, a few at most.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ctl_int.h"

/* A loopback TCP listener on an ephemeral port, for K-U backup connections. */
int cse_ctl_tcp_listener(unsigned int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len)) {
		close(fd);
		return -errno;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * The token a TCP backup connection names its kernel client's connection
 * with, read without blocking: -EAGAIN if it has not come yet.  The kernel
 * sends all 8 bytes in one go over loopback, so fewer is a stranger.
 */
static int tcp_token(int fd, __u64 *token)
{
	ssize_t n = recv(fd, token, sizeof(*token), MSG_DONTWAIT | MSG_PEEK);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -EAGAIN;
	if (n != (ssize_t)sizeof(*token))
		return -EPROTO;		/* end-of-file, an error, or a cut token */
	n = recv(fd, token, sizeof(*token), MSG_DONTWAIT);
	return n == (ssize_t)sizeof(*token) ? 0 : -EPROTO;
}

/* Stop waiting for pending connection @i's token: attach it or close it. */
static void tcp_pending_end(struct cse_os_ctl *l, unsigned int i, int ret,
			    __u64 token)
{
	int fd = l->pending[i].fd;

	if (l->poller)
		cse_os_poller_unwatch_fd(l->poller, fd);
	l->pending[i] = l->pending[--l->npending];
	if (ret || !cse_ctl_kconn_attach(fd, token))
		close(fd);
}

/* Pending connections: attach those whose token came, drop the late. */
static void tcp_pending_service(struct cse_os_ctl *l, __u64 now)
{
	unsigned int i = 0;
	__u64 token = 0;
	int ret;

	while (i < l->npending) {
		ret = tcp_token(l->pending[i].fd, &token);
		if (ret == -EAGAIN && now < l->pending[i].deadline_ns)
			i++;
		else
			tcp_pending_end(l, i, ret, token);
	}
}

/*
 * A kernel client opened its TCP backup connection (or someone else did).
 * Runs on the server's control thread, like accept(), and never blocks it:
 * a connection whose token is not there yet waits in the listener's poller
 * (with the listener's cookie, so its arrival brings us back here), at
 * most TCP_PENDING_MAX of them, the oldest dropped first.
 */
void cse_ctl_tcp_accept(struct cse_os_ctl *l)
{
	__u64 now = cse_os_now_ns(), token = 0;
	unsigned int i, oldest = 0;
	int fd, ret;

	tcp_pending_service(l, now);
	fd = accept4(l->tcp_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	ret = tcp_token(fd, &token);
	if (ret != -EAGAIN) {
		if (ret || !cse_ctl_kconn_attach(fd, token))
			close(fd);
		return;
	}
	if (!l->poller || cse_os_poller_watch_fd(l->poller, fd, l->cookie)) {
		close(fd);
		return;
	}
	if (l->npending == TCP_PENDING_MAX) {
		for (i = 1; i < l->npending; i++)
			if (l->pending[i].deadline_ns < l->pending[oldest].deadline_ns)
				oldest = i;
		tcp_pending_end(l, oldest, -ETIMEDOUT, 0);
	}
	l->pending[l->npending].fd = fd;
	l->pending[l->npending++].deadline_ns = now + TCP_TOKEN_WAIT_NS;
}

/* Write all of @iov on the (blocking) TCP socket @fd. */
static int tcp_write_all(int fd, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t w;

	while (msg.msg_iovlen) {
		w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		while (msg.msg_iovlen && (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int cse_ctl_tcp_send_frame(int fd, const void *a, size_t a_len, const void *b,
			  size_t b_len)
{
	struct cse_dev_frame f = { .len = (__u32)(a_len + b_len) };
	struct iovec iov[3] = {
		{ .iov_base = &f, .iov_len = sizeof(f) },
		{ .iov_base = (void *)a, .iov_len = a_len },
		{ .iov_base = (void *)b, .iov_len = b_len },
	};

	return tcp_write_all(fd, iov, 3);
}

/* One frame from the kernel client; 0 at end-of-file. */
long cse_ctl_tcp_recv_frame(int fd, void *buf, size_t cap)
{
	struct cse_dev_frame f;
	ssize_t n;

	n = recv(fd, &f, sizeof(f), MSG_WAITALL);
	if (n <= 0)
		return n < 0 && errno != ECONNRESET ? -errno : 0;
	if (n != (ssize_t)sizeof(f) || f.resv || !f.len || f.len > cap ||
	    f.len > CSE_OS_CTL_MSG_MAX)
		return -EPROTO;
	n = recv(fd, buf, f.len, MSG_WAITALL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)f.len ? n : -EPROTO;
}
