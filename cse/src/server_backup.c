// SPDX-License-Identifier: MIT
/*
 * Server backup path: a whole command arrives on the control channel, one
 * message at a time as each comes (the control thread never waits for the
 * rest of a command: a client that stops half-way stalls only itself),
 * runs through the same exec_handler on the worker pool (never on the
 * control thread) and its output goes back the same way.  Or it arrives in
 * one call (a user client's ioctl, a kernel client's direct call) and runs
 * on the caller's thread or a worker before the call returns.
 */
#include "server.h"
#include "wire.h"

struct cse_backup_job {
	struct cse_conn *conn;
	__u64 id;
	__u32 code;
	__u32 in_len;
	__u32 out_len;
	char *in;			/* one buffer: input area, then output area */
	char *out;
	size_t data_len;		/* bytes that travel: input (and output) */
	size_t done;			/* of them, received so far */
};

static void backup_job_free(struct cse_backup_job *j)
{
	cse_os_free(j->in);
	cse_os_free(j);
}

static void backup_run(struct cse_backup_job *j)
{
	struct cse_conn *conn = j->conn;
	struct cse_wire_backup_resp r = {
		.hdr.type = CSE_WIRE_BACKUP_RESP,
		.hdr.id = j->id,
	};
	__u32 actual;
	int status, ret;

	cse_conn_exec(conn, j->code, j->in, j->in_len, j->out, j->out_len,
		      &actual, &status);
	r.output_status = status;
	r.output_len_actual = actual;
	ret = cse_wire_send(conn->ctl, conn->send_lock, &r, sizeof(r), j->out,
			    actual);
	if (ret && ret != -EPIPE)
		cse_os_log(CSE_LOG_WARN, "server %s: backup reply failed: %s",
			   conn->s->server_id, cse_strerror(ret));
}

static void backup_worker(void *arg)
{
	struct cse_backup_job *j = arg;
	struct cse_conn *conn = j->conn;

	if (!cse_load_acquire(&conn->dead))
		backup_run(j);
	backup_job_free(j);
	cse_conn_inflight_put(conn);
}

/*
 * The whole command is here: run it.  In flight before dead is checked:
 * the connection's close_handler waits for it (see cse_conn_submit()).
 * A connection already stopping runs nothing more; its client sees it
 * gone.
 *
 * Always on a worker, whatever the flags: this is the control thread,
 * which accepts clients, shakes hands, carries every backup command and
 * sees clients die; one slow handler here would stall them all.  Only
 * when no job can be queued (no memory) does it run here.
 */
static void backup_dispatch(struct cse_conn *conn, struct cse_backup_job *j)
{
	cse_fetch_add(&conn->inflight, 1);
	cse_mb();
	if (!cse_load_acquire(&conn->dead)) {
		if (!cse_os_pool_submit(conn->s->pool, backup_worker, j))
			return;		/* the worker puts it */
		backup_run(j);
	}
	backup_job_free(j);
	cse_conn_inflight_put(conn);
}

int cse_conn_backup_request(struct cse_conn *conn, const void *msg, long len)
{
	struct cse_wire_backup_req req;
	struct cse_backup_job *j;
	int ret;

	if (len < (long)sizeof(req))
		return -EPROTO;
	memcpy(&req, msg, sizeof(req));
	if (req.hdr.type != CSE_WIRE_BACKUP_REQ || req.hdr.resv ||
	    req.flags & ~CSE_WIRE_BACKUP_FLAGS ||
	    req.input_len > CSE_MAX_BACKUP || req.output_len > CSE_MAX_BACKUP)
		return -EPROTO;

	j = cse_os_zalloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->conn = conn;
	j->id = req.hdr.id;
	j->code = req.input_code;
	j->in_len = req.input_len;
	j->out_len = req.output_len;
	j->in = cse_os_zalloc((size_t)req.input_len + req.output_len + 1);
	if (!j->in) {
		ret = -ENOMEM;
		goto err;
	}
	j->out = j->in + req.input_len;
	j->data_len = req.input_len;
	if (req.flags & CSE_WIRE_F_OUTPUT_INIT)
		j->data_len += req.output_len;
	ret = cse_wire_recv_first(msg, (size_t)len, sizeof(req), j->in,
				  j->data_len, &j->done);
	if (ret)
		goto err;
	if (j->done < j->data_len) {
		conn->rx = j;	/* the rest comes in later messages */
		return 0;
	}
	backup_dispatch(conn, j);
	return 0;
err:
	backup_job_free(j);
	return ret;
}

