// SPDX-License-Identifier: MIT
/*
 * Sealed memfds, the shared regions of the linux and freebsd backends (both
 * have memfd_create and fcntl seals: Linux since 3.17, FreeBSD since 13.0).
 * The creator seals the size, and the receiver insists on those seals: a
 * peer able to shrink the region could make every access past the new end
 * fault in our process (SIGBUS).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/types.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include "posix.h"

#define SHM_SEALS_REQUIRED	(F_SEAL_SHRINK | F_SEAL_GROW)

int cse_posix_memfd_create(size_t size, struct cse_os_shm **out)
{
	int fd, ret;

	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
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
	/* Anything but a memfd or shm object (EINVAL), or unsealed: refuse. */
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
