// SPDX-License-Identifier: MIT
/*
 * Shared regions from shm_open().  The name exists only between shm_open()
 * and shm_unlink() a few lines later, so nothing is left in /dev/shm even if
 * we crash: from then on the region lives as long as a descriptor or a
 * mapping of it does, like a memfd.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix.h"

/* Names to try before giving up on EEXIST (a clash, or someone squatting). */
#define SHM_NAME_TRIES 16

static __u32 shm_counter;

/* Unpredictable enough that another user cannot pre-create our name. */
static __u32 shm_name_random(void)
{
	__u64 x = cse_os_now_ns() ^ ((__u64)(unsigned long)&x << 16);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (__u32)x;
}

int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out)
{
	(void)ctl;	/* no kernel peers here: every region is ours */
	char name[64];
	int fd = -1, ret, i;

	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
	for (i = 0; i < SHM_NAME_TRIES; i++) {
		snprintf(name, sizeof(name), "/cse.%ld.%u.%08x",
			 (long)getpid(),
			 __atomic_fetch_add(&shm_counter, 1, __ATOMIC_RELAXED),
			 shm_name_random());
		/* shm_open() sets FD_CLOEXEC (POSIX). */
		fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	shm_unlink(name);

	if (ftruncate(fd, (off_t)size)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/* A fresh object reads as zeroes: nothing to clear. */
	return cse_posix_shm_map(fd, size, out);
}

/*
 * POSIX has no seals: unlike the Linux backend this one cannot stop a peer
 * from truncating the region under us, and an access past the new end then
 * raises SIGBUS.  The emulated backend is for hosts without memfd seals;
 * it trusts its peer not to shrink the region.
 */
int cse_os_shm_adopt(int fd, struct cse_os_shm **out)
{
	size_t size;
	int ret;

	ret = cse_posix_shm_peer_size(fd, &size);
	if (ret) {
		close(fd);
		return ret;
	}
	return cse_posix_shm_map(fd, size, out);
}
