// SPDX-License-Identifier: MIT
/*
 * A pollable flag: a pipe whose read end is readable while the flag is set.
 * Both ends non-blocking, so setting a flag that is already set (a full
 * pipe) and clearing an empty one never wait.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <unistd.h>

#include "posix.h"

struct cse_os_event {
	int fds[2];
};

int cse_os_event_create(struct cse_os_event **out)
{
	struct cse_os_event *e = cse_os_zalloc(sizeof(*e));

	if (!e)
		return -ENOMEM;
	if (pipe2(e->fds, O_CLOEXEC | O_NONBLOCK)) {
		int ret = -errno;

		cse_os_free(e);
		return ret;
	}
	*out = e;
	return 0;
}

void cse_os_event_destroy(struct cse_os_event *e)
{
	if (!e)
		return;
	close(e->fds[0]);
	close(e->fds[1]);
	cse_os_free(e);
}

int cse_os_event_fd(const struct cse_os_event *e)
{
	return e->fds[0];
}

void cse_os_event_set(struct cse_os_event *e)
{
	char one = 1;

	/* EAGAIN: the pipe is full, so the flag is set already. */
	if (write(e->fds[1], &one, 1) < 0)
		return;
}

void cse_os_event_clear(struct cse_os_event *e)
{
	char buf[64];

	while (read(e->fds[0], buf, sizeof(buf)) > 0)
		;
}
