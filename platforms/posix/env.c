// SPDX-License-Identifier: MIT
/*
 * The calls of the module environment (env.h) that are a world's own, in
 * user space: plain allocation, formatting, logging for modules, sleep and
 * the thread id.  The rest of env.h is the portable core's (cse/src/env.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cse/env.h>

#include "posix.h"

#define LOG_LINE_MAX 1024

void *cse_alloc(size_t size)
{
	/* malloc(0) may return NULL or a unique pointer: ask for one byte. */
	return malloc(size ? size : 1);
}

int cse_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static bool log_debug;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* Read the environment once: getenv() is not safe against a later setenv(). */
static void log_init(void)
{
	log_debug = getenv("CSE_DEBUG") != NULL;
}

void cse_log(int level, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX];
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int n;

	pthread_once(&log_once, log_init);
	if (level >= CSE_LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	/* Cut to the buffer, keeping room for the newline. */
	len = (size_t)n < sizeof(buf) - 2 ? (size_t)n : sizeof(buf) - 2;
	buf[len++] = '\n';
	/* One write: lines of several threads (or processes) never mix. */
	while (write(STDERR_FILENO, buf, len) < 0 && errno == EINTR)
		;
out:
	errno = saved_errno;
}

void cse_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (!ms) {
		sched_yield();
		return;
	}
	/* A signal handler ends nanosleep() early: sleep what is left. */
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

__u64 cse_thread_id(void)
{
	/* pthread_t is an integer in glibc, a pointer in musl and FreeBSD. */
	return (__u64)(uintptr_t)pthread_self();
}
