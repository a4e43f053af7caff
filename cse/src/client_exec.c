// SPDX-License-Identifier: MIT
/*
 * Client commands through shared-memory slots.
 *
 * Synchronous: the caller fills a slot, pushes its offset to the CS FIFO and
 * waits on the slot's state word, which the server sets to DONE itself, so
 * the round trip is client -> server -> client with no thread in between.
 * Asynchronous: the server pushes the offset back on the SC FIFO and the
 * SCM thread runs the post callbacks and the completion.
 *
 * Exactly once: a synchronous command is finished only by its caller (the
 * control thread merely flips SUBMITTED to PEER_DEAD when the server dies);
 * an asynchronous one by the SCM thread, or, after the SCM thread has been
 * stopped and joined, by the control thread.
 */
#include "client.h"

/*
 * Sleeps on the hot path have no timeout: a timed futex wait arms a kernel
 * timer every time, and every wake-up they wait for is guaranteed (the
 * control thread flips the slot to PEER_DEAD or kicks the FIFO on death).
 * Waiting for a free slot is off the hot path; it re-checks the dead flag.
 */
#define NO_TIMEOUT	0
#define SLEEP_SLICE_NS	200000000ULL
#define KICK_SLICE_NS	100000000ULL

/*
 * The slot freed last, kept out of the free stack (index + 1; 0: none), so
 * a thread that issues back to back takes and gives back its slot with one
 * atomic each instead of the mutex's two: 14 ns of a 64 B round trip's
 * 183 (bench/touches.py).  Any free slot will do, so whoever takes it may.
 */
static bool slot_uncache(struct cse_client *c, __u32 *idx)
{
	__u32 v;

	if (!cse_load(&c->cached_slot))
		return false;
	v = cse_xchg(&c->cached_slot, 0);
	if (!v)
		return false;
	*idx = v - 1;
	return true;
}

/* A free slot; -EAGAIN when none is, unless @may_wait and the policy waits. */
static int slot_get(struct cse_client *c, __u32 *idx, bool may_wait)
{
	for (;;) {
		__u32 seq = cse_load(&c->free_seq);

		if (slot_uncache(c, idx))
			return 0;
		cse_os_mutex_lock(c->lock);
		if (c->nfree) {
			*idx = c->free_stack[--c->nfree];
			cse_os_mutex_unlock(c->lock);
			return 0;
		}
		cse_os_mutex_unlock(c->lock);
		/* Freed into the cache while we looked at the stack? */
		if (slot_uncache(c, idx))
			return 0;
		if (!may_wait || c->opts.slot_policy != CSE_SLOTS_WAIT)
			return -EAGAIN;
		if (cse_client_is_dead(c))
			return -ECONNRESET;
		cse_fetch_add(&c->free_waiters, 1);
		cse_os_wait(NULL, &c->free_seq, seq, SLEEP_SLICE_NS);
		cse_fetch_add(&c->free_waiters, (__u32)-1);
	}
}

static void slot_put(struct cse_client *c, __u32 idx)
{
	c->cmds[idx].x = NULL;
	cse_store_release(&c->cmds[idx].busy, 0);
	if (cse_load(&c->cached_slot) || cse_cmpxchg(&c->cached_slot, 0, idx + 1)) {
		cse_os_mutex_lock(c->lock);
		c->free_stack[c->nfree++] = idx;
		cse_os_mutex_unlock(c->lock);
	}
	/* After death the control thread waits for synchronous callers here. */
	if (c->opts.slot_policy != CSE_SLOTS_WAIT && !cse_client_is_dead(c))
		return;
	/* Bump, then look for sleepers: slot_get counts itself in, then sleeps. */
	cse_fetch_add(&c->free_seq, 1);
	if (cse_load(&c->free_waiters))
		cse_os_wake(NULL, &c->free_seq);
}

static void *slot_in(struct cse_client *c, __u32 idx)
{
	return (char *)cse_client_slot(c, idx) + sizeof(struct cse_slot_hdr);
}

