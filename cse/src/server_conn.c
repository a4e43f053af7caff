// SPDX-License-Identifier: MIT
/*
 * One server connection: handshake, the CS FIFO served by the worker pool
 * (no thread of its own), exec inline or on another worker, replies, and
 * the drain-then-close teardown.
 *
 * A connection runs on a worker only while it has work: the worker drains
 * its CS FIFO (inline commands right there), spins a while for more, then
 * parks the FIFO and goes on to other connections.  The client's next
 * command rings the doorbell (a control message), and the control thread
 * schedules the connection again.  So the server's threads are the
 * control thread and the workers, however many clients it has, and an
 * idle connection costs no thread and no polling.
 *
 * The chunk belongs to the client and is treated as hostile: every slot
 * field is read once into a local and checked before use, and anything an
 * honest client cannot produce drops this connection, never the server.
 */
#include "server.h"
#include "wire.h"

/* cse_conn_wait_finished() looks again this often (the wake may come first). */
#define FINISH_SLICE_NS	100000000ULL
#define LEAVE_SLICE_NS	1000000ULL
/* Commands one turn on a worker runs before the connection queues again. */
#define SERVICE_BUDGET	64U

/* struct cse_conn.sched */
enum {
	CONN_IDLE = 0,		/* parked, or never started */
	CONN_QUEUED,		/* submitted to the pool */
	CONN_RUNNING,		/* a worker serves it */
	CONN_AGAIN,		/* running, and asked to look again before leaving */
};

static void conn_service(void *arg);

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

/*
 * Make sure a worker runs conn_service() soon (and once at a time).  When
 * the pool cannot take it (no memory), the control thread tries again
 * (server_reap(), cse_conn_wait_finished()).
 */
void cse_conn_schedule(struct cse_conn *conn)
{
	struct cse_server *s = conn->s;
	__u32 st;

	for (;;) {
		st = cse_load_acquire(&conn->sched);
		if (st == CONN_QUEUED || st == CONN_AGAIN)
			return;
		if (st == CONN_RUNNING) {
			if (cse_cmpxchg(&conn->sched, CONN_RUNNING, CONN_AGAIN) == CONN_RUNNING)
				return;
			continue;
		}
		if (cse_cmpxchg(&conn->sched, CONN_IDLE, CONN_QUEUED) == CONN_IDLE)
			break;
	}
	cse_fetch_add(&s->queued, 1);
	if (!cse_os_pool_submit(s->pool, conn_service, conn))
		return;
	cse_fetch_add(&s->queued, (__u32)-1);
	cse_store_release(&conn->resched, 1);
	cse_store_release(&conn->sched, CONN_IDLE);
	cse_os_poller_kick(s->poller);
}

/* The pool could not take the connection earlier: try again. */
void cse_conn_retry(struct cse_conn *conn)
{
	if (cse_load_acquire(&conn->resched) && cse_cmpxchg(&conn->resched, 1, 0) == 1)
		cse_conn_schedule(conn);
}

void cse_conn_stop(struct cse_conn *conn)
{
	cse_store_release(&conn->dead, 1);
	cse_os_ctl_shutdown(conn->ctl);
	if (conn->open)
		cse_conn_schedule(conn);	/* to close it */
}

void cse_conn_wait_finished(struct cse_conn *conn)
{
	while (!cse_load_acquire(&conn->finished)) {
		cse_conn_retry(conn);
		cse_os_wait(NULL, &conn->finished, 0, FINISH_SLICE_NS);
	}
	/* Its last turn is leaving (it woke us just before). */
	while (!cse_conn_idle(conn))
		cse_os_wait(NULL, &conn->sched, cse_load(&conn->sched), LEAVE_SLICE_NS);
}

bool cse_conn_idle(struct cse_conn *conn)
{
	return cse_load_acquire(&conn->sched) == CONN_IDLE &&
	       !cse_load_acquire(&conn->putting);
}

/*
 * The last command off the connection's worker is done.  A stopping
 * connection closes once none is left: the worker that sees it so closes
 * it (conn_try_close()), or this put schedules one that will.
 */
