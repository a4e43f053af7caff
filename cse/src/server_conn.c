// SPDX-License-Identifier: MIT
/*
 * One server connection: handshake, the CS FIFO reader, exec inline or on
 * the worker pool, replies, and the drain-then-close teardown.
 *
 * The chunk belongs to the client and is treated as hostile: every slot
 * field is read once into a local and checked before use, and anything an
 * honest client cannot produce drops this connection, never the server.
 */
#include "server.h"
#include "wire.h"

/*
 * The reader sleeps without a timeout: cse_conn_stop() kicks it, and the
 * kick is repeated until it has left (server_reap(), cse_conn_wait_finished()).
 */
#define NO_TIMEOUT	0
#define DRAIN_SLICE_NS	200000000ULL
#define KICK_SLICE_NS	100000000ULL

struct conn_job {
	struct cse_conn *conn;
	__u32 off;
	__u32 code;
	__u32 flags;
	__u32 in_len;
	__u32 out_len;
};

/* The peer misbehaved: stop serving it.  The control thread reaps it. */
static void conn_violation(struct cse_conn *conn, const char *what, __u32 v)
{
	cse_os_log(CSE_LOG_WARN, "server %s: client broke the protocol (%s %u), disconnecting",
		   conn->s->server_id, what, v);
	cse_conn_stop(conn);
}

void cse_conn_stop(struct cse_conn *conn)
{
	cse_store_release(&conn->dead, 1);
	cse_os_ctl_shutdown(conn->ctl);
	if (conn->base)
		cse_fifo_kick(&conn->cs);
}

/* Kicks again each slice: see server_reap(). */
void cse_conn_wait_finished(struct cse_conn *conn)
{
	while (!cse_load_acquire(&conn->finished)) {
		cse_fifo_kick(&conn->cs);
		cse_os_wait(NULL, &conn->finished, 0, KICK_SLICE_NS);
	}
}

void cse_conn_inflight_put(struct cse_conn *conn)
{
	if (cse_fetch_add(&conn->inflight, (__u32)-1) == 1)
		cse_os_wake(NULL, &conn->inflight);
}

bool cse_conn_use_worker(struct cse_conn *conn, __u32 flags)
{
	if (flags & CSE_SLOT_F_WORKER)
		return true;
	if (flags & CSE_SLOT_F_INLINE)
		return false;
	return conn->s->opts.default_exec == CSE_EXEC_WORKER;
}

void cse_conn_exec(struct cse_conn *conn, __u32 code, const void *in,
		   __u32 in_len, void *out, __u32 out_len, __u32 *actual,
		   int *status)
{
	size_t n = 0;
	int st = 0;

	conn->s->ops.exec_handler(conn, conn->user_context, code, in, in_len,
				  out, out_len, &n, &st);
	if (n > out_len) {
		cse_os_log(CSE_LOG_WARN, "server %s: exec_handler reported %zu bytes for a %u-byte output area",
			   conn->s->server_id, n, out_len);
		n = out_len;
	}
	*actual = (__u32)n;
	*status = st;
}

static void conn_run(struct conn_job *j)
{
	struct cse_conn *conn = j->conn;
	struct cse_slot_hdr *h = (struct cse_slot_hdr *)(conn->base + j->off);
	char *in = (char *)(h + 1);
	char *out = in + conn->g.slot_input_size;
	__u32 actual;
	int status;

	cse_conn_exec(conn, j->code, in, j->in_len, out, j->out_len, &actual,
		      &status);
	cse_store(&h->output_len_actual, actual);
	cse_store((__u32 *)&h->output_status, (__u32)status);
	if (j->flags & CSE_SLOT_F_SYNC) {
		/* Straight back to the waiting caller: no client thread hop. */
		cse_store_release(&h->state, CSE_SLOT_DONE);
		cse_mb();
		if (cse_load(&h->waiters))
			cse_os_wake(conn->cs.sync, &h->state);
		return;
	}
	cse_fifo_push(&conn->sc, j->off);
}

