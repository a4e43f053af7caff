// SPDX-License-Identifier: MIT
/* Kernel primitives: mutexes, kthreads, and worker pools on a workqueue. */
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include <cse/os.h>

#include "compat.h"

struct cse_os_mutex {
	struct mutex m;
};

int cse_os_mutex_create(struct cse_os_mutex **out)
{
	struct cse_os_mutex *m = kzalloc(sizeof(*m), GFP_KERNEL);

	if (!m)
		return -ENOMEM;
	mutex_init(&m->m);
	*out = m;
	return 0;
}

void cse_os_mutex_destroy(struct cse_os_mutex *m)
{
	if (!m)
		return;
	mutex_destroy(&m->m);
	kfree(m);
}

void cse_os_mutex_lock(struct cse_os_mutex *m)
{
	mutex_lock(&m->m);
}

void cse_os_mutex_unlock(struct cse_os_mutex *m)
{
	mutex_unlock(&m->m);
}

struct cse_os_thread {
	void (*fn)(void *arg);
	void *arg;
	struct completion done;
};

static int kthread_main(void *data)
{
	struct cse_os_thread *t = data;

	t->fn(t->arg);
	/* Never returns: safe even if the module goes away right after. */
	cse_kthread_complete_and_exit(&t->done, 0);
}

int cse_os_thread_start(struct cse_os_thread **out, const char *name,
			void (*fn)(void *arg), void *arg)
{
	struct cse_os_thread *t = kzalloc(sizeof(*t), GFP_KERNEL);
	struct task_struct *task;

	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	init_completion(&t->done);
	task = kthread_run(kthread_main, t, "%s", name);
	if (IS_ERR(task)) {
		kfree(t);
		return PTR_ERR(task);
	}
	*out = t;
	return 0;
}

void cse_os_thread_join(struct cse_os_thread *t)
{
	if (!t)
		return;
	wait_for_completion(&t->done);
	kfree(t);
}

struct cse_os_pool {
	struct workqueue_struct *wq;
};

struct pool_item {
	struct work_struct work;
	void (*fn)(void *arg);
	void *arg;
};

static void pool_run(struct work_struct *work)
{
	struct pool_item *it = container_of(work, struct pool_item, work);

	it->fn(it->arg);
	kfree(it);
}

int cse_os_pool_create(unsigned int nthreads, const char *name,
		       struct cse_os_pool **out)
{
	struct cse_os_pool *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	/* Unbound: exec handlers may sleep for long; at most nthreads at once. */
	p->wq = alloc_workqueue("%s", WQ_UNBOUND, nthreads ? nthreads : 1, name);
	if (!p->wq) {
		kfree(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int cse_os_pool_submit(struct cse_os_pool *p, void (*fn)(void *arg), void *arg)
{
	struct pool_item *it = kzalloc(sizeof(*it), GFP_KERNEL);

	if (!it)
		return -ENOMEM;
	INIT_WORK(&it->work, pool_run);
	it->fn = fn;
	it->arg = arg;
	queue_work(p->wq, &it->work);
	return 0;
}

void cse_os_pool_destroy(struct cse_os_pool *p)
{
	if (!p)
		return;
	destroy_workqueue(p->wq);	/* drains queued work first */
	kfree(p);
}
