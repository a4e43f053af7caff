// SPDX-License-Identifier: MIT
/*
 * Worker pool: N threads taking (fn, arg) jobs from one FIFO under a mutex
 * and a condition variable.  Destroy stops new submissions, lets the workers
 * run what is queued, then joins them.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "posix.h"

/* A sanity bound, which also keeps names and the thread array small. */
#define POOL_MAX_THREADS 1024

struct pool_job {
	struct pool_job *next;
	void (*fn)(void *arg);
	void *arg;
};

struct cse_os_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* jobs queued or stopping */
	struct pool_job *head;
	struct pool_job **tail;
	bool stopping;
	unsigned int nthreads;		/* started, to join */
	struct cse_os_thread **threads;
};

static void pool_worker(void *arg)
{
	struct cse_os_pool *p = arg;
	struct pool_job *job;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		job = p->head;
		if (!job)
			break;		/* stopping and drained */
		p->head = job->next;
		if (!p->head)
			p->tail = &p->head;
		pthread_mutex_unlock(&p->lock);

		job->fn(job->arg);
		free(job);

		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Stop the pool, wait for its threads and free it.  Jobs still run first. */
static void pool_stop(struct cse_os_pool *p)
{
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);

	for (i = 0; i < p->nthreads; i++)
		cse_os_thread_join(p->threads[i]);

	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	cse_os_free(p->threads);
	cse_os_free(p);
}

int cse_os_pool_create(unsigned int nthreads, const char *name,
		       struct cse_os_pool **out)
{
	struct cse_os_pool *p;
	char tname[32];
	unsigned int i;
	int ret;

	if (!nthreads || nthreads > POOL_MAX_THREADS)
		return -EINVAL;
	p = cse_os_zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->threads = cse_os_zalloc(nthreads * sizeof(*p->threads));
	if (!p->threads) {
		ret = -ENOMEM;
		goto err_free;
	}
	p->tail = &p->head;
	ret = -pthread_mutex_init(&p->lock, NULL);
	if (ret)
		goto err_free;
	ret = -pthread_cond_init(&p->cond, NULL);
	if (ret)
		goto err_mutex;

	for (i = 0; i < nthreads; i++) {
		/* "<name>-<i>" in 15 bytes: cut the name, keep the index. */
		snprintf(tname, sizeof(tname), "%.10s-%u", name ? name : "cse",
			 i);
		ret = cse_os_thread_start(&p->threads[i], tname, pool_worker,
					  p);
		if (ret) {
			pool_stop(p);	/* joins the p->nthreads started */
			return ret;
		}
		p->nthreads++;
	}
	*out = p;
	return 0;

err_mutex:
	pthread_mutex_destroy(&p->lock);
err_free:
	cse_os_free(p->threads);
	cse_os_free(p);
	return ret;
}

int cse_os_pool_submit(struct cse_os_pool *p, void (*fn)(void *arg), void *arg)
{
	struct pool_job *job;

	if (!fn)
		return -EINVAL;
	job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->next = NULL;
	job->fn = fn;
	job->arg = arg;

	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		/* Only a job running during destroy can get here. */
		pthread_mutex_unlock(&p->lock);
		free(job);
		return -ESHUTDOWN;
	}
	*p->tail = job;
	p->tail = &job->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Must not be called from one of the pool's own jobs (it joins them). */
void cse_os_pool_destroy(struct cse_os_pool *p)
{
	if (p)
		pool_stop(p);
}