static void conn_worker(void *arg)
{
	struct conn_job *j = arg;
	struct cse_conn *conn = j->conn;

	if (!cse_load_acquire(&conn->dead))
		conn_run(j);
	cse_os_free(j);
	cse_conn_inflight_put(conn);
}

/*
 * Validate one command taken from the CS FIFO (or named in a control
 * message: @from_ctl, then always queued for a worker, since the control
 * thread must never run a handler) and run or queue it.
 */
static int conn_command(struct cse_conn *conn, __u32 off, bool from_ctl)
{
	struct cse_slot_hdr *h;
	struct conn_job job, *wj;
	int idx = cse_geom_slot_index(&conn->g, off);

	if (idx < 0) {
		conn_violation(conn, "slot offset", off);
		return -EPROTO;
	}
	h = (struct cse_slot_hdr *)(conn->base + off);
	/*
	 * The header, input and output lines all sit in the client's cache:
	 * start fetching them together instead of one miss after another.
	 */
	__builtin_prefetch(h);
	__builtin_prefetch(h + 1);
	__builtin_prefetch((char *)(h + 1) + conn->g.slot_input_size, 1);
	job.conn = conn;
	job.off = off;
	job.code = cse_load(&h->input_code);
	job.flags = cse_load(&h->flags);
	job.in_len = cse_load(&h->input_len);
	job.out_len = cse_load(&h->output_len);
	if (job.flags & ~(CSE_SLOT_F_LAST - 1) ||
	    (job.flags & CSE_SLOT_F_INLINE && job.flags & CSE_SLOT_F_WORKER)) {
		conn_violation(conn, "slot flags", job.flags);
		return -EPROTO;
	}
	if (job.in_len > conn->g.slot_input_size ||
	    job.out_len > conn->g.slot_output_size) {
		conn_violation(conn, "slot length", job.in_len > conn->g.slot_input_size ?
			       job.in_len : job.out_len);
		return -EPROTO;
	}

	if (from_ctl || cse_conn_use_worker(conn, job.flags)) {
		wj = cse_os_zalloc(sizeof(*wj));
		if (wj) {
			*wj = job;
			cse_fetch_add(&conn->inflight, 1);
			if (!cse_os_pool_submit(conn->s->pool, conn_worker, wj))
				return 0;
			cse_os_free(wj);
			cse_conn_inflight_put(conn);
		}
		/* No memory for a job: run it here rather than fail it. */
	}
	conn_run(&job);
	return 0;
}

int cse_conn_submit(struct cse_conn *conn, const void *msg, long len)
{
	struct cse_wire_submit m;
	int ret = 0;

	if (len != (long)sizeof(m))
		return -EPROTO;
	memcpy(&m, msg, sizeof(m));	/* read once */
	if (m.hdr.resv || m.hdr.id || m.resv[0] || m.resv[1] || m.resv[2])
		return -EPROTO;
	/*
	 * Counted in flight before dead is checked, and the reader checks
	 * in-flight after it saw dead (both with a full barrier): either we
	 * see the connection stopping, or its close waits for this command.
	 */
	cse_fetch_add(&conn->inflight, 1);
	cse_mb();
	if (!cse_load_acquire(&conn->dead))
		ret = conn_command(conn, m.slot_off, true);
	cse_conn_inflight_put(conn);
	return ret;
}

static void conn_reader_main(void *arg)
{
	struct cse_conn *conn = arg;
	__u32 off, n;
	int ret;

	while (!cse_load_acquire(&conn->dead)) {
		off = cse_fifo_pop(&conn->cs);
		if (off) {
			if (conn_command(conn, off, false))
				break;
			continue;
		}
		ret = cse_fifo_wait(&conn->cs, conn->s->spin_ns, &conn->dead,
				    NO_TIMEOUT);
		if (ret && ret != -ETIMEDOUT) {
			conn_violation(conn, "wait failed with", (__u32)-ret);
			break;
		}
	}

	/* Let handlers already running finish, then close exactly once. */
	cse_mb();	/* pairs with cse_conn_submit() */
	while ((n = cse_load_acquire(&conn->inflight)))
		cse_os_wait(NULL, &conn->inflight, n, DRAIN_SLICE_NS);
	if (conn->s->ops.close_handler)
		conn->s->ops.close_handler(conn, conn->user_context);
	cse_store_release(&conn->finished, 1);
	cse_os_wake(NULL, &conn->finished);
	cse_os_poller_kick(conn->s->poller);
}