int cse_conn_backup_more(struct cse_conn *conn)
{
	struct cse_backup_job *j = conn->rx;
	int ret;

	ret = cse_wire_recv_next(conn->ctl, j->in, j->data_len, &j->done);
	if (ret)
		return ret;	/* cse_conn_free() frees the job */
	if (j->done < j->data_len)
		return 0;
	conn->rx = NULL;
	backup_dispatch(conn, j);
	return 0;
}

void cse_conn_backup_drop(struct cse_conn *conn)
{
	if (conn->rx)
		backup_job_free(conn->rx);
	conn->rx = NULL;
}

/* ---- the whole command in one call ---- */

struct call_job {
	struct cse_conn *conn;
	struct cse_os_call *call;
	__u32 done;
};

static void call_run(struct cse_conn *conn, struct cse_os_call *call)
{
	int status;

	cse_conn_exec(conn, call->input_code, call->input, call->input_len,
		      call->output, call->output_len, &call->output_len_actual,
		      &status);
	call->output_status = status;
}

static void call_worker(void *arg)
{
	struct call_job *j = arg;

	call_run(j->conn, j->call);
	cse_store_release(&j->done, 1);
	cse_os_wake(NULL, &j->done);
}

/*
 * Run @call (checked) on this thread or a worker, and wait for it; its
 * results go to @h, the slot header, for a slot call.  The caller counts
 * the connection's in-flight commands and has seen it alive.
 */
static void call_one(struct cse_conn *conn, struct cse_os_call *call,
		     struct cse_slot_hdr *h)
{
	struct call_job j = { .conn = conn, .call = call };

	call->output_len_actual = 0;
	call->output_status = 0;
	if (!cse_conn_use_worker(conn, call->flags) ||
	    cse_os_pool_submit(conn->s->pool, call_worker, &j)) {
		call_run(conn, call);
	} else {
		/* The job lives on this stack: wait for it whatever happens. */
		cse_os_wait_until_changed(&j.done, 0);
	}
	if (h) {
		cse_store(&h->output_len_actual, call->output_len_actual);
		cse_store((__u32 *)&h->output_status, (__u32)call->output_status);
		cse_peer_release(h);	/* the slot goes back to the client */
	}
}

/*
 * CSE_DEV_CALL_F_SLOTS: the slots at the offsets in call->input, in order,
 * each as its own CSE_DEV_CALL_F_SLOT call.  The array is the caller's
 * (copied in by the ioctl, or a kernel client's own), never the chunk's.
 * Return: how many ran; a bad offset or header stops there, and is
 * -EINVAL when it is the first.
 */
static int call_slots(struct cse_conn *conn, const struct cse_os_call *call)
{
	const __u32 *offs = call->input;
	__u32 i, n = call->input_len / sizeof(__u32);
	struct cse_slot_hdr *h;
	struct cse_os_call slot;

	if (call->input_len % sizeof(__u32) || !n || n > CSE_DEV_CALL_MAX_SLOTS ||
	    !offs)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		memset(&slot, 0, sizeof(slot));
		if (cse_conn_slot_call(conn, offs[i], &slot, &h))
			break;
		call_one(conn, &slot, h);
	}
	return i ? (int)i : -EINVAL;
}

/* Serve one call (cse_os_ctl_serve_calls()); the caller waits for it. */
int cse_conn_call(void *arg, struct cse_os_call *call)
{
	struct cse_conn *conn = arg;
	struct cse_slot_hdr *h = NULL;
	struct cse_os_call slot;
	bool many = false;
	int ret = 0;

	if (call->flags == CSE_DEV_CALL_F_SLOTS) {
		many = true;
	} else if (call->flags == CSE_DEV_CALL_F_SLOT) {
		/* The command is in its slot already: no copy either way. */
		memset(&slot, 0, sizeof(slot));
		ret = cse_conn_slot_call(conn, call->slot_off, &slot, &h);
		if (ret)
			return ret;
		call = &slot;
	} else if (call->flags & ~CSE_WIRE_BACKUP_FLAGS ||
		   (call->flags & CSE_SLOT_F_INLINE && call->flags & CSE_SLOT_F_WORKER) ||
		   call->input_len > CSE_MAX_BACKUP || call->output_len > CSE_MAX_BACKUP) {
		return -EINVAL;
	}
	/* In flight before dead is checked: see cse_conn_submit(). */
	cse_fetch_add(&conn->inflight, 1);
	cse_mb();
	if (cse_load_acquire(&conn->dead))
		ret = -EPIPE;
	else if (many)
		ret = call_slots(conn, call);
	else
		call_one(conn, call, h);
	cse_conn_inflight_put(conn);
	return ret;
}