static void *slot_out(struct cse_client *c, __u32 idx)
{
	return (char *)slot_in(c, idx) + c->g.slot_input_size;
}

/*
 * Read the server's results out of the slot, once, and check them against
 * what this command allowed.
 */
static void slot_results(struct cse_client *c, __u32 idx, struct cse_exec *x)
{
	struct cse_slot_hdr *h = cse_client_slot(c, idx);
	__u32 actual = cse_load(&h->output_len_actual);

	x->output_status_code = (int)cse_load((__u32 *)&h->output_status);
	if (actual > x->output_buffer_len) {
		x->result = -EPROTO;
		x->output_buffer_len_actual = 0;
		return;
	}
	x->output_buffer_len_actual = actual;
}

void cse_client_complete_slot(struct cse_client *c, __u32 idx, int result)
{
	struct cse_exec *x = c->cmds[idx].x;

	x->result = result;
	if (!result)
		slot_results(c, idx, x);
	cse_exec_post(x, slot_in(c, idx), slot_out(c, idx));
	/* Free the slot first: the completion may issue the next command. */
	slot_put(c, idx);
	if (x->completion)
		x->completion(x, x->completion_context);
}

static int slot_wait_sync(struct cse_client *c, __u32 idx)
{
	struct cse_slot_hdr *h = cse_client_slot(c, idx);
	__u32 st;

	cse_spin_while(&h->state, CSE_SLOT_SUBMITTED, &c->dead, c->spin_ns);
	for (;;) {
		st = cse_load_acquire(&h->state);
		if (st != CSE_SLOT_SUBMITTED)
			break;
		cse_store(&h->waiters, 1);
		cse_mb();
		st = cse_load_acquire(&h->state);
		/*
		 * Dead, yet still SUBMITTED: the server wrote back the
		 * PEER_DEAD the control thread set.  Our own flag decides.
		 */
		if (st != CSE_SLOT_SUBMITTED || cse_client_is_dead(c))
			break;
		cse_os_wait(c->cs.sync, &h->state,
			    CSE_SLOT_SUBMITTED, NO_TIMEOUT);
	}
	if (cse_load(&h->waiters))	/* a store would cost a cache-line transfer */
		cse_store(&h->waiters, 0);
	if (st == CSE_SLOT_DONE)
		return 0;
	return st == CSE_SLOT_PEER_DEAD || st == CSE_SLOT_SUBMITTED ?
	       -ECONNRESET : -EPROTO;
}

/* CSE_SUBMIT_CTL: the slot's offset as a message (an ioctl to the kernel). */
static int slot_submit_ctl(struct cse_client *c, __u32 off)
{
	struct cse_wire_submit m = {
		.hdr.type = CSE_WIRE_SUBMIT,
		.slot_off = off,
	};
	int ret;

	cse_os_mutex_lock(c->send_lock);
	ret = cse_os_ctl_send(c->ctl, &m, sizeof(m), NULL, 0, NULL);
	cse_os_mutex_unlock(c->send_lock);
	return ret == -EPIPE ? -ECONNRESET : ret;
}

/*
 * A call to the server that runs slot commands (an ioctl to a kernel
 * server, a direct call between kernel modules).  -EOPNOTSUPP: the server
 * takes no such call (a user server; or a module from before it, which
 * refuses the flag with -EINVAL): nothing ran; *@never is set, so the
 * FIFO carries these commands from now on.
 */
static int slot_commands_call(struct cse_client *c, struct cse_os_call *call,
			      __u32 *never)
{
	int ret;

	if (cse_client_is_dead(c))
		return -ECONNRESET;
	ret = cse_os_ctl_call(c->ctl, call);
	if (ret == -EOPNOTSUPP || ret == -EINVAL) {
		cse_store(never, 1);
		return -EOPNOTSUPP;
	}
	return ret == -EPIPE ? -ECONNRESET : ret;
}

/*
 * CSE_SUBMIT_CALL: the slot's offset in one call that runs the command and
 * returns with its results in the slot header.
 */
