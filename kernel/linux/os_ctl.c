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
 * K-U (a kernel client of a user server listening through /dev/cse): when
 * the server gave a loopback TCP port, the client's end sends its messages
 * without a chunk (backup commands, submitted offsets) over a TCP
 * connection to 127.0.0.1, opened the first time one is needed, and a
 * receive thread queues what comes back on it with the rest.  The chunk
 * and the server's death still go through the device.
 */
#include <linux/ctype.h>
#include <linux/in.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/uio.h>
#include <net/net_namespace.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include <cse/cse.h>
#include <cse/os.h>

#include "compat.h"
#include "os_kernel.h"

struct ctl_msg {
	struct list_head node;
	struct cse_os_shm *shm;
	size_t len;
	char data[];
};

struct cse_os_ctl {
	struct list_head node;		/* registry (listener) or accept queue */
	bool listener;
	bool shut;
	char name[CSE_SERVER_ID_MAX];
	struct cse_os_ctl *peer;	/* NULL once the other end is closed */
	struct list_head msgs;		/* incoming messages */
	struct list_head pending;	/* listener: ends waiting for accept() */
	wait_queue_head_t wq;		/* receivers */
	struct cse_os_poller *poller;
	void *cookie;
	struct list_head poll_node;

	/* A server end that takes whole commands in one call (os.h) */
	cse_os_call_fn call_fn;
	void *call_arg;
	unsigned int calls;		/* running; close waits for none */

	/* K-U backup path (see the top of this file) */
	u16 tcp_port;			/* listener; and the client end it serves */
	u64 token;			/* both ends of a K-U connection */
	struct mutex tcp_lock;		/* opening the socket; whole frames */
	struct socket *tcp;		/* client end, once opened */
	struct task_struct *tcp_rx;
	bool tcp_failed;		/* could not open: the device path it is */
	bool tcp_eof;			/* the server closed it (or broke a frame) */
};

struct cse_os_poller {
	wait_queue_head_t wq;
	struct list_head ctls;
	bool kicked;
};

static DEFINE_SPINLOCK(ctl_lock);
static LIST_HEAD(ctl_registry);

static int check_name(const char *id)
{
	size_t i, n = strnlen(id, CSE_SERVER_ID_MAX);

	if (!n || n == CSE_SERVER_ID_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char ch = id[i];

		if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-'))
			return -EINVAL;
	}
	return 0;
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

/* Under ctl_lock: wake whoever waits on @c, directly or through a poller. */
static void ctl_notify(struct cse_os_ctl *c)
{
	wake_up_all(&c->wq);
	if (c->poller)
		wake_up_all(&c->poller->wq);
}

/* Under ctl_lock: input, EOF, or (listener) a connection to accept. */
static bool ctl_ready(const struct cse_os_ctl *c)
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
	spin_lock(&ctl_lock);
	list_for_each_entry(l, &ctl_registry, node) {
		if (!strcmp(l->name, c->name)) {
			spin_unlock(&ctl_lock);
			kfree(c);
			return -EADDRINUSE;
		}
	}
	list_add(&c->node, &ctl_registry);
	spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	list_for_each_entry(l, &ctl_registry, node) {
		if (!strcmp(l->name, server_id) && !l->shut) {
			a->tcp_port = l->tcp_port;
			a->token = b->token = get_random_u64();
			list_add_tail(&b->node, &l->pending);
			ctl_notify(l);
			ret = 0;
			break;
		}
	}
	spin_unlock(&ctl_lock);
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

	spin_lock(&ctl_lock);
	c = list_first_entry_or_null(&listener->pending, struct cse_os_ctl, node);
	if (c)
		list_del_init(&c->node);
	spin_unlock(&ctl_lock);
	if (!c)
		return -EAGAIN;
	*out = c;
	return 0;
}

void cse_kctl_set_tcp_port(struct cse_os_ctl *listener, u16 port)
{
	spin_lock(&ctl_lock);
	listener->tcp_port = port;
	spin_unlock(&ctl_lock);
}

u64 cse_kctl_token(struct cse_os_ctl *c)
{
	return c->token;
}

/* All of @len bytes, or an error (0 at end-of-file counts as -ECONNRESET). */
static int tcp_recv_all(struct socket *sock, void *buf, size_t len)
{
	struct kvec v = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_WAITALL };
	int n = kernel_recvmsg(sock, &msg, &v, 1, len, MSG_WAITALL);

	if (n == (int)len)
		return 0;
	return n < 0 ? n : -ECONNRESET;
}

