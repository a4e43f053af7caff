/* SPDX-License-Identifier: MIT */
/*
 * What the benchmarks need from their OS beyond POSIX, one file per
 * system (bench/bench_os_<system>.c, chosen by bench/meson.build).
 */
#ifndef CSE_BENCH_OS_H
#define CSE_BENCH_OS_H

#include <stdint.h>

/* Have the kernel send @sig to this process when its parent dies. */
void bench_die_with_parent(int sig);
/*
 * The kernel's wait on a 32-bit word of a MAP_SHARED region: sleep while
 * *@w == @val.  0, or -errno (-EAGAIN and -EINTR only mean "look again").
 */
int bench_word_wait(uint32_t *w, uint32_t val);
/* Wake one sleeper on *@w; 0 or -errno. */
int bench_word_wake(uint32_t *w);

#endif /* CSE_BENCH_OS_H */