static int slot_call(struct cse_client *c, __u32 off)
{
	struct cse_os_call call = {
		.flags = CSE_DEV_CALL_F_SLOT,
		.slot_off = off,
	};

	return slot_commands_call(c, &call, &c->no_call);
}

/*
 * Take a slot for @x (see slot_get()), run the prepare callbacks into it
 * and write its header: the slot is then the command's, marked @busy, and
 * only waits to be submitted.
 */
static int slot_fill(struct cse_client *c, struct cse_exec *x, bool may_wait,
		     __u32 busy, __u32 *out)
{
	struct cse_slot_hdr *h;
	struct cse_cmd *cmd;
	__u32 idx, flags = 0;
	int ret;

	ret = slot_get(c, &idx, may_wait);
	if (ret)
		return ret;
	cmd = &c->cmds[idx];
	h = cse_client_slot(c, idx);

	ret = cse_exec_prepare(x, slot_in(c, idx), slot_out(c, idx));
	if (ret) {
		slot_put(c, idx);
		return ret;
	}
	if (!x->completion)
		flags |= CSE_SLOT_F_SYNC;
	if (x->flags & CSE_EXEC_INLINE)
		flags |= CSE_SLOT_F_INLINE;
	if (x->flags & CSE_EXEC_WORKER)
		flags |= CSE_SLOT_F_WORKER;

	cmd->x = x;
	cmd->sync = !x->completion;
	cmd->seq++;		/* the slot's own use count: we own it now */
	h->input_code = x->input_code;
	h->flags = flags;
	h->input_len = (__u32)x->input_buffer_len;
	h->output_len = (__u32)x->output_buffer_len;
	h->output_len_actual = 0;
	h->output_status = 0;
	h->seq = cmd->seq;
	h->waiters = 0;
	cse_store(&h->state, CSE_SLOT_SUBMITTED);
	cse_store_release(&cmd->busy, busy);
	*out = idx;
	return 0;
}

int cse_client_exec_slot(struct cse_client *c, struct cse_exec *x)
{
	bool sync = !x->completion;
	struct cse_cmd *cmd;
	__u32 idx;
	int ret;

	ret = slot_fill(c, x, true, 1, &idx);
	if (ret)
		return ret;
	cmd = &c->cmds[idx];
	/*
	 * The command runs before the call returns, on this thread or with it
	 * waiting: no FIFO, no wake-up.  The call fails with -ECONNRESET
	 * rather than start once the server is gone, so the barrier below is
	 * not needed: busy only keeps the control thread's teardown waiting.
	 */
	if (sync && c->opts.submit == CSE_SUBMIT_CALL && !cse_load(&c->no_call)) {
		ret = slot_call(c, cmd->off);
		if (!ret) {
			cse_client_complete_slot(c, idx, 0);
			return x->result;
		}
		if (ret != -EOPNOTSUPP) {
			slot_put(c, idx);	/* never ran: not issued */
			return ret;
		}
	}
	/*
	 * Pairs with the barrier in client_peer_gone(): it sees this slot
	 * busy, or we see the dead flag here, or both.  For an asynchronous
	 * command the compare-and-swap on busy decides who finishes it.
	 */
	cse_mb();
	ret = cse_client_is_dead(c) ? -ECONNRESET : 0;
	if (!ret && c->opts.submit == CSE_SUBMIT_CTL)
		ret = slot_submit_ctl(c, cmd->off);
	else if (!ret)
		cse_fifo_push(&c->cs, cmd->off);
	if (ret) {
		/* Never reached the server: fail it here, exactly once. */
		if (!sync && cse_cmpxchg(&cmd->busy, 1, 0) != 1)
			return 0;	/* the control thread completes it */
		slot_put(c, idx);
		return ret;
	}
	if (!sync)
		return 0;

	ret = slot_wait_sync(c, idx);
	cse_client_complete_slot(c, idx, ret);
	return x->result;
}

int cse_client_batch_slot(struct cse_client *c, struct cse_batch *b,
			  struct cse_exec *x)
{
	__u32 idx;
	int ret;

