// SPDX-License-Identifier: MIT
/*
 * Control channel: AF_UNIX SOCK_SEQPACKET, so message boundaries survive and
 * a chunk's descriptor can ride along with SCM_RIGHTS.  The address is the
 * backend's business (cse_os_ctl_address()); when it is a socket file, this
 * file removes a stale one left by a dead server and its own on close.
 *
 * SOCK_CLOEXEC, accept4() and MSG_CMSG_CLOEXEC (POSIX.1-2024) keep every
 * descriptor from leaking into a child another thread is exec'ing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cse/cse.h>

#include "posix.h"

/* Room for one maximal message, plus slack for the kernel's accounting. */
#define CTL_SOCKBUF		(4 * CSE_OS_CTL_MSG_MAX)
/* Attempts to replace a stale socket file before giving up. */
#define CTL_BIND_TRIES		3
/*
 * TCP backup connections whose token has not come yet, per listener, and
 * how long one may take: the kernel sends it right after connecting, so
 * only a stranger waits, and a stranger must not hold resources long.
 */
#define TCP_PENDING_MAX		8
#define TCP_TOKEN_WAIT_NS	1000000000ULL

struct tcp_pending {
	int fd;
	__u64 deadline_ns;
};

struct cse_os_ctl {
	int fd;
	int dev_fd;		/* listener: its /dev/cse registration, or -1 */
	/*
	 * Listener: a descriptor held in reserve (/dev/null), given up for a
	 * moment to accept and refuse a client when the process is out of
	 * them (cse_os_ctl_reject()); else -1.
	 */
	int spare_fd;
	/*
	 * Listener: its loopback TCP socket for kernel clients' backup
	 * connections; a kernel client's connection: that connection, once
	 * the kernel opened it.  Else -1.
	 */
	int tcp_fd;
	__u64 token;		/* a kernel client's connection: its name on TCP */
	/* Listener: accepted TCP connections still to name their connection */
	struct tcp_pending pending[TCP_PENDING_MAX];
	unsigned int npending;
	struct cse_os_ctl *next_kconn;	/* kconns list */
	struct cse_os_poller *poller;	/* where a late tcp_fd must join */
	void *cookie;
	bool kernel_peer;	/* fd is /dev/cse: the peer is in the kernel */
	bool unlink_path;	/* a listener that owns a socket file */
	dev_t dev;		/* that file, so close() removes only ours */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path) + 1];
};

int cse_os_ctl_fd(const struct cse_os_ctl *c)
{
	return c->fd;
}

int cse_os_ctl_extra_fds(const struct cse_os_ctl *c, int fds[2])
{
	int n = 0;

	if (c->dev_fd >= 0)
		fds[n++] = c->dev_fd;
	if (c->tcp_fd >= 0)
		fds[n++] = c->tcp_fd;
	return n;
}

void cse_os_ctl_polled(struct cse_os_ctl *c, struct cse_os_poller *p, void *cookie)
{
	c->poller = p;
	c->cookie = cookie;
}

/*
 * Kernel clients' connections, so the TCP connection a kernel client opens
 * later (naming itself by token) finds the one it belongs to.
 */
static pthread_mutex_t kconns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cse_os_ctl *kconns;

static void kconn_add(struct cse_os_ctl *c)
{
	pthread_mutex_lock(&kconns_lock);
	c->next_kconn = kconns;
	kconns = c;
	pthread_mutex_unlock(&kconns_lock);
}

static void kconn_del(struct cse_os_ctl *c)
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

static bool ctl_id_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/*
 * A server_id becomes part of a file name or an abstract socket name: keep
 * it to a safe alphabet so no id can climb out of the directory ("../x"),
 * hide a NUL, or collide with another id after escaping.
 */
static int ctl_addr(const char *server_id, struct sockaddr_un *sa,
		    socklen_t *len)
{
	size_t i;

	if (!server_id || !server_id[0])
		return -EINVAL;
	for (i = 0; server_id[i]; i++) {
		if (i >= CSE_SERVER_ID_MAX - 1 || !ctl_id_char_ok(server_id[i]))
			return -EINVAL;
	}
	memset(sa, 0, sizeof(*sa));
	return cse_os_ctl_address(server_id, sa, len);
}

static bool ctl_addr_is_file(const struct sockaddr_un *sa)
{
	return sa->sun_path[0] != '\0';
}

