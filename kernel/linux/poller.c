// SPDX-License-Identifier: MIT
/*
 * The kernel's poller: a server's control thread waits here for its
 * channels (input, end-of-file, pending connections) and for kicks.
 */
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "ctl_int.h"
#include "os_kernel.h"

int cse_os_poller_create(struct cse_os_poller **out)
{
	struct cse_os_poller *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	init_waitqueue_head(&p->wq);
	INIT_LIST_HEAD(&p->ctls);
	*out = p;
	return 0;
}

void cse_os_poller_destroy(struct cse_os_poller *p)
{
	struct cse_os_ctl *c, *tmp;

	if (!p)
		return;
	spin_lock(&cse_kctl_lock);
	list_for_each_entry_safe(c, tmp, &p->ctls, poll_node) {
		list_del_init(&c->poll_node);
		c->poller = NULL;
	}
	spin_unlock(&cse_kctl_lock);
	kfree(p);
}

int cse_os_poller_add(struct cse_os_poller *p, struct cse_os_ctl *c, void *cookie)
{
	spin_lock(&cse_kctl_lock);
	c->poller = p;
	c->cookie = cookie;
	list_add_tail(&c->poll_node, &p->ctls);
	wake_up_all(&p->wq);
	spin_unlock(&cse_kctl_lock);
	return 0;
}

int cse_os_poller_del(struct cse_os_poller *p, struct cse_os_ctl *c)
{
	spin_lock(&cse_kctl_lock);
	if (c->poller == p) {
		list_del_init(&c->poll_node);
		c->poller = NULL;
	}
	spin_unlock(&cse_kctl_lock);
	return 0;
}

/* Under cse_kctl_lock: collect ready cookies; a kick counts as ready. */
static int poller_collect(struct cse_os_poller *p, void **cookies, int max)
{
	struct cse_os_ctl *c;
	int n = 0;

	list_for_each_entry(c, &p->ctls, poll_node) {
		if (n == max)
			break;
		if (cse_kctl_ready(c))
			cookies[n++] = c->cookie;
	}
	return n;
}

static bool poller_ready(struct cse_os_poller *p)
{
	struct cse_os_ctl *c;
	bool r = p->kicked;

	spin_lock(&cse_kctl_lock);
	list_for_each_entry(c, &p->ctls, poll_node)
		r = r || cse_kctl_ready(c);
	spin_unlock(&cse_kctl_lock);
	return r;
}

int cse_os_poller_wait(struct cse_os_poller *p, void **cookies, int max,
		       int timeout_ms)
{
	long left = timeout_ms < 0 ? MAX_SCHEDULE_TIMEOUT :
				     (long)msecs_to_jiffies(timeout_ms);
	int n;

	if (wait_event_interruptible_timeout(p->wq, poller_ready(p), left) < 0)
		return 0;
	spin_lock(&cse_kctl_lock);
	p->kicked = false;
	n = poller_collect(p, cookies, max);
	spin_unlock(&cse_kctl_lock);
	return n;
}

void cse_os_poller_kick(struct cse_os_poller *p)
{
	spin_lock(&cse_kctl_lock);
	p->kicked = true;
	wake_up_all(&p->wq);
	spin_unlock(&cse_kctl_lock);
}