/* Queue a message that came over TCP, as if sent in the kernel. */
static void tcp_queue(struct cse_os_ctl *c, struct ctl_msg *m)
{
	spin_lock(&ctl_lock);
	list_add_tail(&m->node, &c->msgs);
	ctl_notify(c);
	spin_unlock(&ctl_lock);
}

/*
 * The client end's receive thread: frames from the user server.  The server
 * is untrusted: a bad frame ends the connection, like its death.  Waits for
 * kthread_stop() at the end, so close can always stop it.
 */
static int tcp_rx_main(void *arg)
{
	struct cse_os_ctl *c = arg;
	struct cse_dev_frame f;
	struct ctl_msg *m;

	while (!kthread_should_stop()) {
		if (tcp_recv_all(c->tcp, &f, sizeof(f)))
			break;
		if (f.resv || !f.len || f.len > CSE_OS_CTL_MSG_MAX)
			break;
		m = kmalloc(sizeof(*m) + f.len, GFP_KERNEL);
		if (!m)
			break;
		m->shm = NULL;
		m->len = f.len;
		if (tcp_recv_all(c->tcp, m->data, f.len)) {
			kfree(m);
			break;
		}
		tcp_queue(c, m);
	}
	spin_lock(&ctl_lock);
	c->tcp_eof = true;
	ctl_notify(c);
	spin_unlock(&ctl_lock);
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static int tcp_send_all(struct socket *sock, struct kvec *v, size_t nv, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	int n = kernel_sendmsg(sock, &msg, v, nv, len);

	return n == (int)len ? 0 : (n < 0 ? n : -EIO);
}

/* Under tcp_lock: connect to the user server and name the connection. */
static int tcp_open(struct cse_os_ctl *c)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(c->tcp_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct kvec v = { .iov_base = &c->token, .iov_len = sizeof(c->token) };
	struct task_struct *t;
	struct socket *sock;
	int ret;

	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (ret)
		return ret;
	ret = cse_kernel_connect_in(sock, &sin);
	if (!ret)
		ret = tcp_send_all(sock, &v, 1, sizeof(c->token));
	if (ret)
		goto err;
	c->tcp = sock;		/* the thread reads it; published below */
	t = kthread_create(tcp_rx_main, c, "cse-tcp-rx");
	if (IS_ERR(t)) {
		ret = PTR_ERR(t);
		c->tcp = NULL;
		goto err;
	}
	get_task_struct(t);
	c->tcp_rx = t;
	WRITE_ONCE(c->tcp, sock);	/* seen by cse_os_ctl_shutdown() */
	wake_up_process(t);
	if (READ_ONCE(c->shut))		/* shut down while we connected */
		kernel_sock_shutdown(sock, SHUT_RDWR);
	cse_os_log(CSE_LOG_INFO, "K-U backup path over 127.0.0.1:%u", c->tcp_port);
	return 0;
err:
	sock_release(sock);
	return ret;
}

/* 1: not for TCP (send it in the kernel); else 0 or an error. */
static int tcp_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		    const void *b, size_t b_len)
{
	struct cse_dev_frame f = { .len = (u32)(a_len + b_len) };
	struct kvec v[3] = {
		{ .iov_base = &f, .iov_len = sizeof(f) },
		{ .iov_base = (void *)a, .iov_len = a_len },
		{ .iov_base = (void *)b, .iov_len = b_len },
	};
	int ret = 1;

	mutex_lock(&c->tcp_lock);
	if (READ_ONCE(c->shut)) {
		mutex_unlock(&c->tcp_lock);
		return -EPIPE;		/* shut down: open nothing new */
	}
	if (!c->tcp && !c->tcp_failed) {
		ret = tcp_open(c);
		if (ret) {
			cse_os_log(CSE_LOG_WARN, "K-U: no loopback to 127.0.0.1:%u (%d): "
				   "backup messages go through the device", c->tcp_port, ret);
			c->tcp_failed = true;
			ret = 1;
		}
	}
	if (c->tcp)
		ret = tcp_send_all(c->tcp, v, 3, sizeof(f) + a_len + b_len) ? -EPIPE : 0;
	mutex_unlock(&c->tcp_lock);
	return ret;
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
		ret = tcp_send(c, a, a_len, b, b_len);
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

	spin_lock(&ctl_lock);
	if (c->shut || !c->peer || c->peer->shut) {
		ret = -EPIPE;
	} else {
		list_add_tail(&m->node, &c->peer->msgs);
		ctl_notify(c->peer);
	}
	spin_unlock(&ctl_lock);
	if (ret) {
		cse_os_shm_destroy(m->shm);
		kfree(m);
	}
	return ret;
}