static int ctl_socket(int flags)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0);

	return fd < 0 ? -errno : fd;
}

/*
 * A SEQPACKET message must fit the socket buffer whole (else EMSGSIZE), and
 * a backup fragment is CSE_OS_CTL_MSG_MAX.  Only grow: never shrink a
 * buffer the system already made larger.  Best effort; the limit is the
 * administrator's (net.core.wmem_max).
 */
static void ctl_size_buffers(int fd)
{
	static const int opts[] = { SO_SNDBUF, SO_RCVBUF };
	int want = CTL_SOCKBUF;
	unsigned int i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int cur = 0;
		socklen_t len = sizeof(cur);

		if (!getsockopt(fd, SOL_SOCKET, opts[i], &cur, &len) &&
		    cur >= want)
			continue;
		setsockopt(fd, SOL_SOCKET, opts[i], &want, sizeof(want));
	}
}

/* Wrap @fd; closes it on failure. */
static int ctl_new(int fd, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c = cse_os_zalloc(sizeof(*c));

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->dev_fd = -1;
	c->tcp_fd = -1;
	c->spare_fd = -1;
	*out = c;
	return 0;
}

/* A loopback TCP listener on an ephemeral port, for K-U backup connections. */
static int tcp_listener(unsigned int *port)
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
 * Let kernel clients reach the listener too (K-U), when the kernel has CSE.
 * No device, or one we may not open (it is 0600 by default), means user
 * clients only.  An id the kernel already has (a kernel server's) is a
 * real conflict: fail rather than serve half the callers.
 */
static int ctl_listen_kernel(struct cse_os_ctl *c, const char *server_id)
{
	unsigned int port = 0;
	/* No loopback (a sandbox without lo): backup through the device. */
	int tfd = tcp_listener(&port), ret;

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

/*
 * Hand @fd to the kernel client's connection @token names (and to its
 * poller).  False if none does (a stranger, a wrong token): then the
 * caller closes it.
 */
static bool tcp_attach(int fd, __u64 token)
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

/* Stop waiting for pending connection @i's token: attach it or close it. */
static void tcp_pending_end(struct cse_os_ctl *l, unsigned int i, int ret,
			    __u64 token)
{
	int fd = l->pending[i].fd;

	if (l->poller)
		cse_os_poller_unwatch_fd(l->poller, fd);
	l->pending[i] = l->pending[--l->npending];
	if (ret || !tcp_attach(fd, token))
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
static void tcp_accept(struct cse_os_ctl *l)
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
		if (ret || !tcp_attach(fd, token))
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

/*
 * bind() said the socket file exists.  Connect to it: if someone answers (or
 * its backlog is full) the server is alive; ECONNREFUSED means nobody
 * listens any more, so the file is a leftover of a dead server: remove it.
 * The probe is non-blocking so a busy live server cannot stall us.
 *
 * Two servers starting at once on a stale file can race here (both see it
 * stale, the second unlinks the first's fresh file); close() then checks the
 * inode so the loser at least does not remove the winner's file.
 */
static int ctl_reclaim_stale(const struct sockaddr_un *sa, socklen_t len)
{
	int fd, ret;

	fd = ctl_socket(SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	ret = connect(fd, (const struct sockaddr *)sa, len) ? -errno : 0;
	close(fd);

	switch (ret) {
	case -ECONNREFUSED:
		if (unlink(sa->sun_path) && errno != ENOENT)
			return -errno;
		return 0;
	case -ENOENT:		/* removed meanwhile: bind again */
		return 0;
	case 0:
	case -EAGAIN:
	case -EINPROGRESS:
		return -EADDRINUSE;
	default:
		return ret;
	}
}

int cse_os_ctl_listen(const char *server_id, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c;
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int fd, ret, tries;

	ret = ctl_addr(server_id, &sa, &len);
	if (ret)
		return ret;
	/* Non-blocking: a wakeup may be for the device's accept queue. */
	fd = ctl_socket(SOCK_NONBLOCK);
	if (fd < 0)
		return fd;

	for (tries = 0;; tries++) {
		if (!bind(fd, (struct sockaddr *)&sa, len))
			break;
		ret = -errno;
		/* An abstract name vanishes with its socket: in use is live. */
		if (ret != -EADDRINUSE || !ctl_addr_is_file(&sa) ||
		    tries == CTL_BIND_TRIES)
			goto err_close;
		ret = ctl_reclaim_stale(&sa, len);
		if (ret)
			goto err_close;
	}
	if (listen(fd, SOMAXCONN)) {
		ret = -errno;
		close(fd);
		goto err_unlink;
	}
	ret = ctl_new(fd, &c);		/* closes fd on failure */
	if (ret)
		goto err_unlink;
	if (ctl_addr_is_file(&sa) && !stat(sa.sun_path, &st)) {
		c->unlink_path = true;
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		memcpy(c->path, sa.sun_path, sizeof(sa.sun_path));
	}
	c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ret = ctl_listen_kernel(c, server_id);
	if (ret) {
		cse_os_ctl_close(c);	/* removes the socket file */
		return ret;
	}
	*out = c;
	return 0;

err_unlink:
	if (ctl_addr_is_file(&sa))
		unlink(sa.sun_path);
	return ret;
err_close:
	close(fd);
	return ret;
}

/* A user client first, else a kernel client; -EAGAIN when neither waits. */
int cse_os_ctl_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out)
{
	int fd, ret;

	do {
		fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd >= 0) {
		ctl_size_buffers(fd);
		return ctl_new(fd, out);
	}
	if ((errno != EAGAIN && errno != EWOULDBLOCK) || listener->dev_fd < 0)
		return -errno;
	ret = cse_os_dev_accept(listener->dev_fd, &fd);
	if (!ret) {
		ret = ctl_new(fd, out);
		if (ret)
			return ret;
		(*out)->kernel_peer = true;
		if (!cse_os_dev_conn_token(fd, &(*out)->token))
			kconn_add(*out);
		return 0;
	}
	if (ret != -EAGAIN || listener->tcp_fd < 0)
		return ret;
	tcp_accept(listener);		/* not a new connection: part of one */
	return -EAGAIN;
}

int cse_os_ctl_reject(struct cse_os_ctl *listener, const void *msg, size_t len)
{
	int fd, ret = 0;

	if (listener->spare_fd < 0)
		listener->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (listener->spare_fd < 0)
		return -errno;
	close(listener->spare_fd);
	fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		ret = errno == EWOULDBLOCK ? -EAGAIN : -errno;
	} else {
		/* Best effort, never blocking: the client may be gone already. */
		if (send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			ret = -errno;
		close(fd);
	}
	listener->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return ret;
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

static int tcp_send_frame(int fd, const void *a, size_t a_len, const void *b,
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
static long tcp_recv_frame(int fd, void *buf, size_t cap)
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

/* A kernel client's connection: the device, or its TCP backup connection. */
static long kconn_recv(struct cse_os_ctl *c, void *buf, size_t cap,
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
	return tcp_recv_frame(c->tcp_fd, buf, cap);
}

int cse_os_ctl_connect(const char *server_id, struct cse_os_ctl **out)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, ret;

	ret = ctl_addr(server_id, &sa, &len);
	if (ret)
		return ret;
	fd = ctl_socket(0);
	if (fd < 0)
		return fd;
	ctl_size_buffers(fd);
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		ret = -errno;
		close(fd);
		/* No socket file, or a file nobody listens on: no user server. */
		if (ret != -ECONNREFUSED && ret != -ENOENT)
			return ret;
		/* Perhaps a kernel server has that name. */
		ret = cse_os_dev_connect(server_id, &fd);
		if (ret)
			return ret;
		ret = ctl_new(fd, out);
		if (!ret)
			(*out)->kernel_peer = true;
		return ret;
	}
	return ctl_new(fd, out);
}

int cse_os_ctl_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		    const void *b, size_t b_len, struct cse_os_shm *shm)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct iovec iov[2] = {
		{ .iov_base = (void *)a, .iov_len = a_len },
		{ .iov_base = (void *)b, .iov_len = b_len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (a_len > CSE_OS_CTL_MSG_MAX || b_len > CSE_OS_CTL_MSG_MAX - a_len)
		return -EMSGSIZE;
	/* The receiver could not tell an empty message from EOF. */
	if (!a_len && !b_len)
		return -EINVAL;
	if (c->kernel_peer && c->tcp_fd >= 0 && !shm)
		return tcp_send_frame(c->tcp_fd, a, a_len, b, b_len);
	if (c->kernel_peer)
		return cse_os_dev_send(c->fd, a, a_len, b, b_len, shm != NULL);

	if (shm) {
		struct cmsghdr *cm;
		int fd = cse_os_shm_fd(shm);

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	}

	do {
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == ECONNRESET || errno == ENOTCONN)
			return -EPIPE;
		return -errno;
	}
	/* SEQPACKET sends all or nothing. */
	return (size_t)n == a_len + b_len ? 0 : -EIO;
}

static void ctl_close_fds(const int *fds, unsigned int n)
{
	while (n--)
		close(fds[n]);
}

/*
 * musl's CMSG_NXTHDR compares a size_t with a ptrdiff_t inside the macro,
 * and clang (zig, for the ppc64 musl build) reports it there as our
 * -Wsign-compare; the macro is the C library's, so its warning is silenced
 * here only.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
static struct cmsghdr *ctl_next_cmsg(struct msghdr *msg, struct cmsghdr *cm)
{
	return CMSG_NXTHDR(msg, cm);
}
#pragma GCC diagnostic pop

long cse_os_ctl_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		     struct cse_os_shm **shm)
{
	/* One descriptor is all a peer may send; room for a few to close. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctrl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.buf,
		.msg_controllen = sizeof(ctrl.buf),
	};
	struct cmsghdr *cm;
	int fds[4];
	unsigned int nfds = 0;
	bool bad = false;
	ssize_t n;
	int ret;

	if (shm)
		*shm = NULL;
	if (c->kernel_peer)	/* a kernel client's HELLO brings its chunk */
		return kconn_recv(c, buf, cap, shm);
	do {
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? 0 : -errno;

	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = ctl_next_cmsg(&msg, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			if (nfds == sizeof(fds) / sizeof(fds[0])) {
				bad = true;	/* cannot happen: buffer size */
				break;
			}
			memcpy(&fds[nfds++], CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(int));
		}
	}
	/*
	 * A cut message or cut control data is a protocol violation; so are
	 * several descriptors.  Close whatever came so nothing leaks.
	 */
	if (bad || nfds > 1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		ctl_close_fds(fds, nfds);
		/*
		 * Control data cut with no descriptor in it, and room for
		 * four: the kernel had no descriptor left to give us.
		 */
		if (!bad && !nfds && !(msg.msg_flags & MSG_TRUNC))
			return -EMFILE;
		return -EMSGSIZE;
	}
	if (!nfds)
		return n;
	if (!shm || n == 0) {
		close(fds[0]);
		return n;
	}
	/* cse_os_shm_adopt() owns the descriptor from here, even on error. */
	ret = cse_os_shm_adopt(fds[0], shm);
	if (ret) {
		*shm = NULL;
		return ret;
	}
	return n;
}

/* A user-space server takes backup commands as messages only. */
int cse_os_ctl_serve_calls(struct cse_os_ctl *c, cse_os_call_fn fn, void *arg)
{
	(void)c;
	(void)fn;
	(void)arg;
	return -EOPNOTSUPP;
}

/* To a kernel server: one ioctl. */
int cse_os_ctl_call(struct cse_os_ctl *c, struct cse_os_call *call)
{
	if (!c->kernel_peer)
		return -EOPNOTSUPP;
	return cse_os_dev_call(c->fd, call);
}

void cse_os_ctl_shutdown(struct cse_os_ctl *c)
{
	/* Wakes a recv() blocked on another thread: it returns 0. */
	if (c->kernel_peer)
		cse_os_dev_shutdown(c->fd);
	else
		shutdown(c->fd, SHUT_RDWR);
	if (c->kernel_peer && c->tcp_fd >= 0)
		shutdown(c->tcp_fd, SHUT_RDWR);
}

void cse_os_ctl_close(struct cse_os_ctl *c)
{
	struct stat st;

	if (!c)
		return;
	/* Remove the socket file only if it is still the one we bound. */
	if (c->unlink_path && !stat(c->path, &st) && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	if (c->token)
		kconn_del(c);
	while (c->npending)
		close(c->pending[--c->npending].fd);
	if (c->tcp_fd >= 0)
		close(c->tcp_fd);
	if (c->dev_fd >= 0)
		close(c->dev_fd);	/* kernel clients waiting see end-of-file */
	if (c->spare_fd >= 0)
		close(c->spare_fd);
	close(c->fd);
	cse_os_free(c);
}
