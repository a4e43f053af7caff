// SPDX-License-Identifier: MIT
/*
 * Shared regions are sealed memfds (posix/shm_memfd.c, which also adopts a
 * peer's), or, with a kernel server, a chunk the kernel allocates and this
 * side maps from the connection's device file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "linux.h"

/*
 * A chunk shared with the kernel is allocated there and mapped from the
 * connection's device file.  The region keeps its own descriptor of that
 * file (for the wait and wake ioctls) and is registered with wait.c.
 */
int cse_linux_dev_chunk_map(int conn_fd, size_t size, struct cse_os_shm **out)
{
	int fd, ret;

	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
	fd = fcntl(conn_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = cse_posix_shm_map(fd, size, out);
	if (ret)
		return ret;
	ret = cse_linux_dev_chunk_add(cse_os_shm_addr(*out), size, fd);
	if (ret) {
		cse_os_shm_destroy(*out);
		*out = NULL;
	}
	return ret;
}

/* A chunk for a kernel server (U-K): the kernel allocates it on request. */
static int dev_chunk_create(struct cse_os_ctl *ctl, size_t size,
			    struct cse_os_shm **out)
{
	struct cse_dev_chunk req = { .size = (__u32)size };

	if (ioctl(cse_os_ctl_fd(ctl), CSE_DEV_CHUNK, &req))
		return -errno;
	return cse_linux_dev_chunk_map(cse_os_ctl_fd(ctl), size, out);
}

int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out)
{
	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
	if (ctl && cse_os_ctl_is_dev(ctl))
		return dev_chunk_create(ctl, size, out);
	return cse_posix_memfd_create(size, out);
}
