// SPDX-License-Identifier: MIT
/*
 * Control channels inside the kernel (K-K): a registry of listening
 * server_ids and connected pairs of message queues, with the semantics the
 * core expects of a SEQPACKET socket: messages keep their boundaries, a
 * shared region can ride along (the receiver gets its own reference),
 * shutdown or close of either end reads as EOF on the other, and a poller
 * reports ends with input, EOF or pending connections.
 *
 * One spinlock guards all channel state: this is the setup and backup path,
 * never the per-command fast path, and a single lock keeps the peer and
 * poller links trivially consistent.
 *
 * A kernel client of a user server (K-U) may send its messages over
 * loopback TCP (ctl_tcp.c); the poller is poller.c, the device ctl_dev.c.
 */
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "compat.h"
#include "ctl_int.h"
#include "os_kernel.h"

DEFINE_SPINLOCK(cse_kctl_lock);
static LIST_HEAD(ctl_registry);

static int check_name(const char *id)
{
	return cse_server_id_valid(id) ? 0 : -EINVAL;
}

static struct cse_os_ctl *ctl_alloc(void)
{
	struct cse_os_ctl *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	INIT_LIST_HEAD(&c->node);
	INIT_LIST_HEAD(&c->msgs);
	INIT_LIST_HEAD(&c->pending);
	INIT_LIST_HEAD(&c->poll_node);
	init_waitqueue_head(&c->wq);
	mutex_init(&c->tcp_lock);
	return c;
}

/* Under cse_kctl_lock: wake whoever waits on @c, or its poller. */
void cse_kctl_notify(struct cse_os_ctl *c)
{
	wake_up_all(&c->wq);
	if (c->poller)
		wake_up_all(&c->poller->wq);
}

/* Under cse_kctl_lock: input, EOF, or (listener) a connection to accept. */
bool cse_kctl_ready(const struct cse_os_ctl *c)
{
	if (c->listener)
		return c->shut || !list_empty(&c->pending);
	return c->shut || !c->peer || c->peer->shut || c->tcp_eof ||
	       !list_empty(&c->msgs);
}

int cse_os_ctl_listen(const char *server_id, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c, *l;
	int ret = check_name(server_id);

	if (ret)
		return ret;
	c = ctl_alloc();
	if (!c)
		return -ENOMEM;
	c->listener = true;
	strscpy(c->name, server_id, sizeof(c->name));
	spin_lock(&cse_kctl_lock);
	list_for_each_entry(l, &ctl_registry, node) {
		if (!strcmp(l->name, c->name)) {
			spin_unlock(&cse_kctl_lock);
			kfree(c);
			return -EADDRINUSE;
		}
	}
	list_add(&c->node, &ctl_registry);
	spin_unlock(&cse_kctl_lock);
	*out = c;
	return 0;
}

int cse_os_ctl_connect(const char *server_id, struct cse_os_ctl **out)
{
	struct cse_os_ctl *a, *b, *l;
	int ret = check_name(server_id);

	if (ret)
		return ret;
	a = ctl_alloc();
	b = ctl_alloc();
	if (!a || !b) {
		kfree(a);
		kfree(b);
		return -ENOMEM;
	}
	a->peer = b;
	b->peer = a;
	ret = -ENOENT;
	spin_lock(&cse_kctl_lock);
	list_for_each_entry(l, &ctl_registry, node) {
		if (!strcmp(l->name, server_id) && !l->shut) {
			a->tcp_port = l->tcp_port;
			a->token = b->token = get_random_u64();
			list_add_tail(&b->node, &l->pending);
			cse_kctl_notify(l);
			ret = 0;
			break;
		}
	}
	spin_unlock(&cse_kctl_lock);
	if (ret) {
		kfree(a);
		kfree(b);
		return ret;
	}
	*out = a;
	return 0;
}