static int conn_check_hello(struct cse_conn *conn, const void *msg, long len,
			    struct cse_os_shm *shm)
{
	struct cse_wire_hello h;

	if (len != (long)sizeof(h) || !shm)
		return -EPROTO;
	memcpy(&h, msg, sizeof(h));
	if (h.hdr.type == CSE_WIRE_SWAPPED(CSE_WIRE_HELLO))
		return CSE_WIRE_OTHER_ENDIAN;
	if (h.hdr.type != CSE_WIRE_HELLO || h.hdr.resv || h.hdr.id ||
	    h.resv[0] || h.resv[1] || h.resv[2])
		return -EPROTO;
	if (h.abi_version != CSE_ABI_VERSION)
		return -EPROTONOSUPPORT;
	if (h.chunk_size != cse_os_shm_size(shm))
		return -EPROTO;
	return cse_chunk_check(cse_os_shm_addr(shm), cse_os_shm_size(shm),
			       h.nslots, h.slot_input_size, h.slot_output_size,
			       &conn->g);
}

static void conn_welcome(struct cse_conn *conn, int status)
{
	struct cse_wire_welcome w = {
		.hdr.type = CSE_WIRE_WELCOME,
		.status = status,
	};

	cse_os_mutex_lock(conn->send_lock);
	cse_os_ctl_send(conn->ctl, &w, sizeof(w), NULL, 0, NULL);
	cse_os_mutex_unlock(conn->send_lock);
}

void cse_conn_refuse(struct cse_conn *conn, int err)
{
	conn_welcome(conn, err);
}

int cse_conn_start(struct cse_conn *conn, const void *hello, long len,
		   struct cse_os_shm *shm)
{
	struct cse_server *s = conn->s;
	int ret;

	conn->shm = shm;
	ret = conn_check_hello(conn, hello, len, shm);
	if (ret)
		goto refuse;
	conn->base = cse_os_shm_addr(shm);
	cse_fifo_attach(&conn->cs, conn->base, conn->g.cs_fifo_off, &conn->g);
	cse_fifo_attach(&conn->sc, conn->base, conn->g.sc_fifo_off, &conn->g);

	if (s->ops.open_handler) {
		ret = s->ops.open_handler(conn, &conn->user_context);
		if (ret) {
			/* Its -errno is the client's; anything else: refused. */
			if (!cse_wire_status_ok(ret))
				ret = -ECONNREFUSED;
			goto refuse;
		}
	}
	conn->open = true;
	ret = cse_os_thread_start(&conn->reader, "cse-reader",
				  conn_reader_main, conn);
	if (ret) {
		if (s->ops.close_handler)
			s->ops.close_handler(conn, conn->user_context);
		goto refuse;
	}
	/*
	 * Before the welcome, so the client's first backup command finds it.
	 * Where the backend has no calls, backup commands come as messages.
	 */
	cse_os_ctl_serve_calls(conn->ctl, cse_conn_call, conn);
	conn_welcome(conn, 0);
	return 0;
refuse:
	cse_os_log(CSE_LOG_INFO, "server %s: refused a client: %s",
		   s->server_id, cse_strerror(ret));
	conn->base = NULL;
	conn_welcome(conn, ret);
	return ret;
}

void cse_conn_free(struct cse_conn *conn)
{
	cse_conn_backup_drop(conn);
	if (conn->reader)
		cse_os_thread_join(conn->reader);
	if (conn->ctl)
		cse_os_ctl_close(conn->ctl);
	if (conn->shm)
		cse_os_shm_destroy(conn->shm);
	if (conn->send_lock)
		cse_os_mutex_destroy(conn->send_lock);
	cse_os_free(conn);
}

struct cse_server *cse_conn_server(struct cse_conn *conn)
{
	return conn->s;
}
