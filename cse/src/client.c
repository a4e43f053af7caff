// SPDX-License-Identifier: MIT
/*
 * Client: connection setup, the control-channel thread (backup replies and
 * peer-death detection), execute dispatch and teardown.
 */
#include "client.h"
#include "wire.h"

#define CSE_DEFAULT_SLOTS	64U
#define CSE_DEFAULT_AREA	4096U

static int check_server_id(const char *id)
{
	return cse_server_id_valid(id) ? 0 : -EINVAL;
}

static int client_opts(struct cse_client *c, const struct cse_client_opts *o)
{
	if (o)
		c->opts = *o;
	if (c->opts.resv[0] || c->opts.resv[1] ||
	    c->opts.slot_policy > CSE_SLOTS_WAIT ||
	    c->opts.submit > CSE_SUBMIT_CALL)
		return -EINVAL;
	if (!c->opts.nslots)
		c->opts.nslots = CSE_DEFAULT_SLOTS;
	if (!c->opts.slot_input_size)
		c->opts.slot_input_size = CSE_DEFAULT_AREA;
	if (!c->opts.slot_output_size)
		c->opts.slot_output_size = CSE_DEFAULT_AREA;
	c->spin_ns = cse_spin_budget(c->opts.spin_ns);
	return cse_geom_compute(c->opts.nslots, c->opts.slot_input_size,
				c->opts.slot_output_size, &c->g);
}

/* The private slot tracking, once: a reconnection has the same geometry. */
static int client_arrays(struct cse_client *c)
{
	c->cmds = cse_os_zalloc(sizeof(*c->cmds) * c->g.nslots);
	c->free_stack = cse_os_zalloc(sizeof(*c->free_stack) * c->g.nslots);
	return c->cmds && c->free_stack ? 0 : -ENOMEM;
}

/*
 * The server parked our CS FIFO (it has workers for all its connections,
 * none asleep on ours): ring its doorbell.  A failure means the server is
 * gone, and its death completes the command.
 */
static void client_ring(void *arg)
{
	struct cse_client *c = arg;
	struct cse_wire_hdr m = { .type = CSE_WIRE_DOORBELL };

	cse_os_mutex_lock(c->send_lock);
	cse_os_ctl_send(c->ctl, &m, sizeof(m), NULL, 0, NULL);
	cse_os_mutex_unlock(c->send_lock);
}

static int client_chunk(struct cse_client *c)
{
	__u32 i;
	int ret;

	ret = cse_os_shm_create(c->ctl, c->g.chunk_size, &c->shm);
	if (ret)
		return ret;
	c->base = cse_os_shm_addr(c->shm);
	ret = cse_chunk_format(c->base, &c->g);
	if (ret)
		return ret;
	cse_fifo_attach(&c->cs, c->base, c->g.cs_fifo_off, &c->g);
	cse_fifo_attach(&c->sc, c->base, c->g.sc_fifo_off, &c->g);
	c->cs.ring = client_ring;
	c->cs.ring_arg = c;
	for (i = 0; i < c->g.nslots; i++) {
		c->cmds[i].off = cse_geom_slot_off(&c->g, i);
		c->cmds[i].busy = 0;
		c->cmds[i].x = NULL;
		c->free_stack[i] = c->g.nslots - 1 - i;
	}
	c->nfree = c->g.nslots;
	c->cached_slot = 0;
	return 0;
}

static int client_handshake(struct cse_client *c)
{
	struct cse_wire_hello hello = {
		.hdr.type = CSE_WIRE_HELLO,
		.abi_version = CSE_ABI_VERSION,
		.chunk_size = c->g.chunk_size,
		.nslots = c->g.nslots,
		.slot_input_size = c->g.slot_input_size,
		.slot_output_size = c->g.slot_output_size,
	};
	struct cse_wire_welcome w;
	long n;
	int ret;

	ret = cse_os_ctl_send(c->ctl, &hello, sizeof(hello), NULL, 0, c->shm);
	/*
	 * A server that refuses before it reads (out of descriptors) answers
	 * and hangs up at once, so our hello may find the channel closed:
	 * its answer is still there to read, and says why.
	 */
	if (ret && ret != -EPIPE)
		return ret;
	n = cse_os_ctl_recv(c->ctl, &w, sizeof(w), NULL);
	if (ret && n != sizeof(w))
		return -ECONNREFUSED;
	if (n == 0)
		return -ECONNREFUSED;
	if (n < 0)
		return (int)n;
	if (n == sizeof(w) && w.hdr.type == CSE_WIRE_SWAPPED(CSE_WIRE_WELCOME))
		return CSE_WIRE_OTHER_ENDIAN;	/* whatever status it sent */
	if (n != sizeof(w) || w.hdr.type != CSE_WIRE_WELCOME)
		return -EPROTO;
	if (!cse_wire_status_ok(w.status))
		return -EPROTO;
	return w.status;
}