__poll_t cse_kctl_poll(struct cse_os_ctl *c, struct file *file, poll_table *pt)
{
	__poll_t mask = 0;

	/* ctl_notify() wakes c->wq on every change that matters here. */
	poll_wait(file, &c->wq, pt);
	spin_lock(&ctl_lock);
	if (ctl_ready(c))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (c->shut || (!c->listener && (!c->peer || c->peer->shut)))
		mask |= EPOLLHUP | EPOLLRDHUP;
	spin_unlock(&ctl_lock);
	return mask;
}

static bool ctl_ready_locked(struct cse_os_ctl *c)
{
	bool r;

	spin_lock(&ctl_lock);
	r = ctl_ready(c);
	spin_unlock(&ctl_lock);
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
		spin_lock(&ctl_lock);
		m = list_first_entry_or_null(&c->msgs, struct ctl_msg, node);
		if (m)
			list_del(&m->node);
		else
			eof = ctl_ready(c);	/* either end shut down or gone */
		spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	c->call_fn = fn;
	c->call_arg = arg;
	spin_unlock(&ctl_lock);
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

	spin_lock(&ctl_lock);
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
	spin_unlock(&ctl_lock);
	if (ret)
		return ret;
	ret = fn(arg, call);
	spin_lock(&ctl_lock);
	if (!--p->calls)
		wake_up_all(&p->wq);
	spin_unlock(&ctl_lock);
	return ret;
}

static bool ctl_no_calls(struct cse_os_ctl *c)
{
	bool r;

	spin_lock(&ctl_lock);
	r = !c->calls;
	spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	c->shut = true;
	ctl_notify(c);
	if (c->peer)
		ctl_notify(c->peer);
	spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	c->shut = true;
	if (c->peer) {
		c->peer->peer = NULL;
		ctl_notify(c->peer);
	}
	if (c->listener) {
		list_del_init(&c->node);
		list_splice_init(&c->pending, &orphans);
	}
	if (c->poller)
		list_del_init(&c->poll_node);
	spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	list_for_each_entry_safe(c, tmp, &p->ctls, poll_node) {
		list_del_init(&c->poll_node);
		c->poller = NULL;
	}
	spin_unlock(&ctl_lock);
	kfree(p);
}

int cse_os_poller_add(struct cse_os_poller *p, struct cse_os_ctl *c, void *cookie)
{
	spin_lock(&ctl_lock);
	c->poller = p;
	c->cookie = cookie;
	list_add_tail(&c->poll_node, &p->ctls);
	wake_up_all(&p->wq);
	spin_unlock(&ctl_lock);
	return 0;
}

int cse_os_poller_del(struct cse_os_poller *p, struct cse_os_ctl *c)
{
	spin_lock(&ctl_lock);
	if (c->poller == p) {
		list_del_init(&c->poll_node);
		c->poller = NULL;
	}
	spin_unlock(&ctl_lock);
	return 0;
}

/* Under ctl_lock: collect ready cookies; a kick counts as ready. */
static int poller_collect(struct cse_os_poller *p, void **cookies, int max)
{
	struct cse_os_ctl *c;
	int n = 0;

	list_for_each_entry(c, &p->ctls, poll_node) {
		if (n == max)
			break;
		if (ctl_ready(c))
			cookies[n++] = c->cookie;
	}
	return n;
}

static bool poller_ready(struct cse_os_poller *p)
{
	struct cse_os_ctl *c;
	bool r = p->kicked;

	spin_lock(&ctl_lock);
	list_for_each_entry(c, &p->ctls, poll_node)
		r = r || ctl_ready(c);
	spin_unlock(&ctl_lock);
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
	spin_lock(&ctl_lock);
	p->kicked = false;
	n = poller_collect(p, cookies, max);
	spin_unlock(&ctl_lock);
	return n;
}

void cse_os_poller_kick(struct cse_os_poller *p)
{
	spin_lock(&ctl_lock);
	p->kicked = true;
	wake_up_all(&p->wq);
	spin_unlock(&ctl_lock);
}
