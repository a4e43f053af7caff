// SPDX-License-Identifier: MIT
/*
 * Shared regions are sealed memfds, as on Linux: FreeBSD has had
 * memfd_create(3) (an anonymous POSIX shm object, shm_open2(SHM_ANON))
 * and fcntl(2) seals since 13.0.  The creator seals the size, and the
 * receiver insists on those seals: a peer able to shrink the object could
 * make every access past the new end fault in our process.
 *
 * A bare shm_open(SHM_ANON) object cannot be sealed (the kernel gives it
 * F_SEAL_SEAL from the start), so a peer of this backend would refuse it:
 * it is no fallback.  FreeBSD releases before 13 lack both memfd_create
 * and seals; this backend needs 14 (poller.c's kqueuex), and such a system
 * can use the emulated backend.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include "posix.h"

#define SHM_SEALS_REQUIRED	(F_SEAL_SHRINK | F_SEAL_GROW)

int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out)
{
	int fd, ret;

	(void)ctl;	/* no kernel peer (dev.c): every region is ours */
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
	/* Anything but a shm object (EINVAL) or unsealed: refuse. */
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
