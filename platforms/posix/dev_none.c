// SPDX-License-Identifier: MIT
/*
 * The route to a kernel peer for backends that have none (emulated, and
 * FreeBSD until kernel/freebsd/ exists): only user-space servers exist, and
 * they have no kernel clients, so listeners never get a device fd and the
 * poller need not watch one.  A backend with a kernel peer has its own
 * dev.c instead (platforms/linux/dev.c: /dev/cse).
 */
#include "posix.h"

int cse_os_dev_connect(const char *server_id, int *fd)
{
	(void)server_id;
	(void)fd;
	return -ENOENT;
}

int cse_os_dev_listen(const char *server_id, unsigned int tcp_port, int *fd)
{
	(void)server_id;
	(void)tcp_port;
	(void)fd;
	return -ENOENT;
}

int cse_os_dev_conn_token(int fd, __u64 *token)
{
	(void)fd;
	(void)token;
	return -EOPNOTSUPP;
}

int cse_os_dev_accept(int listen_fd, int *fd)
{
	(void)listen_fd;
	(void)fd;
	return -EOPNOTSUPP;
}

int cse_os_dev_send(int fd, const void *a, size_t a_len, const void *b,
		    size_t b_len, bool with_chunk)
{
	(void)fd;
	(void)a;
	(void)a_len;
	(void)b;
	(void)b_len;
	(void)with_chunk;
	return -EOPNOTSUPP;
}

long cse_os_dev_recv(int fd, void *buf, size_t cap, struct cse_os_shm **shm)
{
	(void)fd;
	(void)buf;
	(void)cap;
	if (shm)
		*shm = NULL;
	return -EOPNOTSUPP;
}

void cse_os_dev_shutdown(int fd)
{
	(void)fd;
}

int cse_os_dev_call(int fd, struct cse_os_call *call)
{
	(void)fd;
	(void)call;
	return -EOPNOTSUPP;
}
