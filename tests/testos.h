/* SPDX-License-Identifier: MIT */
/*
 * The few things a test asks its OS that POSIX does not offer: where its
 * own binary is, what the process holds (to prove nothing leaks), and to
 * die with its parent.  One file per OS, tests/testos_<system>.c, chosen
 * by tests/meson.build.  A count that cannot be taken is -1.
 */
#ifndef CSE_TESTS_TESTOS_H
#define CSE_TESTS_TESTOS_H

#include <stddef.h>

/* The absolute path of the running binary into @buf; 0 or -errno. */
int testos_self_exe(char *buf, size_t size);
/* Open file descriptors of this process. */
int testos_count_fds(void);
/*
 * Threads of this process, not counting those already exiting: a thread
 * pthread_join() has returned for may stay listed until the kernel has torn
 * it down, which on a slow (TCG) guest is long enough to be counted, and a
 * baseline that counted it would later see a thread "vanish".
 */
int testos_count_threads(void);
/*
 * CSE's own named POSIX shared memory objects (the emulated backend's,
 * platforms/emulated/shm.c: names start with TESTOS_SHM_PREFIX), on the
 * whole system: other programs' objects come and go on a shared host.
 */
#define TESTOS_SHM_PREFIX "cse."
int testos_count_shm(void);
/* Mappings of shared memory objects (memfd or shm_open) in this process. */
int testos_count_chunk_maps(void);
/* Have the kernel send @sig to this process when its parent dies. */
void testos_die_with_parent(int sig);

#endif /* CSE_TESTS_TESTOS_H */