	ret = slot_fill(c, x, false, CSE_CMD_BATCHED, &idx);
	if (ret)
		return ret;
	b->slot[b->n++] = idx;
	if (b->n == CSE_BATCH_DOORBELL)
		cse_client_batch_flush(c, b);
	return 0;
}

/* A batched command the server will never see: it ends here. */
static void batch_fail(struct cse_client *c, __u32 idx, __u32 busy)
{
	if (cse_cmpxchg(&c->cmds[idx].busy, busy, 2) == busy)
		cse_client_complete_slot(c, idx, -ECONNRESET);
}

/*
 * A synchronous batch to a server that takes calls: all its slots in one
 * call that returns once they have run.  Return: how many ran, counted
 * from the first, or as slot_commands_call().
 */
static int batch_call(struct cse_client *c, const __u32 *offs, __u32 n)
{
	struct cse_os_call call = {
		.flags = CSE_DEV_CALL_F_SLOTS,
		.input = offs,
		.input_len = n * (__u32)sizeof(offs[0]),
	};

	return slot_commands_call(c, &call, &c->no_call_batch);
}

/*
 * Synchronous commands: in one call where the server takes one, else one
 * FIFO burst; either way each is finished here, by its caller (as in
 * cse_client_exec_slot(), the control thread only flips the state of a
 * synchronous slot when the server dies).
 */
static void batch_flush_sync(struct cse_client *c, struct cse_batch *b)
{
	__u32 offs[CSE_BATCH_DOORBELL], i;
	int ret;

	for (i = 0; i < b->n; i++)
		offs[i] = c->cmds[b->slot[i]].off;
	if (c->opts.submit == CSE_SUBMIT_CALL && !cse_load(&c->no_call) &&
	    !cse_load(&c->no_call_batch)) {
		ret = batch_call(c, offs, b->n);
		if (ret != -EOPNOTSUPP) {
			/* A slot the server found bad: only a broken server says so. */
			for (i = 0; i < b->n; i++)
				cse_client_complete_slot(c, b->slot[i], ret < 0 ? ret :
							 i < (__u32)ret ? 0 : -EPROTO);
			b->n = 0;
			return;
		}
	}
	for (i = 0; i < b->n; i++)
		cse_store_release(&c->cmds[b->slot[i]].busy, 1);
	/* Pairs with the barrier in client_peer_gone(), as for one command. */
	cse_mb();
	if (cse_client_is_dead(c)) {
		for (i = 0; i < b->n; i++)
			cse_client_complete_slot(c, b->slot[i], -ECONNRESET);
		b->n = 0;
		return;
	}
	cse_fifo_push_many(&c->cs, offs, b->n);
	for (i = 0; i < b->n; i++)
		cse_client_complete_slot(c, b->slot[i], slot_wait_sync(c, b->slot[i]));
	b->n = 0;
}

void cse_client_batch_flush(struct cse_client *c, struct cse_batch *b)
{
	__u32 i;

	if (!b->n)
		return;
	if (b->sync) {
		batch_flush_sync(c, b);
		return;
	}
	/*
	 * Issued as far as the caller knows (cse_execute_batch() counted
	 * them): if the server is gone, each completes with -ECONNRESET.
	 * Death seen before publishing: they are still ours alone.
	 */
	if (cse_client_is_dead(c)) {
		for (i = 0; i < b->n; i++)
			batch_fail(c, b->slot[i], CSE_CMD_BATCHED);
		b->n = 0;
		return;
	}
	for (i = 0; i < b->n; i++)
		cse_store_release(&c->cmds[b->slot[i]].busy, 1);
	/*
	 * As in cse_client_exec_slot(): busy is stored, then dead is read,
	 * and the compare-and-swap decides who finishes each command: here,
	 * or the control thread that saw it in flight.
	 */
	cse_mb();
	if (!cse_client_is_dead(c)) {
		for (i = 0; i < b->n; i++)
			b->slot[i] = c->cmds[b->slot[i]].off;
		cse_fifo_push_many(&c->cs, b->slot, b->n);
	} else {
		for (i = 0; i < b->n; i++)
			batch_fail(c, b->slot[i], 1);
	}
	b->n = 0;
}