/* The kernel has no descriptors to run out of. */
int cse_os_ctl_reject(struct cse_os_ctl *listener, const void *msg, size_t len)
{
	return -EOPNOTSUPP;
}

int cse_os_ctl_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out)
{
	struct cse_os_ctl *c;

	spin_lock(&cse_kctl_lock);
	c = list_first_entry_or_null(&listener->pending, struct cse_os_ctl, node);
	if (c)
		list_del_init(&c->node);
	spin_unlock(&cse_kctl_lock);
	if (!c)
		return -EAGAIN;
	*out = c;
	return 0;
}

void cse_kctl_set_tcp_port(struct cse_os_ctl *listener, u16 port)
{
	spin_lock(&cse_kctl_lock);
	listener->tcp_port = port;
	spin_unlock(&cse_kctl_lock);
}

u64 cse_kctl_token(struct cse_os_ctl *c)
{
	return c->token;
}

int cse_os_ctl_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		    const void *b, size_t b_len, struct cse_os_shm *shm)
{
	struct ctl_msg *m;
	int ret = 0;

	if (a_len + b_len > CSE_OS_CTL_MSG_MAX)
		return -EMSGSIZE;
	/* A K-U client end: what carries no chunk may take the loopback. */
	if (!shm && c->tcp_port && !c->listener && c->token) {
		ret = cse_kctl_tcp_send(c, a, a_len, b, b_len);
		if (ret <= 0)
			return ret;
		ret = 0;
	}
	m = kmalloc(sizeof(*m) + a_len + b_len, GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->len = a_len + b_len;
	if (a_len)
		memcpy(m->data, a, a_len);
	if (b_len)
		memcpy(m->data + a_len, b, b_len);
	m->shm = shm ? cse_kshm_get(shm) : NULL;

	spin_lock(&cse_kctl_lock);
	if (c->shut || !c->peer || c->peer->shut) {
		ret = -EPIPE;
	} else {
		list_add_tail(&m->node, &c->peer->msgs);
		cse_kctl_notify(c->peer);
	}
	spin_unlock(&cse_kctl_lock);
	if (ret) {
		cse_os_shm_destroy(m->shm);
		kfree(m);
	}
	return ret;
}

__poll_t cse_kctl_poll(struct cse_os_ctl *c, struct file *file, poll_table *pt)
{
	__poll_t mask = 0;

	/* cse_kctl_notify() wakes c->wq on every change that matters here. */
	poll_wait(file, &c->wq, pt);
	spin_lock(&cse_kctl_lock);
	if (cse_kctl_ready(c))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (c->shut || (!c->listener && (!c->peer || c->peer->shut)))
		mask |= EPOLLHUP | EPOLLRDHUP;
	spin_unlock(&cse_kctl_lock);
	return mask;
}

static bool ctl_ready_locked(struct cse_os_ctl *c)
{
	bool r;

	spin_lock(&cse_kctl_lock);
	r = cse_kctl_ready(c);
	spin_unlock(&cse_kctl_lock);
	return r;
}

long cse_os_ctl_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		     struct cse_os_shm **shm)
{
	struct ctl_msg *m;
	bool eof = false;
	long ret;

	if (shm)
		*shm = NULL;
	for (;;) {
		spin_lock(&cse_kctl_lock);
		m = list_first_entry_or_null(&c->msgs, struct ctl_msg, node);
		if (m)
			list_del(&m->node);
		else
			eof = cse_kctl_ready(c);	/* either end shut down or gone */
		spin_unlock(&cse_kctl_lock);
		if (m)
			break;
		if (eof)
			return 0;
		if (wait_event_interruptible(c->wq, ctl_ready_locked(c)))
			return -EINTR;
	}
	if (m->len > cap) {
		ret = -EMSGSIZE;
	} else {
		memcpy(buf, m->data, m->len);
		ret = (long)m->len;
		if (shm) {
			*shm = m->shm;
			m->shm = NULL;
		}
	}
	cse_os_shm_destroy(m->shm);
	kfree(m);
	return ret;
}

