// SPDX-License-Identifier: MIT
/*
 * Control channel: the os.h entry points.  Each end of a channel is one of
 * the transports in the files beside this one (ctl_int.h): a Unix socket
 * to a user peer (ctl_unix.c), or the device to a kernel peer (ctl_dev.c),
 * whose backup commands may come over loopback TCP (ctl_tcp.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_int.h"

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

/* Wrap @fd; closes it on failure. */
int cse_ctl_new(int fd, struct cse_os_ctl **out)
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

int cse_os_ctl_listen(const char *server_id, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c;
	int ret;

	ret = cse_ctl_unix_listen(server_id, &c);
	if (ret)
		return ret;
	c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ret = cse_ctl_dev_listen(c, server_id);
	if (ret) {
		cse_os_ctl_close(c);	/* removes the socket file */
		return ret;
	}
	*out = c;
	return 0;
}

/* A user client first, else a kernel client; -EAGAIN when neither waits. */
int cse_os_ctl_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out)
{
	int ret = cse_ctl_unix_accept(listener, out);

	if (ret != -EAGAIN)
		return ret;
	ret = cse_ctl_dev_accept(listener, out);
	if (ret != -EAGAIN || listener->tcp_fd < 0)
		return ret;
	cse_ctl_tcp_accept(listener);	/* not a new connection: part of one */
	return -EAGAIN;
}

int cse_os_ctl_reject(struct cse_os_ctl *listener, const void *msg, size_t len)
{
	return cse_ctl_unix_reject(listener, msg, len);
}

int cse_os_ctl_connect(const char *server_id, struct cse_os_ctl **out)
{
	int ret = cse_ctl_unix_connect(server_id, out);

	/* No socket file, or a file nobody listens on: no user server. */
	if (ret != -ECONNREFUSED && ret != -ENOENT)
		return ret;
	/* Perhaps a kernel server has that name. */
	return cse_ctl_dev_connect(server_id, out);
}

int cse_os_ctl_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		    const void *b, size_t b_len, struct cse_os_shm *shm)
{
	if (a_len > CSE_OS_CTL_MSG_MAX || b_len > CSE_OS_CTL_MSG_MAX - a_len)
		return -EMSGSIZE;
	/* The receiver could not tell an empty message from EOF. */
	if (!a_len && !b_len)
		return -EINVAL;
	if (c->kernel_peer && c->tcp_fd >= 0 && !shm)
		return cse_ctl_tcp_send_frame(c->tcp_fd, a, a_len, b, b_len);
	if (c->kernel_peer)
		return cse_os_dev_send(c->fd, a, a_len, b, b_len, shm != NULL);
	return cse_ctl_unix_send(c, a, a_len, b, b_len, shm);
}

long cse_os_ctl_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		     struct cse_os_shm **shm)
{
	if (shm)
		*shm = NULL;
	if (c->kernel_peer)	/* a kernel client's HELLO brings its chunk */
		return cse_ctl_dev_recv(c, buf, cap, shm);
	return cse_ctl_unix_recv(c, buf, cap, shm);
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
		cse_ctl_kconn_del(c);
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