/* The SC FIFO reader: completes asynchronous commands. */
void cse_client_scm_main(void *arg)
{
	struct cse_client *c = arg;
	__u32 off;
	int idx;

	while (!cse_load_acquire(&c->scm_stop)) {
		off = cse_fifo_pop(&c->sc);
		if (!off) {
			cse_fifo_wait(&c->sc, c->spin_ns, &c->scm_stop,
				      NO_TIMEOUT);
			continue;
		}
		idx = cse_geom_slot_index(&c->g, off);
		if (idx < 0 || cse_load_acquire(&c->cmds[idx].busy) != 1 ||
		    c->cmds[idx].sync) {
			cse_os_log(CSE_LOG_WARN,
				   "client %s: server returned bad slot offset %u",
				   c->server_id, off);
			cse_os_ctl_shutdown(c->ctl);
			break;
		}
		cse_client_complete_slot(c, (__u32)idx, 0);
	}
	cse_store_release(&c->scm_done, 1);
	cse_os_wake(NULL, &c->scm_done);
}

/*
 * Stop the SCM thread.  The kick is repeated until it has left: the server
 * can write the FIFO word back and undo a kick that came before the thread
 * slept.
 */
void cse_client_stop_scm(struct cse_client *c)
{
	cse_store_release(&c->scm_stop, 1);
	while (!cse_load_acquire(&c->scm_done)) {
		cse_fifo_kick(&c->sc);
		cse_os_wait(NULL, &c->scm_done, 0, KICK_SLICE_NS);
	}
	cse_os_thread_join(c->scm_thread);
	c->scm_thread = NULL;
}

/* Server gone: wake synchronous callers, then finish async commands. */
void cse_client_fail_slots(struct cse_client *c)
{
	__u32 i;

	for (i = 0; i < c->g.nslots; i++) {
		struct cse_slot_hdr *h = cse_client_slot(c, i);

		if (!cse_load_acquire(&c->cmds[i].busy) || !c->cmds[i].sync)
			continue;
		cse_cmpxchg(&h->state, CSE_SLOT_SUBMITTED, CSE_SLOT_PEER_DEAD);
		/*
		 * Wake even when the swap failed: a hostile server may have
		 * changed the state without a wake, and the caller sleeps
		 * until someone wakes it to see that (and return -EPROTO).
		 */
		cse_os_wake(c->cs.sync, &h->state);
	}
	cse_client_stop_scm(c);
	for (i = 0; i < c->g.nslots; i++)
		if (cse_load_acquire(&c->cmds[i].busy) && !c->cmds[i].sync &&
		    cse_cmpxchg(&c->cmds[i].busy, 1, 2) == 1)
			cse_client_complete_slot(c, i, -ECONNRESET);
}

/*
 * Wake synchronous callers until each has left its slot: one that was
 * about to sleep when the server died may have missed the first wake-up
 * (the server can write the state word back), and sees the dead flag on
 * the next.
 */
static bool sync_busy(struct cse_client *c, bool wake)
{
	bool busy = false;
	__u32 i;

	for (i = 0; i < c->g.nslots; i++) {
		if (!cse_load_acquire(&c->cmds[i].busy) || !c->cmds[i].sync)
			continue;
		if (!wake)
			return true;
		busy = true;
		cse_os_wake(c->cs.sync, &cse_client_slot(c, i)->state);
	}
	return busy;
}

void cse_client_drain_sync(struct cse_client *c)
{
	__u32 seq;

	while (sync_busy(c, true)) {
		seq = cse_load(&c->free_seq);
		cse_fetch_add(&c->free_waiters, 1);
		cse_mb();	/* as in slot_get(): counted in, then re-check */
		if (sync_busy(c, false))
			cse_os_wait(NULL, &c->free_seq, seq, KICK_SLICE_NS);
		cse_fetch_add(&c->free_waiters, (__u32)-1);
	}
}
