/* SPDX-License-Identifier: MIT */
/*
 * What the linux backend's own files share (platforms/linux/ only): chunks
 * shared with the kernel through /dev/cse, whose words are waited on and
 * woken with the device's ioctls instead of futexes.
 */
#ifndef CSE_LINUX_H
#define CSE_LINUX_H

#include "posix.h"

/* Record a chunk shared with the kernel through device file @fd (wait.c). */
int cse_linux_dev_chunk_add(char *base, size_t size, int fd);
/*
 * Map the @size-byte chunk behind connection file @conn_fd (a duplicate of
 * it is kept for the wait and wake ioctls) and record it (shm.c).
 */
int cse_linux_dev_chunk_map(int conn_fd, size_t size, struct cse_os_shm **out);

#endif /* CSE_LINUX_H */