/*
 * The server is gone (or we are leaving): fail everything in flight exactly
 * once.  Runs on the control thread only.
 */
static void client_peer_gone(struct cse_client *c)
{
	cse_store(&c->dead, 1);
	cse_mb();
	cse_client_stop_sender(c);
	cse_client_fail_slots(c);
	cse_client_fail_backups(c);
	cse_fetch_add(&c->free_seq, 1);
	cse_os_wake(NULL, &c->free_seq);
	cse_client_drain_sync(c);
	if (cse_load_acquire(&c->closing))
		return;
	/* Everything in flight has completed: now say so. */
	cse_os_mutex_lock(c->lock);
	if (c->event)
		cse_os_event_set(c->event);
	cse_os_mutex_unlock(c->lock);
	if (c->opts.on_peer_death)
		c->opts.on_peer_death(c, c->opts.peer_death_context);
}

static void client_ctl_main(void *arg)
{
	struct cse_client *c = arg;
	void *msg = cse_os_zalloc(CSE_OS_CTL_MSG_MAX);
	long n;

	while (msg) {
		n = cse_os_ctl_recv(c->ctl, msg, CSE_OS_CTL_MSG_MAX, NULL);
		if (n <= 0)
			break;
		if (cse_client_backup_reply(c, msg, n)) {
			cse_os_log(CSE_LOG_WARN,
				   "client %s: bad reply from server, disconnecting",
				   c->server_id);
			break;
		}
	}
	cse_os_free(msg);
	cse_os_ctl_shutdown(c->ctl);
	client_peer_gone(c);
}

/* Release the connection: channel and chunk (threads are gone). */
static void client_disconnect(struct cse_client *c)
{
	if (c->ctl)
		cse_os_ctl_close(c->ctl);
	c->ctl = NULL;
	if (c->shm) {
		cse_os_sync_fini(((struct cse_chunk_hdr *)c->base)->os_area);
		cse_os_shm_destroy(c->shm);
	}
	c->shm = NULL;
	c->base = NULL;
}

static void client_free(struct cse_client *c)
{
	client_disconnect(c);
	if (c->lock)
		cse_os_mutex_destroy(c->lock);
	if (c->send_lock)
		cse_os_mutex_destroy(c->send_lock);
	cse_os_event_destroy(c->event);
	cse_os_free(c->cmds);
	cse_os_free(c->free_stack);
	cse_os_free(c);
}

/*
 * Connect, hand the server a fresh chunk, and start the threads; on
 * failure, nothing of the connection is left.
 */
static int client_connect(struct cse_client *c)
{
	int ret;

	/* Connect first: where the chunk comes from depends on the peer. */
	ret = cse_os_ctl_connect(c->server_id, &c->ctl);
	if (ret)
		goto err;
	ret = client_chunk(c);
	if (ret)
		goto err;
	ret = client_handshake(c);
	if (ret)
		goto err;
	/*
	 * Alive again (a reconnection), before the control thread can see
	 * the next death and say so.
	 */
	cse_os_mutex_lock(c->lock);
	if (c->event)
		cse_os_event_clear(c->event);
	cse_os_mutex_unlock(c->lock);
	cse_store(&c->scm_stop, 0);
	cse_store(&c->scm_done, 0);
	cse_store(&c->no_call, 0);	/* a new server may take calls */
	cse_store_release(&c->dead, 0);
	ret = cse_os_thread_start(&c->scm_thread, "cse-scm", cse_client_scm_main, c);
	if (ret)
		goto err_dead;
	ret = cse_os_thread_start(&c->ctl_thread, "cse-cctl", client_ctl_main, c);
	if (ret) {
		cse_client_stop_scm(c);
		goto err_dead;
	}
	return 0;
err_dead:
	cse_store_release(&c->dead, 1);
err:
	client_disconnect(c);
	return ret;
}

