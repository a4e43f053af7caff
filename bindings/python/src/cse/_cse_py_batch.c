// SPDX-License-Identifier: MIT
/*
 * The binding's C side: a batch of many commands in one crossing.
 *
 * User-space code for the platforms the binding runs on (POSIX threads),
 * not part of the portable core: it may call the OS.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cse_py_int.h"

/* ---- batch: many commands in one crossing ---- */

/*
 * Each of the window's commands is re-issued by its own completion with the
 * batch's next command, on the runtime's completion thread, as bench-cse's
 * callback mode does: no thread hand-off per command, and the caller's
 * thread only issues the first window and then waits for the last
 * completion, asleep.
 */
#define CPY_BATCH_WINDOW_MAX	64U

struct cpy_batch;

struct cpy_batch_cmd {
	struct cse_exec x;
	struct cpy_batch *b;
	uint32_t i;			/* the batch command it carries now */
};

struct cpy_batch {
	struct cpy_batch_cmd cmd[CPY_BATCH_WINDOW_MAX];
	struct cse_client *c;
	uint32_t code, flags, n;
	const uint32_t *codes;
	const char *in;
	size_t in_stride;
	const uint32_t *in_lens;
	char *out;
	size_t out_stride;
	int32_t *results;
	int32_t *statuses;
	uint32_t *lens;
	uint32_t next;			/* the next command to issue */
	uint32_t active;		/* window places still carrying commands */
	uint32_t exited;		/* retired places past their last touch of us */
	struct cpy_event done;		/* bumped when a place retires */
};

static void batch_record(struct cpy_batch *b, uint32_t i, int result,
			 const struct cse_exec *x)
{
	b->results[i] = result;
	b->statuses[i] = result ? 0 : x->output_status_code;
	b->lens[i] = result ? 0 : (uint32_t)x->output_buffer_len_actual;
}

static void batch_completion(struct cse_exec *x, void *ctx);

/*
 * Issue the batch's next commands on @cmd until one is in flight (then
 * true) or none is left (false).  Commands that cannot be issued get their
 * error as their result.
 */
static bool batch_issue(struct cpy_batch_cmd *cmd)
{
	struct cpy_batch *b = cmd->b;
	struct cse_exec *x = &cmd->x;
	uint32_t i;
	int ret;

	for (;;) {
		i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
		if (i >= b->n)
			return false;
		memset(x, 0, sizeof(*x));
		cmd->i = i;
		x->input_code = b->codes ? b->codes[i] : b->code;
		x->flags = b->flags;
		x->input_buffer_base = b->in + b->in_stride * i;
		x->input_buffer_len = b->in_lens ? b->in_lens[i] : b->in_stride;
		x->output_buffer_base = b->out + b->out_stride * i;
		x->output_buffer_len = b->out_stride;
		x->completion = batch_completion;
		x->completion_context = cmd;
		ret = cse_execute(b->c, x);
		if (!ret)
			return true;
		batch_record(b, i, ret, x);	/* not issued: no completion */
	}
}

static void batch_retire(struct cpy_batch *b)
{
	__atomic_fetch_sub(&b->active, 1, __ATOMIC_SEQ_CST);
	cpy_event_bump(&b->done);
	__atomic_fetch_add(&b->exited, 1, __ATOMIC_RELEASE);	/* the last touch */
}

static void batch_completion(struct cse_exec *x, void *ctx)
{
	struct cpy_batch_cmd *cmd = ctx;

	batch_record(cmd->b, cmd->i, x->result, x);
	if (!batch_issue(cmd))
		batch_retire(cmd->b);
}

int cpy_batch(struct cpy_client *w, uint32_t code, const uint32_t *codes,
	      uint32_t flags, const char *in, size_t in_stride,
	      const uint32_t *in_lens, char *out, size_t out_stride,
	      uint32_t n, uint32_t window, int32_t *results,
	      int32_t *statuses, uint32_t *lens)
{
	struct cpy_batch *b;
	uint32_t k, places, seen;
	int ret;

	if (!window || window > CPY_BATCH_WINDOW_MAX)
		return -EINVAL;
	if (!n)
		return 0;
	ret = cpy_client_enter(w);
	if (ret)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b) {
		cpy_client_leave(w);
		return -ENOMEM;
	}
	ret = cpy_event_init(&b->done);
	if (ret) {
		free(b);
		cpy_client_leave(w);
		return ret;
	}
	b->c = w->c;
	b->code = code;
	b->codes = codes;
	b->flags = flags;
	b->in = in;
	b->in_stride = in_stride;
	b->in_lens = in_lens;
	b->out = out;
	b->out_stride = out_stride;
	b->n = n;
	b->results = results;
	b->statuses = statuses;
	b->lens = lens;
	places = window < n ? window : n;
	/* Counted active first: an early completion may retire its place. */
	b->active = places;
	for (k = 0; k < places; k++) {
		b->cmd[k].b = b;
		if (!batch_issue(&b->cmd[k]))
			batch_retire(b);
	}
	for (;;) {
		seen = cpy_ld(&b->done.word);
		if (!cpy_ld(&b->active))
			break;
		cpy_event_wait(&b->done, seen, false, 0);
	}
	/* The last place to retire may still be waking us: wait until it left. */
	while (__atomic_load_n(&b->exited, __ATOMIC_ACQUIRE) != places)
		sched_yield();
	cpy_event_fini(&b->done);
	free(b);
	cpy_client_leave(w);
	return 0;
}

