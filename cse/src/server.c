// SPDX-License-Identifier: MIT
/*
 * Server: registration under a server_id, and the control thread (seed:
 * SCTHREAD) that accepts clients, runs handshakes and backup commands, sees
 * clients die (EOF on their channel) and reaps finished connections.
 */
#include "server.h"
#include "wire.h"

#define POLL_BATCH	32
#define POLL_SLICE_MS	500
#define STARVED_PAUSE_NS	10000000ULL

static __u32 server_users;

int cse_server_init(void)
{
	cse_fetch_add(&server_users, 1);
	return 0;
}

void cse_server_deinit(void)
{
	cse_fetch_add(&server_users, (__u32)-1);
}

/*
 * Out of descriptors: refuse the waiting client with -EMFILE (or -ENFILE)
 * rather than leave it waiting for an answer that never comes.  Said once
 * per shortage, not once per client.  If even that fails, pause a moment:
 * the listener stays readable, and the loop must not spin on it.
 */
static void server_starved(struct cse_server *s, int err)
{
	struct cse_wire_welcome w = {
		.hdr.type = CSE_WIRE_WELCOME,
		.status = err,
	};
	__u32 never = 0;
	int ret;

	if (!s->starved)
		cse_os_log(CSE_LOG_WARN, "server %s: out of file descriptors: refusing clients (%s)",
			   s->server_id, cse_strerror(err));
	s->starved = true;
	ret = cse_os_ctl_reject(s->listener, &w, sizeof(w));
	if (ret && ret != -EAGAIN)
		cse_os_wait(NULL, &never, 0, STARVED_PAUSE_NS);
}

static void server_accept(struct cse_server *s)
{
	struct cse_os_ctl *ctl;
	struct cse_conn *conn;
	int ret;

	ret = cse_os_ctl_accept(s->listener, &ctl);
	if (ret == -EMFILE || ret == -ENFILE)
		server_starved(s, ret);
	if (ret)
		return;
	conn = cse_os_zalloc(sizeof(*conn));
	if (!conn || cse_os_mutex_create(&conn->send_lock))
		goto err;
	conn->s = s;
	conn->ctl = ctl;
	if (cse_os_poller_add(s->poller, ctl, conn))
		goto err;
	conn->polled = true;
	cse_os_mutex_lock(s->lock);
	conn->next = s->conns;
	s->conns = conn;
	cse_os_mutex_unlock(s->lock);
	return;
err:
	cse_os_log(CSE_LOG_WARN, "server %s: out of memory accepting a client",
		   s->server_id);
	if (conn) {
		conn->ctl = NULL;
		cse_conn_free(conn);
	}
	cse_os_ctl_close(ctl);
}

static void conn_unpoll(struct cse_conn *conn)
{
	cse_os_poller_del(conn->s->poller, conn->ctl);
	conn->polled = false;
	if (!conn->open)
		cse_store_release(&conn->finished, 1);	/* nothing ever ran for it */
	else
		cse_conn_stop(conn);
}

static void server_conn_event(struct cse_server *s, struct cse_conn *conn,
			      void *msg)
{
	struct cse_os_shm *shm = NULL;
	long n;
	int ret;

	if (conn->rx) {
		/* The next fragment of a backup command: one message, no more. */
		ret = cse_conn_backup_more(conn);
		if (ret) {
			if (ret != -ECONNRESET)
				cse_os_log(CSE_LOG_WARN, "server %s: bad backup command, disconnecting client",
					   s->server_id);
			conn_unpoll(conn);
		}
		return;
	}
	n = cse_os_ctl_recv(conn->ctl, msg, CSE_OS_CTL_MSG_MAX,
			    conn->open ? NULL : &shm);
	/* No descriptor left for the client's chunk: tell it why. */
	if (!conn->open && (n == -EMFILE || n == -ENFILE)) {
		cse_conn_refuse(conn, (int)n);
		if (!s->starved)
			cse_os_log(CSE_LOG_WARN, "server %s: out of file descriptors: refusing clients (%s)",
				   s->server_id, cse_strerror((int)n));
		s->starved = true;
	}
	if (n <= 0) {
		conn_unpoll(conn);
		return;
	}
	if (!conn->open) {
		if (cse_conn_start(conn, msg, n, shm))
			conn_unpoll(conn);
		else
			s->starved = false;	/* a client got in: say so again next time */
		return;
	}
	if (n == (long)sizeof(struct cse_wire_hdr) &&
	    ((const struct cse_wire_hdr *)msg)->type == CSE_WIRE_DOORBELL) {
		struct cse_wire_hdr h;

		memcpy(&h, msg, sizeof(h));	/* read once */
		if (h.resv || h.id)
			conn_unpoll(conn);
		else
			cse_conn_schedule(conn);
		return;
	}
	if (n >= (long)sizeof(struct cse_wire_hdr) &&
	    ((const struct cse_wire_hdr *)msg)->type == CSE_WIRE_SUBMIT) {
		if (cse_conn_submit(conn, msg, n))
			conn_unpoll(conn);
		return;
	}
	if (cse_conn_backup_request(conn, msg, n)) {
		cse_os_log(CSE_LOG_WARN, "server %s: bad backup command, disconnecting client",
			   s->server_id);
		conn_unpoll(conn);
	}
}

