// SPDX-License-Identifier: MIT
/*
 * Client backup path (seed: backup mode over the pipe): the whole command
 * travels over the control channel when it does not fit a slot, when no
 * slot is free, or when the caller asks for it.  The data areas the
 * callbacks see are private buffers instead of slot areas; the callback
 * order is the same.  To a server that takes calls (a kernel server), a
 * synchronous command goes in one call instead of messages.
 */
#include "client.h"
#include "wire.h"

static void backup_free(struct cse_backup *b)
{
	cse_os_free(b->in_area);
	cse_os_free(b);
}

/*
 * The control thread finishes a backup command only once its issuer (or
 * the sender thread) has returned from sending it: the reply can overtake
 * the send call's return, and the sender must not read a buffer the
 * control thread frees.
 */
static void backup_wait_sent(struct cse_backup *b)
{
	while (!cse_load_acquire(&b->sent))
		cse_os_yield();
}

/* Unlink backup @id; NULL if the control thread already took it. */
static struct cse_backup *backup_take(struct cse_client *c, __u64 id)
{
	struct cse_backup **pp, *b = NULL;

	cse_os_mutex_lock(c->lock);
	for (pp = &c->backups; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			b = *pp;
			*pp = b->next;
			break;
		}
	}
	cse_os_mutex_unlock(c->lock);
	return b;
}

/*
 * Finish a backup command taken off the list.  A synchronous caller owns
 * its struct and finishes it itself; we only publish the result.
 */
static void backup_finish(struct cse_backup *b, int result)
{
	struct cse_exec *x = b->x;

	if (!x->completion) {
		x->result = result;
		cse_store_release(&b->done, 1);
		cse_os_wake(NULL, &b->done);
		return;
	}
	x->result = result;
	if (result)
		x->output_buffer_len_actual = 0;
	cse_exec_post(x, b->in_area, b->out_area);
	backup_free(b);
	x->completion(x, x->completion_context);
}

/* The request flags, the same in a message and in a call. */
static __u32 backup_flags(const struct cse_exec *x)
{
	__u32 flags = 0;

	if (x->flags & CSE_EXEC_INLINE)
		flags |= CSE_SLOT_F_INLINE;
	if (x->flags & CSE_EXEC_WORKER)
		flags |= CSE_SLOT_F_WORKER;
	if (x->output_prepare)
		flags |= CSE_WIRE_F_OUTPUT_INIT;
	return flags;
}

static int backup_send(struct cse_client *c, struct cse_backup *b)
{
	struct cse_exec *x = b->x;
	struct cse_wire_backup_req req = {
		.hdr.type = CSE_WIRE_BACKUP_REQ,
		.hdr.id = b->id,
		.input_code = x->input_code,
		.flags = backup_flags(x),
		.input_len = (__u32)x->input_buffer_len,
		.output_len = (__u32)x->output_buffer_len,
	};
	int ret;

	ret = cse_wire_send(c->ctl, c->send_lock, &req, sizeof(req),
			    b->in_area, x->input_buffer_len +
			    (x->output_prepare ? x->output_buffer_len : 0));
	/* The channel's -EPIPE is the server's death, as everywhere else. */
	return ret == -EPIPE ? -ECONNRESET : ret;
}

/*
 * The seed's U-K backup: the whole command in one call the server runs
 * before returning (an ioctl copying it in and out, or a direct call
 * between kernel modules).  Synchronous commands only: an asynchronous one
 * must not block its issuer.  -EOPNOTSUPP: the server takes no calls.
 */
static int backup_call(struct cse_client *c, struct cse_backup *b)
{
	struct cse_exec *x = b->x;
	struct cse_os_call call = {
		.input_code = x->input_code,
		.flags = backup_flags(x),
		.input_len = (__u32)x->input_buffer_len,
		.output_len = (__u32)x->output_buffer_len,
		.input = b->in_area,
		.output = b->out_area,
	};
	int ret;

	ret = cse_client_is_dead(c) ? -ECONNRESET : cse_os_ctl_call(c->ctl, &call);
	if (ret)
		return ret == -EPIPE ? -ECONNRESET : ret;
	x->backup = CSE_BACKUP_CALL;
	/* The kernel checked these; a direct call's server is trusted less. */
	if (call.output_len_actual > x->output_buffer_len) {
		x->result = -EPROTO;
		return 0;
	}
	x->output_status_code = call.output_status;
	x->output_buffer_len_actual = call.output_len_actual;
	x->result = 0;
	return 0;
}

/*
 * The sender is done with @b (sent it or could not): if the send failed
 * and the control thread has not taken @b meanwhile, finish it here; it
 * was issued, so it completes, and a channel that failed mid-command is
 * of no further use.  Else the control thread owns it from @b->sent on.
 */
static void sender_done(struct cse_client *c, struct cse_backup *b, int ret)
{
	if (ret && backup_take(c, b->id) == b) {
		cse_os_ctl_shutdown(c->ctl);
		backup_finish(b, -ECONNRESET);
		return;
	}
	cse_store_release(&b->sent, 1);
}

/* The sender thread: sends queued asynchronous backup commands in order. */
static void sender_main(void *arg)
{
	struct cse_client *c = arg;
	struct cse_backup *b;
	__u32 seq;
	bool stop;

	for (;;) {
		seq = cse_load_acquire(&c->sendq_seq);
		cse_os_mutex_lock(c->lock);
		b = c->sendq;
		if (b) {
			c->sendq = b->qnext;
			if (!c->sendq)
				c->sendq_tail = &c->sendq;
		}
		stop = c->sender_stop;
		cse_os_mutex_unlock(c->lock);
		if (b) {
			sender_done(c, b, stop || cse_client_is_dead(c) ?
				    -ECONNRESET : backup_send(c, b));
			continue;
		}
		if (stop)
			break;
		cse_os_wait(NULL, &c->sendq_seq, seq, 0);
	}
}

