// SPDX-License-Identifier: MIT
/*
 * Shared regions are sealed memfds.  The creator seals the size, and the
 * receiver insists on those seals: a peer able to shrink the file could make
 * every access past the new end SIGBUS in our process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "posix.h"

#define SHM_SEALS_REQUIRED	(F_SEAL_SHRINK | F_SEAL_GROW)

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
	int fd, ret;

	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
	if (ctl && cse_os_ctl_is_dev(ctl))
		return dev_chunk_create(ctl, size, out);
	fd = memfd_create("cse-chunk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, SHM_SEALS_REQUIRED | F_SEAL_SEAL)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/* A fresh memfd reads as zeroes: nothing to clear. */
	return cse_posix_shm_map(fd, size, out);
}

int cse_os_shm_adopt(int fd, struct cse_os_shm **out)
{
	size_t size;
	int seals, ret;

	ret = cse_posix_shm_peer_size(fd, &size);
	if (ret)
		goto err;
	/* Anything but a memfd (EINVAL) or unsealed: refuse. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & SHM_SEALS_REQUIRED) != SHM_SEALS_REQUIRED) {
		ret = -EPERM;
		goto err;
	}
	return cse_posix_shm_map(fd, size, out);

err:
	close(fd);
	return ret;
}
