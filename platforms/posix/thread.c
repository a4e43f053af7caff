// SPDX-License-Identifier: MIT
/*
 * Threads.  Every thread the runtime starts runs with all signals blocked,
 * so SIGINT, SIGTERM or SIGPIPE reach the application's own threads and
 * never interrupt a reader in the middle of a message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "posix.h"

/* Linux limits a thread name to 15 bytes and the NUL (FreeBSD to 19). */
#define THREAD_NAME_MAX 16

struct cse_os_thread {
	pthread_t tid;
	void (*fn)(void *arg);
	void *arg;
	char name[THREAD_NAME_MAX];
};

static void *thread_main(void *data)
{
	struct cse_os_thread *t = data;

#ifdef CSE_HAVE_PTHREAD_SETNAME_NP	/* platforms/meson.build */
	/* Only cosmetic (ps, top, gdb): ignore failure. */
	pthread_setname_np(pthread_self(), t->name);
#endif
	t->fn(t->arg);
	return NULL;
}

int cse_os_thread_start(struct cse_os_thread **out, const char *name,
			void (*fn)(void *arg), void *arg)
{
	struct cse_os_thread *t;
	sigset_t all, old;
	int ret;

	if (!fn)
		return -EINVAL;
	t = cse_os_zalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "cse");

	/*
	 * A new thread inherits the creator's mask: block everything around
	 * pthread_create() so there is no window in which the new thread
	 * could take a signal before it masks it itself.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&t->tid, NULL, thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		cse_os_free(t);
		return -ret;
	}
	*out = t;
	return 0;
}

void cse_os_thread_join(struct cse_os_thread *t)
{
	if (!t)
		return;
	pthread_join(t->tid, NULL);
	cse_os_free(t);
}