void cse_conn_inflight_put(struct cse_conn *conn)
{
	/*
	 * Once inflight is 0 a worker may close the connection and the
	 * control thread free it, while this put still reads it: putting,
	 * raised before the decrement and dropped after the last touch,
	 * keeps it (cse_conn_idle()).
	 */
	cse_fetch_add(&conn->putting, 1);
	if (cse_fetch_add(&conn->inflight, (__u32)-1) == 1) {
		cse_mb();	/* pairs with conn_try_close() */
		if (cse_load_acquire(&conn->dead))
			cse_conn_schedule(conn);
	}
	cse_fetch_add(&conn->putting, (__u32)-1);
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
	cse_peer_release(h);		/* the slot goes back to the client */
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
 * Read the header of the slot at @off once into @job and check it.
 * Return NULL, or what is wrong with it and the bad value in *@bad.
 */
static const char *slot_read(struct cse_conn *conn, __u32 off,
			     struct conn_job *job, __u32 *bad)
{
	struct cse_slot_hdr *h;
	int idx = cse_geom_slot_index(&conn->g, off);

	*bad = off;
	if (idx < 0)
		return "slot offset";
	h = (struct cse_slot_hdr *)(conn->base + off);
	/* Back from the client: after whatever last ran in this slot. */
	cse_peer_acquire(h);
	/*
	 * No prefetch of the slot's lines here: fetching the output line for
	 * writing early cost a 64 B round trip 48 ns of its 183 (bench/touches.py).
	 */
	job->conn = conn;
	job->off = off;
	job->code = cse_load(&h->input_code);
	job->flags = cse_load(&h->flags);
	job->in_len = cse_load(&h->input_len);
	job->out_len = cse_load(&h->output_len);
	*bad = job->flags;
	if (job->flags & ~(CSE_SLOT_F_LAST - 1) ||
	    (job->flags & CSE_SLOT_F_INLINE && job->flags & CSE_SLOT_F_WORKER))
		return "slot flags";
	*bad = job->in_len > conn->g.slot_input_size ? job->in_len : job->out_len;
	if (job->in_len > conn->g.slot_input_size ||
	    job->out_len > conn->g.slot_output_size)
		return "slot length";
	return NULL;
}

/*
 * Validate one command taken from the CS FIFO (or named in a control
 * message: @from_ctl, then always queued for a worker, since the control
 * thread must never run a handler) and run or queue it.
 */
static int conn_command(struct cse_conn *conn, __u32 off, bool from_ctl)
{
	struct conn_job job, *wj;
	const char *bad;
	__u32 v;

	bad = slot_read(conn, off, &job, &v);
	if (bad) {
		conn_violation(conn, bad, v);
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

/*
 * CSE_DEV_CALL_F_SLOT: the command in the slot at @off, its header read
 * once and checked as from the FIFO, becomes @call on the slot's own
 * areas; *@hdr is where its results go.  A bad offset or header fails
 * this call alone (-EINVAL, nothing runs): it is the caller's own ioctl
 * argument, and the connection stays as it was.
 */
int cse_conn_slot_call(struct cse_conn *conn, __u32 off, struct cse_os_call *call,
		       struct cse_slot_hdr **hdr)
{
	struct conn_job job;
	char *in;
	__u32 v;

	if (slot_read(conn, off, &job, &v))
		return -EINVAL;
	*hdr = (struct cse_slot_hdr *)(conn->base + off);
	in = (char *)(*hdr + 1);
	call->input_code = job.code;
	call->flags = job.flags & (CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER);
	call->input_len = job.in_len;
	call->output_len = job.out_len;
	call->input = in;
	call->output = in + conn->g.slot_input_size;
	call->slot_off = off;
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
	 * Counted in flight before dead is checked, and conn_try_close()
	 * checks in-flight after it saw dead (both with a full barrier):
	 * either we see the connection stopping, or its close waits for
	 * this command.
	 */
	cse_fetch_add(&conn->inflight, 1);
	cse_mb();
	if (!cse_load_acquire(&conn->dead))
		ret = conn_command(conn, m.slot_off, true);
	cse_conn_inflight_put(conn);
	return ret;
}

/*
 * Close exactly once, after every handler of the connection has finished:
 * the inline ones ran on the worker that calls this (a connection runs on
 * one worker at a time), the others are counted in inflight.
 */
static void conn_try_close(struct cse_conn *conn)
{
	struct cse_server *s = conn->s;

	cse_mb();	/* pairs with cse_conn_inflight_put(), cse_conn_submit() */
	if (cse_load_acquire(&conn->inflight))
		return;		/* the last put schedules us again */
	if (cse_cmpxchg(&conn->closed, 0, 1))
		return;
	if (s->ops.close_handler)
		s->ops.close_handler(conn, conn->user_context);
	/* The control thread may free conn as soon as it sees finished. */
	cse_store_release(&conn->finished, 1);
	cse_os_wake(NULL, &conn->finished);
	cse_os_poller_kick(s->poller);
}

/*
 * Nothing in the FIFO: spin a while for more (a client issuing back to
 * back answers within microseconds), then park it.  Only one worker
 * spins at a time, and only while no other connection waits for a
 * worker: with many clients, a worker that spins on one of them is a
 * worker the others wait for.  True: parked (the client's next command
 * rings); false: a command came, read on.
 */
static bool conn_idle(struct cse_conn *conn)
{
	struct cse_server *s = conn->s;
	__u64 deadline = 0;
	unsigned int i = 0;
	bool came = false;

	if (s->spin_ns <= 0 || cse_load(&s->queued) ||
	    cse_cmpxchg(&s->spinning, 0, 1))
		return cse_fifo_park(&conn->cs);
	for (;;) {
		if (cse_fifo_ready(&conn->cs) || cse_load(&conn->dead)) {
			came = true;
			break;
		}
		if (cse_load(&s->queued))
			break;
		cse_os_cpu_relax();
		/* The clock costs more than a pause: look at it rarely. */
		if (++i & 127)
			continue;
		if (!deadline)
			deadline = cse_os_now_ns() + (__u64)s->spin_ns;
		else if (cse_os_now_ns() > deadline)
			break;
	}
	cse_store_release(&s->spinning, 0);
	return !came && cse_fifo_park(&conn->cs);
}

/*
 * Queue the connection's next turn behind the others, straight from
 * running (never idle in between: an idle connection may be freed).
 * False: the pool cannot take it; serve on.
 */
static bool conn_requeue(struct cse_conn *conn)
{
	struct cse_server *s = conn->s;

	cse_store_release(&conn->sched, CONN_QUEUED);
	cse_fetch_add(&s->queued, 1);
	if (!cse_os_pool_submit(s->pool, conn_service, conn))
		return true;	/* conn is the next turn's from here on */
	cse_fetch_add(&s->queued, (__u32)-1);
	cse_store_release(&conn->sched, CONN_RUNNING);
	return false;
}

/*
 * Read the CS FIFO until it is parked or the connection stops.  True:
 * the connection was queued again (fairness), and is no longer ours.
 */
static bool conn_serve(struct cse_conn *conn)
{
	unsigned int budget = SERVICE_BUDGET;
	bool served = false;
	__u32 off;

	cse_fifo_unpark(&conn->cs);
	while (!cse_load_acquire(&conn->dead)) {
		off = cse_fifo_pop(&conn->cs);
		if (!off) {
			/*
			 * Others wait for a worker: look here once more after
			 * them, unparked, rather than park now.  By then a
			 * client that issues back to back has its next command
			 * in, and it costs no doorbell.
			 */
			if (served && cse_load(&conn->s->queued) &&
			    conn_requeue(conn))
				return true;
			if (conn_idle(conn))
				return false;
			continue;
		}
		served = true;
		if (conn_command(conn, off, false))
			return false;	/* stopped */
		if (--budget)
			continue;
		budget = SERVICE_BUDGET;
		if (cse_load(&conn->s->queued) && conn_requeue(conn))
			return true;
	}
	return false;
}

/*
 * One turn of a connection on a worker (cse_conn_schedule()).  Only one
 * runs at a time; it leaves only when nobody asked it to look again
 * (CONN_AGAIN: a doorbell, a stop, a last put), and touches nothing of
 * the connection once it is idle: the control thread may free it then.
 */
static void conn_service(void *arg)
{
	struct cse_conn *conn = arg;

	cse_fetch_add(&conn->s->queued, (__u32)-1);
	cse_store_release(&conn->sched, CONN_RUNNING);
	for (;;) {
		if (conn_serve(conn))
			return;
		if (cse_load_acquire(&conn->dead))
			conn_try_close(conn);
		if (cse_cmpxchg(&conn->sched, CONN_RUNNING, CONN_IDLE) == CONN_RUNNING)
			return;
		cse_store_release(&conn->sched, CONN_RUNNING);
	}
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
	/* Parked from the start: the client's first command rings. */
	if (!cse_fifo_park(&conn->cs))
		cse_conn_schedule(conn);
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
