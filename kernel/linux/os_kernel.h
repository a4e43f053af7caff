/* SPDX-License-Identifier: MIT */
/* What the kernel primitives share among themselves. */
#ifndef CSE_OS_KERNEL_H
#define CSE_OS_KERNEL_H

#include <cse/os.h>

/* Take another reference on a shared region (for a channel's receiver). */
struct cse_os_shm *cse_kshm_get(struct cse_os_shm *shm);

#endif /* CSE_OS_KERNEL_H */