int cse_os_ctl_serve_calls(struct cse_os_ctl *c, cse_os_call_fn fn, void *arg)
{
	spin_lock(&cse_kctl_lock);
	c->call_fn = fn;
	c->call_arg = arg;
	spin_unlock(&cse_kctl_lock);
	return 0;
}

/*
 * Run @call in the peer's handler on this thread.  The peer end cannot be
 * freed meanwhile: its close waits until no call runs.
 */
int cse_os_ctl_call(struct cse_os_ctl *c, struct cse_os_call *call)
{
	struct cse_os_ctl *p;
	cse_os_call_fn fn = NULL;
	void *arg = NULL;
	int ret = 0;

	spin_lock(&cse_kctl_lock);
	p = c->peer;
	if (c->shut || !p || p->shut) {
		ret = -EPIPE;
	} else if (!p->call_fn) {
		ret = -EOPNOTSUPP;	/* a user server's end: send messages */
	} else {
		fn = p->call_fn;
		arg = p->call_arg;
		p->calls++;
	}
	spin_unlock(&cse_kctl_lock);
	if (ret)
		return ret;
	ret = fn(arg, call);
	spin_lock(&cse_kctl_lock);
	/* Only a close waits for the last call, and it has set shut first. */
	if (!--p->calls && p->shut)
		wake_up_all(&p->wq);
	spin_unlock(&cse_kctl_lock);
	return ret;
}

static bool ctl_no_calls(struct cse_os_ctl *c)
{
	bool r;

	spin_lock(&cse_kctl_lock);
	r = !c->calls;
	spin_unlock(&cse_kctl_lock);
	return r;
}

void cse_os_ctl_shutdown(struct cse_os_ctl *c)
{
	struct socket *tcp;

	/*
	 * A sender blocked on a server that stopped reading gets an error.
	 * Not under tcp_lock: that sender holds it.  The socket is freed only
	 * by close, and tcp_open() checks shut again after publishing it.
	 */
	WRITE_ONCE(c->shut, true);
	tcp = READ_ONCE(c->tcp);
	if (tcp)
		kernel_sock_shutdown(tcp, SHUT_RDWR);
	spin_lock(&cse_kctl_lock);
	c->shut = true;
	cse_kctl_notify(c);
	if (c->peer)
		cse_kctl_notify(c->peer);
	spin_unlock(&cse_kctl_lock);
}

void cse_os_ctl_close(struct cse_os_ctl *c)
{
	struct cse_os_ctl *p, *tmp;
	struct ctl_msg *m, *mtmp;
	LIST_HEAD(orphans);

	if (!c)
		return;
	if (c->tcp) {
		/* Unblocks the receive thread; then nothing else touches c. */
		kernel_sock_shutdown(c->tcp, SHUT_RDWR);
		kthread_stop(c->tcp_rx);
		put_task_struct(c->tcp_rx);
		sock_release(c->tcp);
		c->tcp = NULL;
	}
	spin_lock(&cse_kctl_lock);
	c->shut = true;
	if (c->peer) {
		c->peer->peer = NULL;
		cse_kctl_notify(c->peer);
	}
	if (c->listener) {
		list_del_init(&c->node);
		list_splice_init(&c->pending, &orphans);
	}
	if (c->poller)
		list_del_init(&c->poll_node);
	spin_unlock(&cse_kctl_lock);
	/* Shut, so no call starts; those running hold c (and their server's conn). */
	wait_event(c->wq, ctl_no_calls(c));

	/* Connections nobody accepted: their clients see EOF. */
	list_for_each_entry_safe(p, tmp, &orphans, node) {
		list_del_init(&p->node);
		cse_os_ctl_close(p);
	}
	list_for_each_entry_safe(m, mtmp, &c->msgs, node) {
		cse_os_shm_destroy(m->shm);
		kfree(m);
	}
	kfree(c);
}