/*
 * Free connections that are closed, idle and unpolled; give the pool
 * again the turns it could not take.
 */
static void server_reap(struct cse_server *s)
{
	struct cse_conn **pp, *conn;

	cse_os_mutex_lock(s->lock);
	for (pp = &s->conns; (conn = *pp);) {
		if (!conn->polled && cse_load_acquire(&conn->finished) &&
		    cse_conn_idle(conn)) {
			*pp = conn->next;
			cse_conn_free(conn);
			continue;
		}
		cse_conn_retry(conn);
		pp = &conn->next;
	}
	cse_os_mutex_unlock(s->lock);
}

static void server_ctl_main(void *arg)
{
	struct cse_server *s = arg;
	void *cookies[POLL_BATCH];
	void *msg = cse_os_zalloc(CSE_OS_CTL_MSG_MAX);
	int i, n;

	while (msg && !cse_load_acquire(&s->stop)) {
		n = cse_os_poller_wait(s->poller, cookies, POLL_BATCH,
				       POLL_SLICE_MS);
		for (i = 0; i < n; i++) {
			if (cookies[i] == s)
				server_accept(s);
			else
				server_conn_event(s, cookies[i], msg);
		}
		server_reap(s);
	}
	cse_os_free(msg);
}

static int server_opts(struct cse_server *s, const struct cse_server_ops *ops,
		       const struct cse_server_opts *opts)
{
	if (!ops || !ops->exec_handler)
		return -EINVAL;
	s->ops = *ops;
	if (opts)
		s->opts = *opts;
	if (s->opts.resv[0] || s->opts.resv[1] || s->opts.resv[2] ||
	    s->opts.resv[3] || s->opts.resv[4])
		return -EINVAL;
	if (s->opts.default_exec &&
	    s->opts.default_exec != CSE_EXEC_INLINE &&
	    s->opts.default_exec != CSE_EXEC_WORKER)
		return -EINVAL;
	if (!s->opts.nworkers)
		s->opts.nworkers = 2;
	if (s->opts.nworkers > 256)
		return -EINVAL;
	s->spin_ns = cse_spin_budget(s->opts.spin_ns);
	return 0;
}

static void server_free(struct cse_server *s)
{
	struct cse_conn *conn;

	/* Stop every connection first so all drain in parallel. */
	for (conn = s->conns; conn; conn = conn->next)
		if (conn->open)
			cse_conn_stop(conn);
	for (conn = s->conns; conn; conn = conn->next)
		if (conn->open)
			cse_conn_wait_finished(conn);
	while ((conn = s->conns)) {
		s->conns = conn->next;
		cse_conn_free(conn);
	}
	if (s->pool)
		cse_os_pool_destroy(s->pool);
	if (s->listener)
		cse_os_ctl_close(s->listener);
	if (s->poller)
		cse_os_poller_destroy(s->poller);
	if (s->lock)
		cse_os_mutex_destroy(s->lock);
	cse_os_free(s);
}

int cse_server_create(struct cse_server **out, const char *server_id,
		      const struct cse_server_ops *ops,
		      const struct cse_server_opts *opts)
{
	struct cse_server *s;
	size_t len;
	int ret;

	if (!out || !server_id)
		return -EINVAL;
	*out = NULL;
	if (!cse_server_id_valid(server_id))
		return -EINVAL;
	len = strnlen(server_id, CSE_SERVER_ID_MAX);
	s = cse_os_zalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s->server_id, server_id, len);

	ret = server_opts(s, ops, opts);
	if (ret)
		goto err;
	ret = cse_os_mutex_create(&s->lock);
	if (ret)
		goto err;
	ret = cse_os_pool_create(s->opts.nworkers, "cse-worker", &s->pool);
	if (ret)
		goto err;
	ret = cse_os_poller_create(&s->poller);
	if (ret)
		goto err;
	ret = cse_os_ctl_listen(server_id, &s->listener);
	if (ret)
		goto err;
	ret = cse_os_poller_add(s->poller, s->listener, s);
	if (ret)
		goto err;
	ret = cse_os_thread_start(&s->ctl_thread, "cse-sctl", server_ctl_main, s);
	if (ret)
		goto err;
	*out = s;
	return 0;
err:
	server_free(s);
	return ret;
}

/*
 * Hang up on every client now: they see the server go at once, not when
 * the handlers still running (on the control thread too) are done, and
 * commands not started yet never start (dead).  Only the channel is
 * touched here: the control thread may be starting a connection.
 */
static void server_hang_up(struct cse_server *s)
{
	struct cse_conn *conn;

	cse_os_mutex_lock(s->lock);
	for (conn = s->conns; conn; conn = conn->next) {
		cse_store_release(&conn->dead, 1);
		cse_os_ctl_shutdown(conn->ctl);
	}
	cse_os_mutex_unlock(s->lock);
}

void cse_server_destroy(struct cse_server *s)
{
	if (!s)
		return;
	cse_store_release(&s->stop, 1);
	server_hang_up(s);
	cse_os_poller_kick(s->poller);
	cse_os_thread_join(s->ctl_thread);
	server_free(s);
}