int cse_client_init(struct cse_client **out, const char *server_id,
		    const struct cse_client_opts *opts)
{
	struct cse_client *c;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = check_server_id(server_id);
	if (ret)
		return ret;
	c = cse_os_zalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	strcpy(c->server_id, server_id);

	ret = client_opts(c, opts);
	if (ret)
		goto err;
	ret = cse_os_mutex_create(&c->lock);
	if (!ret)
		ret = cse_os_mutex_create(&c->send_lock);
	if (!ret)
		ret = client_arrays(c);
	if (!ret)
		ret = client_connect(c);
	if (ret)
		goto err;
	*out = c;
	return 0;
err:
	client_free(c);
	return ret;
}

int cse_client_reconnect(struct cse_client *c)
{
	if (!c)
		return -EINVAL;
	if (!cse_client_is_dead(c))
		return -EISCONN;
	/* Its last act was failing what was in flight and the notice. */
	if (c->ctl_thread) {
		cse_os_thread_join(c->ctl_thread);
		c->ctl_thread = NULL;
	}
	client_disconnect(c);
	c->sender_stop = 0;
	/* On failure still dead: execute fails fast, deinit and retries work. */
	return client_connect(c);
}

int cse_client_event_fd(struct cse_client *c)
{
	int ret = 0;

	if (!c)
		return -EINVAL;
	cse_os_mutex_lock(c->lock);
	if (!c->event) {
		ret = cse_os_event_create(&c->event);
		/* Under the lock: the control thread sets it under it too. */
		if (!ret && cse_client_is_dead(c))
			cse_os_event_set(c->event);
	}
	if (!ret)
		ret = cse_os_event_fd(c->event);
	cse_os_mutex_unlock(c->lock);
	return ret;
}

void cse_client_deinit(struct cse_client *c)
{
	if (!c)
		return;
	cse_store_release(&c->closing, 1);
	/* The server sees EOF; our control thread sees it too and fails the rest. */
	if (c->ctl_thread) {
		cse_os_ctl_shutdown(c->ctl);
		cse_os_thread_join(c->ctl_thread);
	}
	client_free(c);
}

bool cse_client_is_dead(struct cse_client *c)
{
	return cse_load_acquire(&c->dead) != 0;
}

int cse_exec_prepare(struct cse_exec *x, void *in_area, void *out_area)
{
	int ret;

	if (x->input_prepare) {
		ret = x->input_prepare(x, in_area);
		if (ret)
			return ret;
	} else if (x->input_buffer_len) {
		memcpy(in_area, x->input_buffer_base, x->input_buffer_len);
	}
	if (x->output_prepare)
		return x->output_prepare(x, out_area);
	return 0;
}

void cse_exec_post(struct cse_exec *x, void *in_area, void *out_area)
{
	if (x->input_post)
		x->input_post(x, in_area);
	if (x->output_post)
		x->output_post(x, out_area);
	else if (!x->result && x->output_buffer_len_actual)
		memcpy(x->output_buffer_base, out_area,
		       x->output_buffer_len_actual);
}

static int check_exec(const struct cse_exec *x)
{
	if (x->flags & ~(CSE_EXEC_LAST - 1))
		return -EINVAL;
	if ((x->flags & CSE_EXEC_INLINE) && (x->flags & CSE_EXEC_WORKER))
		return -EINVAL;
	if (!x->input_prepare && x->input_buffer_len && !x->input_buffer_base)
		return -EINVAL;
	if (!x->output_post && x->output_buffer_len && !x->output_buffer_base)
		return -EINVAL;
	if (x->input_buffer_len > CSE_MAX_BACKUP ||
	    x->output_buffer_len > CSE_MAX_BACKUP)
		return -EMSGSIZE;
	return 0;
}