/*
 * Queue an asynchronous backup command for the sender thread (started the
 * first time).  -ECONNRESET once the client is coming apart; -EAGAIN when
 * no thread could start: then nothing was queued.
 */
static int backup_queue(struct cse_client *c, struct cse_backup *b)
{
	int ret = 0;

	cse_os_mutex_lock(c->lock);
	if (c->sender_stop)
		ret = -ECONNRESET;
	else if (!c->sender &&
		 cse_os_thread_start(&c->sender, "cse-csend", sender_main, c))
		ret = -EAGAIN;		/* whatever the system said: try later */
	if (!ret) {
		if (!c->sendq_tail)
			c->sendq_tail = &c->sendq;
		b->qnext = NULL;
		*c->sendq_tail = b;
		c->sendq_tail = &b->qnext;
	}
	cse_os_mutex_unlock(c->lock);
	if (!ret) {
		cse_fetch_add(&c->sendq_seq, 1);
		cse_os_wake(NULL, &c->sendq_seq);
	}
	return ret;
}

/*
 * Stop the sender: it fails what is still queued and leaves.  The channel
 * is shut down by then, so a send in progress fails at once.
 */
void cse_client_stop_sender(struct cse_client *c)
{
	struct cse_os_thread *t;

	cse_os_mutex_lock(c->lock);
	c->sender_stop = 1;
	t = c->sender;
	c->sender = NULL;
	cse_os_mutex_unlock(c->lock);
	if (!t)
		return;
	cse_fetch_add(&c->sendq_seq, 1);
	cse_os_wake(NULL, &c->sendq_seq);
	cse_os_thread_join(t);
}

int cse_client_exec_backup(struct cse_client *c, struct cse_exec *x)
{
	struct cse_backup *b;
	__u64 id;
	int ret;

	b = cse_os_zalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	/* One spare byte so an empty area is still a valid pointer. */
	b->in_area = cse_os_zalloc(x->input_buffer_len + x->output_buffer_len + 1);
	if (!b->in_area) {
		ret = -ENOMEM;
		goto err;
	}
	b->out_area = b->in_area + x->input_buffer_len;
	b->x = x;
	ret = cse_exec_prepare(x, b->in_area, b->out_area);
	if (ret)
		goto err;
	if (!x->completion) {
		ret = backup_call(c, b);
		if (ret == -EOPNOTSUPP)
			goto messages;
		if (ret)
			goto err;	/* never reached the server */
		cse_exec_post(x, b->in_area, b->out_area);
		backup_free(b);
		return x->result;
	}
messages:
	x->backup = CSE_BACKUP_MSG;

	cse_os_mutex_lock(c->lock);
	id = b->id = ++c->next_backup_id;
	b->next = c->backups;
	c->backups = b;
	cse_os_mutex_unlock(c->lock);
	/* Pairs with client_peer_gone(): see the list, or see dead, or both. */
	cse_mb();
	if (cse_client_is_dead(c))
		ret = -ECONNRESET;
	else if (x->completion)
		ret = backup_queue(c, b);	/* the sender owns it now */
	else
		ret = backup_send(c, b);
	if (ret && backup_take(c, id) == b)
		goto err;	/* not issued: no completion */
	if (x->completion && !ret)
		return 0;	/* the sender owns it: b may be freed already */
	/*
	 * Issued, or the control thread took it as the server died (it then
	 * completes it): it finishes it once we are done with it.
	 */
	cse_store_release(&b->sent, 1);
	if (x->completion)
		return 0;

	while (!cse_load_acquire(&b->done))
		cse_os_wait(NULL, &b->done, 0, 0);
	cse_exec_post(x, b->in_area, b->out_area);
	backup_free(b);
	return x->result;
err:
	backup_free(b);
	return ret;
}

/* A BACKUP_RESP arrived on the control thread; any error drops the server. */
int cse_client_backup_reply(struct cse_client *c, const void *msg, long len)
{
	struct cse_wire_backup_resp r;
	struct cse_backup *b;
	struct cse_exec *x;
	int ret;

	if (len < (long)sizeof(r))
		return -EPROTO;
	memcpy(&r, msg, sizeof(r));
	if (r.hdr.type != CSE_WIRE_BACKUP_RESP || r.hdr.resv || r.resv)
		return -EPROTO;
	b = backup_take(c, r.hdr.id);
	if (!b)
		return -EPROTO;
	backup_wait_sent(b);
	x = b->x;
	if (r.output_len_actual > x->output_buffer_len) {
		backup_finish(b, -EPROTO);
		return -EPROTO;
	}
	ret = cse_wire_recv_data(c->ctl, msg, (size_t)len, sizeof(r),
				 b->out_area, r.output_len_actual);
	if (ret) {
		backup_finish(b, ret == -EPROTO ? -EPROTO : -ECONNRESET);
		return ret;
	}
	x->output_status_code = r.output_status;
	x->output_buffer_len_actual = r.output_len_actual;
	backup_finish(b, cse_wire_status_ok(r.result) ? r.result : -EPROTO);
	return 0;
}

void cse_client_fail_backups(struct cse_client *c)
{
	struct cse_backup *b;

	for (;;) {
		cse_os_mutex_lock(c->lock);
		b = c->backups;
		if (b)
			c->backups = b->next;
		cse_os_mutex_unlock(c->lock);
		if (!b)
			break;
		backup_wait_sent(b);
		backup_finish(b, -ECONNRESET);
	}
}
