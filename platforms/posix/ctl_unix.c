// SPDX-License-Identifier: MIT
/*
 * Control channel, Unix socket: AF_UNIX SOCK_SEQPACKET, so message boundaries survive and
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
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_int.h"

/* Room for one maximal message, plus slack for the kernel's accounting. */
#define CTL_SOCKBUF		(4 * CSE_OS_CTL_MSG_MAX)
/* Attempts to replace a stale socket file before giving up. */
#define CTL_BIND_TRIES		3

/* A server_id becomes part of a file name or an abstract socket name. */
int cse_ctl_unix_addr(const char *server_id, struct sockaddr_un *sa,
		    socklen_t *len)
{
	if (!cse_server_id_valid(server_id))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	return cse_os_ctl_address(server_id, sa, len);
}

bool cse_ctl_unix_addr_is_file(const struct sockaddr_un *sa)
{
	return sa->sun_path[0] != '\0';
}

int cse_ctl_unix_socket(int flags)
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
void cse_ctl_unix_size_buffers(int fd)
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
static int cse_ctl_unix_reclaim_stale(const struct sockaddr_un *sa, socklen_t len)
{
	int fd, ret;

	fd = cse_ctl_unix_socket(SOCK_NONBLOCK);
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

int cse_ctl_unix_listen(const char *server_id, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c;
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int fd, ret, tries;

	ret = cse_ctl_unix_addr(server_id, &sa, &len);
	if (ret)
		return ret;
	/* Non-blocking: a wakeup may be for the device's accept queue. */
	fd = cse_ctl_unix_socket(SOCK_NONBLOCK);
	if (fd < 0)
		return fd;

	for (tries = 0;; tries++) {
		if (!bind(fd, (struct sockaddr *)&sa, len))
			break;
		ret = -errno;
		/* An abstract name vanishes with its socket: in use is live. */
		if (ret != -EADDRINUSE || !cse_ctl_unix_addr_is_file(&sa) ||
		    tries == CTL_BIND_TRIES)
			goto err_close;
		ret = cse_ctl_unix_reclaim_stale(&sa, len);
		if (ret)
			goto err_close;
	}
	if (listen(fd, SOMAXCONN)) {
		ret = -errno;
		close(fd);
		goto err_unlink;
	}
	ret = cse_ctl_new(fd, &c);		/* closes fd on failure */
	if (ret)
		goto err_unlink;
	if (cse_ctl_unix_addr_is_file(&sa) && !stat(sa.sun_path, &st)) {
		c->unlink_path = true;
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		memcpy(c->path, sa.sun_path, sizeof(sa.sun_path));
	}
	*out = c;
	return 0;

err_unlink:
	if (cse_ctl_unix_addr_is_file(&sa))
		unlink(sa.sun_path);
	return ret;
err_close:
	close(fd);
	return ret;
}

/* A user client waiting on the listening socket; -EAGAIN when none. */
int cse_ctl_unix_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out)
{
	int fd;

	do {
		fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	cse_ctl_unix_size_buffers(fd);
	return cse_ctl_new(fd, out);
}

int cse_ctl_unix_connect(const char *server_id, struct cse_os_ctl **out)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, ret;

	ret = cse_ctl_unix_addr(server_id, &sa, &len);
	if (ret)
		return ret;
	fd = cse_ctl_unix_socket(0);
	if (fd < 0)
		return fd;
	cse_ctl_unix_size_buffers(fd);
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return cse_ctl_new(fd, out);
}

int cse_ctl_unix_reject(struct cse_os_ctl *listener, const void *msg, size_t len)
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
		char hello[64];
		int i;

		/* Best effort, never blocking: the client may be gone already. */
		if (send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			ret = -errno;
		/*
		 * Read what the client sent already: closing on unread input
		 * resets the client's end before it reads our answer.
		 */
		for (i = 0; i < 4 && recv(fd, hello, sizeof(hello), MSG_DONTWAIT) > 0; i++)
			;
		close(fd);
	}
	listener->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return ret;
}

int cse_ctl_unix_send(struct cse_os_ctl *c, const void *a, size_t a_len,
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

static ssize_t ctl_recvmsg(int fd, struct msghdr *msg, int flags)
{
	size_t controllen = msg->msg_controllen;
	ssize_t n;

	do {
		msg->msg_controllen = controllen;
		msg->msg_flags = 0;
		n = recvmsg(fd, msg, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	return n;
}

long cse_ctl_unix_recv(struct cse_os_ctl *c, void *buf, size_t cap,
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

	n = ctl_recvmsg(c->fd, &msg, 0);
	/*
	 * A peer that closed with our message unread in its queue leaves
	 * ECONNRESET on our socket, and a SEQPACKET recvmsg() reports that
	 * before the messages the peer sent us first.  Those are still
	 * queued: a refusing server's welcome is one, and says why.
	 */
	if (n < 0 && errno == ECONNRESET) {
		n = ctl_recvmsg(c->fd, &msg, MSG_DONTWAIT);
		if (n < 0)
			return 0;	/* nothing was left: end of file */
	}
	if (n < 0)
		return -errno;

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
