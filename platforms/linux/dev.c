// SPDX-License-Identifier: MIT
/*
 * The routes to and from the kernel: /dev/cse (kernel/linux/cse_dev.c).
 * Each connection is one open device file (a user client's, or one a user
 * server accepted from its listener file); messages go through ioctls, and
 * the chunk is allocated by the kernel and mapped from the file (shm.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "linux.h"

/* Open the device and CONNECT or LISTEN as @server_id. */
static int dev_setup(const char *server_id, unsigned long cmd, unsigned int tcp_port,
		     int *out)
{
	struct cse_dev_connect req;
	int fd, ret;

	fd = open(CSE_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		/* No module loaded: no kernel peer either. */
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			return -ENOENT;
		return -errno;
	}
	memset(&req, 0, sizeof(req));
	strncpy(req.server_id, server_id, sizeof(req.server_id) - 1);
	if (tcp_port) {
		req.flags = CSE_DEV_LISTEN_TCP;
		req.tcp_port = (__u16)tcp_port;
	}
	if (ioctl(fd, cmd, &req)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int cse_os_dev_connect(const char *server_id, int *out)
{
	return dev_setup(server_id, CSE_DEV_CONNECT, 0, out);
}

int cse_os_dev_listen(const char *server_id, unsigned int tcp_port, int *out)
{
	return dev_setup(server_id, CSE_DEV_LISTEN, tcp_port, out);
}

int cse_os_dev_conn_token(int fd, __u64 *token)
{
	struct cse_dev_conn_info info;

	if (ioctl(fd, CSE_DEV_CONN_INFO, &info))
		return -errno;
	*token = info.token;
	return 0;
}

int cse_os_dev_accept(int listen_fd, int *out)
{
	int fd;

	do {
		fd = ioctl(listen_fd, CSE_DEV_ACCEPT);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

int cse_os_dev_send(int fd, const void *a, size_t a_len, const void *b,
		    size_t b_len, bool with_chunk)
{
	char buf[CSE_OS_CTL_MSG_MAX];
	struct cse_dev_msg m = {
		.buf = (uintptr_t)buf,
		.len = (__u32)(a_len + b_len),
		.flags = with_chunk ? CSE_DEV_MSG_CHUNK : 0,
	};

	/* The caller checked a_len + b_len <= CSE_OS_CTL_MSG_MAX. */
	memcpy(buf, a, a_len);
	memcpy(buf + a_len, b, b_len);
	if (ioctl(fd, CSE_DEV_SEND, &m))
		return errno == ECONNRESET ? -EPIPE : -errno;
	return 0;
}

long cse_os_dev_recv(int fd, void *buf, size_t cap, struct cse_os_shm **shm)
{
	struct cse_dev_msg m = {
		.buf = (uintptr_t)buf,
		.len = cap > UINT32_MAX ? UINT32_MAX : (__u32)cap,
	};
	int n, ret;

	if (shm)
		*shm = NULL;
	do {
		n = ioctl(fd, CSE_DEV_RECV, &m);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n > 0 && (m.flags & CSE_DEV_MSG_CHUNK) && shm) {
		ret = cse_linux_dev_chunk_map(fd, m.chunk_size, shm);
		if (ret)
			return ret;
	}
	return n;
}

void cse_os_dev_shutdown(int fd)
{
	ioctl(fd, CSE_DEV_SHUTDOWN);
}

int cse_os_dev_call(int fd, struct cse_os_call *call)
{
	struct cse_dev_call req = {
		.input = (uintptr_t)call->input,
		.output = (uintptr_t)call->output,
		.input_code = call->input_code,
		.flags = call->flags,
		.input_len = call->input_len,
		.output_len = call->output_len,
		.slot_off = call->slot_off,
	};
	int ran;

	/* The kernel never returns EINTR here: it waits for the handler. */
	ran = ioctl(fd, CSE_DEV_CALL, &req);
	if (ran < 0) {
		if (errno == ENOTTY)	/* a module from before CALL */
			return -EOPNOTSUPP;
		return errno == ECONNRESET ? -EPIPE : -errno;
	}
	if (call->flags & CSE_DEV_CALL_F_SLOTS)
		return ran;		/* how many of the slots ran */
	/* A slot call's results are in the slot header: req is not written back. */
	if (!(call->flags & CSE_DEV_CALL_F_SLOT)) {
		call->output_len_actual = req.output_len_actual;
		call->output_status = req.output_status;
	}
	return 0;
}
