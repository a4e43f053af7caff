// SPDX-License-Identifier: MIT
/*
 * The mapped side of a shared region, common to the POSIX backends: each
 * backend's shm.c makes or checks the descriptor, this file maps it and
 * keeps it open so it can be passed on to the peer.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix.h"

struct cse_os_shm {
	int fd;
	void *addr;
	size_t size;
};

int cse_posix_shm_map(int fd, size_t size, struct cse_os_shm **out)
{
	struct cse_os_shm *shm;
	int ret;

	shm = cse_os_zalloc(sizeof(*shm));
	if (!shm) {
		ret = -ENOMEM;
		goto err_close;
	}
	shm->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm->addr == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	shm->fd = fd;
	shm->size = size;
	*out = shm;
	return 0;

err_free:
	cse_os_free(shm);
err_close:
	close(fd);
	return ret;
}

int cse_posix_shm_peer_size(int fd, size_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (__u64)st.st_size > CSE_MAX_CHUNK)
		return -EINVAL;
	*size = (size_t)st.st_size;
	return 0;
}

void *cse_os_shm_addr(const struct cse_os_shm *shm)
{
	return shm->addr;
}

size_t cse_os_shm_size(const struct cse_os_shm *shm)
{
	return shm->size;
}

int cse_os_shm_fd(const struct cse_os_shm *shm)
{
	return shm->fd;
}

void cse_os_shm_destroy(struct cse_os_shm *shm)
{
	if (!shm)
		return;
	cse_os_shm_forget(shm->addr);
	munmap(shm->addr, shm->size);
	close(shm->fd);
	cse_os_free(shm);
}
