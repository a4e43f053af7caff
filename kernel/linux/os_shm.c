// SPDX-License-Identifier: MIT
/*
 * Shared regions in the kernel: zeroed vmalloc_user() memory (so it can
 * later be mmap()ed by a user peer through /dev/cse), reference counted:
 * passing a region over a kernel control channel hands the peer a
 * reference, and the memory goes when the last holder destroys its view.
 */
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <cse/os.h>

#include "os_kernel.h"

struct cse_os_shm {
	struct kref ref;
	void *addr;
	size_t size;
};

int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out)
{
	struct cse_os_shm *shm;

	(void)ctl;	/* kernel regions are vmalloc_user() wherever they go */
	if (!size || size > CSE_MAX_CHUNK)
		return -EINVAL;
	shm = kzalloc(sizeof(*shm), GFP_KERNEL);
	if (!shm)
		return -ENOMEM;
	shm->addr = vmalloc_user(PAGE_ALIGN(size));
	if (!shm->addr) {
		kfree(shm);
		return -ENOMEM;
	}
	kref_init(&shm->ref);
	shm->size = size;
	*out = shm;
	return 0;
}

struct cse_os_shm *cse_kshm_get(struct cse_os_shm *shm)
{
	kref_get(&shm->ref);
	return shm;
}

static void kshm_release(struct kref *ref)
{
	struct cse_os_shm *shm = container_of(ref, struct cse_os_shm, ref);

	vfree(shm->addr);
	kfree(shm);
}

void *cse_os_shm_addr(const struct cse_os_shm *shm)
{
	return shm->addr;
}

size_t cse_os_shm_size(const struct cse_os_shm *shm)
{
	return shm->size;
}

void cse_os_shm_destroy(struct cse_os_shm *shm)
{
	if (shm)
		kref_put(&shm->ref, kshm_release);
}
