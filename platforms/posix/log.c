// SPDX-License-Identifier: MIT
/*
 * Logging to stderr.  Tests stay quiet: debug needs CSE_DEBUG, info needs
 * CSE_DEBUG or CSE_VERBOSE, warnings and errors always print.  Each message
 * is formatted into one buffer and written with one write() so lines from
 * several threads (or processes sharing stderr) never interleave.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "posix.h"

#define LOG_LINE_MAX 1024

static int log_max_level;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* Read the environment once: getenv() is not safe against a later setenv(). */
static void log_init(void)
{
	if (getenv("CSE_DEBUG"))
		log_max_level = CSE_LOG_DEBUG;
	else if (getenv("CSE_VERBOSE"))
		log_max_level = CSE_LOG_INFO;
	else
		log_max_level = CSE_LOG_WARN;
}

static const char *log_level_name(int level)
{
	if (level <= CSE_LOG_ERR)
		return "error";
	if (level <= CSE_LOG_WARN)
		return "warning";
	if (level <= CSE_LOG_INFO)
		return "info";
	return "debug";
}

void cse_os_log(int level, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX];
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int n;

	pthread_once(&log_once, log_init);
	if (level > log_max_level)
		return;

	n = snprintf(buf, sizeof(buf), "cse: %s: ", log_level_name(level));
	if (n < 0)
		goto out;
	len = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	len += (size_t)n;
	/* Keep room for the newline; a cut message ends in "...". */
	if (len > sizeof(buf) - 2) {
		len = sizeof(buf) - 2;
		buf[len - 3] = buf[len - 2] = buf[len - 1] = '.';
	}
	if (len == 0 || buf[len - 1] != '\n')
		buf[len++] = '\n';

	while (write(STDERR_FILENO, buf, len) < 0 && errno == EINTR)
		;
out:
	/* Callers may log strerror(errno) and then use errno again. */
	errno = saved_errno;
}