/* Check @x and clear its outputs: 0 when it may be issued. */
static int exec_begin(struct cse_client *c, struct cse_exec *x)
{
	int ret;

	if (!c)
		return -EINVAL;
	ret = check_exec(x);
	if (ret)
		return ret;
	if (cse_client_is_dead(c))
		return -ECONNRESET;

	x->output_buffer_len_actual = 0;
	x->output_status_code = 0;
	x->result = 0;
	x->backup = 0;
	return 0;
}

static bool exec_fits_slot(const struct cse_client *c, const struct cse_exec *x)
{
	return !(x->flags & CSE_EXEC_FORCE_BACKUP) &&
	       x->input_buffer_len <= c->g.slot_input_size &&
	       x->output_buffer_len <= c->g.slot_output_size;
}

/* After exec_begin(): a slot, else (none free, or too big) the backup path. */
static int exec_issue(struct cse_client *c, struct cse_exec *x)
{
	int ret;

	if (exec_fits_slot(c, x)) {
		ret = cse_client_exec_slot(c, x);
		if (ret != -EAGAIN)
			return ret;
		/* No free slot and the policy says: take the backup path. */
	}
	return cse_client_exec_backup(c, x);
}

int cse_execute(struct cse_client *c, struct cse_exec *x)
{
	int ret;

	if (!x)
		return -EINVAL;
	ret = exec_begin(c, x);
	if (!ret)
		ret = exec_issue(c, x);
	/*
	 * Nonzero: a synchronous result, or a command that was not issued and
	 * gets no completion; either way @x is still the caller's and ours.
	 * The return value and x->result always agree.
	 */
	if (ret)
		x->result = ret;
	return ret;
}

/*
 * One command of a batch: into a slot and the pending burst when one is
 * free now.  Anything else (CSE_SUBMIT_CTL, which has no FIFO burst, too
 * big, no free slot) goes as cse_execute() sends it, after the burst so
 * far, so commands reach the server in the caller's order.
 */
static int batch_add(struct cse_client *c, struct cse_batch *b, struct cse_exec *x)
{
	int ret;

	ret = exec_begin(c, x);
	if (ret)
		return ret;
	if (c->opts.submit != CSE_SUBMIT_CTL && exec_fits_slot(c, x)) {
		ret = cse_client_batch_slot(c, b, x);
		if (ret != -EAGAIN)
			return ret;
	}
	cse_client_batch_flush(c, b);
	return exec_issue(c, x);
}

/* Every command there and of one kind: synchronous, or not. */
static bool batch_well_formed(struct cse_exec *const *xs, unsigned int n)
{
	bool sync = !xs[0]->completion;
	unsigned int i;

	for (i = 1; i < n; i++)
		if (!xs[i] || !xs[i]->completion != sync)
			return false;
	return true;
}

/*
 * Synchronous: every command runs, in order, each with its result in
 * x->result as cse_execute() would return it; a command that cannot start
 * does not stop the rest.
 */
static int batch_sync(struct cse_client *c, struct cse_exec *const *xs,
		      unsigned int n)
{
	struct cse_batch b = { .sync = true };
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = batch_add(c, &b, xs[i]);
		if (ret)
			xs[i]->result = ret;
	}
	cse_client_batch_flush(c, &b);
	return (int)n;
}

int cse_execute_batch(struct cse_client *c, struct cse_exec *const *xs,
		      unsigned int n)
{
	struct cse_batch b = { .sync = false };
	unsigned int i;
	int ret = 0;

	if (!c || !xs || !n || n > CSE_MAX_BATCH || !xs[0])
		return -EINVAL;
	if (!xs[0]->completion) {
		if (!batch_well_formed(xs, n))
			return -EINVAL;
		return batch_sync(c, xs, n);
	}
	for (i = 0; i < n; i++) {
		if (!xs[i]) {
			ret = -EINVAL;
			break;
		}
		ret = xs[i]->completion ? batch_add(c, &b, xs[i]) : -EINVAL;
		if (ret) {
			xs[i]->result = ret;
			break;
		}
	}
	cse_client_batch_flush(c, &b);
	return i ? (int)i : ret;
}
