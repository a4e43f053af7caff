// SPDX-License-Identifier: MIT
/*
 * Wait/wake on a futex.  The shared (non-private) operations are used for
 * every word: a chunk's words are mapped by two processes at different
 * addresses, and the kernel keys a shared futex on the page, not the
 * address.  A private word works with them too, just a little slower.
 * The futex needs no state of its own, so the sync area stays zero.
 *
 * A chunk shared with a kernel server (/dev/cse) is different: a futex
 * cannot wake a waiter in the kernel, nor the kernel a futex waiter, so
 * waits and wakes on its words go to the device as ioctls naming the
 * word's offset.  Such chunks are registered here by shm.c; with none
 * registered, the check costs one load.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "linux.h"

int cse_os_sync_init(void *sync)
{
	(void)sync;
	return 0;
}

void cse_os_sync_fini(void *sync)
{
	(void)sync;
}

#define DEV_CHUNKS_MAX 256

static struct {
	char *base;		/* published last, with release */
	size_t size;
	int fd;
} dev_chunks[DEV_CHUNKS_MAX];
static __u32 dev_chunk_count;
static pthread_mutex_t dev_chunks_lock = PTHREAD_MUTEX_INITIALIZER;

int cse_linux_dev_chunk_add(char *base, size_t size, int fd)
{
	int i, ret = -ENOSPC;

	pthread_mutex_lock(&dev_chunks_lock);
	for (i = 0; i < DEV_CHUNKS_MAX; i++) {
		if (!dev_chunks[i].base) {
			dev_chunks[i].size = size;
			dev_chunks[i].fd = fd;
			__atomic_store_n(&dev_chunks[i].base, base, __ATOMIC_RELEASE);
			cse_fetch_add(&dev_chunk_count, 1);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&dev_chunks_lock);
	return ret;
}

void cse_os_shm_forget(void *addr)
{
	int i;

	if (!cse_load(&dev_chunk_count))
		return;
	pthread_mutex_lock(&dev_chunks_lock);
	for (i = 0; i < DEV_CHUNKS_MAX; i++) {
		if (dev_chunks[i].base == addr) {
			__atomic_store_n(&dev_chunks[i].base, NULL, __ATOMIC_RELEASE);
			cse_fetch_add(&dev_chunk_count, (__u32)-1);
		}
	}
	pthread_mutex_unlock(&dev_chunks_lock);
}

/* The device behind @sync's chunk and @word's offset in it, if any. */
static bool dev_word(const void *sync, const __u32 *word, int *fd, __u32 *off)
{
	const char *base;
	int i;

	if (!sync || !cse_load(&dev_chunk_count))
		return false;
	base = (const char *)sync - offsetof(struct cse_chunk_hdr, os_area);
	for (i = 0; i < DEV_CHUNKS_MAX; i++) {
		if (__atomic_load_n(&dev_chunks[i].base, __ATOMIC_ACQUIRE) == base &&
		    (const char *)word >= base &&
		    (const char *)word < base + dev_chunks[i].size) {
			*fd = dev_chunks[i].fd;
			*off = (__u32)((const char *)word - base);
			return true;
		}
	}
	return false;
}

static long futex(__u32 *uaddr, int op, __u32 val, const struct timespec *ts)
{
#ifdef SYS_futex_time64
	/*
	 * A 32-bit build with a 64-bit time_t (_TIME_BITS=64) must use the
	 * time64 call: the old one reads a 32-bit timespec.
	 */
	if (sizeof(ts->tv_sec) != sizeof(long))
		return syscall(SYS_futex_time64, uaddr, op, val, ts, NULL, 0);
#endif
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

int cse_os_wait(void *sync, __u32 *word, __u32 expected, __u64 timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	struct cse_dev_word w = { .expected = expected, .timeout_ns = timeout_ns };
	__u64 sec;
	int fd;

	if (dev_word(sync, word, &fd, &w.offset)) {
		if (!ioctl(fd, CSE_DEV_WAIT, &w))
			return 0;
		return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
	}
	if (timeout_ns) {
		sec = timeout_ns / 1000000000ULL;
		/* Cap absurd timeouts rather than overflow a 32-bit time_t. */
		if (sec > INT_MAX)
			sec = INT_MAX;
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = (long)(timeout_ns % 1000000000ULL);
		tsp = &ts;
	}
	/* The timeout is relative, measured on CLOCK_MONOTONIC. */
	if (futex(word, FUTEX_WAIT, expected, tsp) == 0)
		return 0;
	switch (errno) {
	case EAGAIN:		/* *word != expected already */
		return 0;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EINTR:
		return -EINTR;
	default:
		return -errno;
	}
}

void cse_os_wake(void *sync, __u32 *word)
{
	struct cse_dev_word w = { 0 };
	int fd;

	if (dev_word(sync, word, &fd, &w.offset)) {
		ioctl(fd, CSE_DEV_WAKE, &w);	/* the kernel's doorbell */
		return;
	}
	futex(word, FUTEX_WAKE, INT_MAX, NULL);
}
