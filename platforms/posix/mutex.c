// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <stdlib.h>

#include "posix.h"

struct cse_os_mutex {
	pthread_mutex_t m;
};

int cse_os_mutex_create(struct cse_os_mutex **out)
{
	struct cse_os_mutex *m;
	int ret;

	m = cse_os_zalloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	ret = pthread_mutex_init(&m->m, NULL);
	if (ret) {
		cse_os_free(m);
		return -ret;
	}
	*out = m;
	return 0;
}

void cse_os_mutex_destroy(struct cse_os_mutex *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->m);
	cse_os_free(m);
}

/*
 * A default mutex only fails on a corrupted or destroyed object.  Going on
 * without the lock would corrupt whatever it protects: stop here instead.
 */
void cse_os_mutex_lock(struct cse_os_mutex *m)
{
	if (pthread_mutex_lock(&m->m))
		abort();
}

void cse_os_mutex_unlock(struct cse_os_mutex *m)
{
	if (pthread_mutex_unlock(&m->m))
		abort();
}
