// SPDX-License-Identifier: MIT
/*
 * The binding's C side: the completion queue the binding's dispatcher
 * thread reaps (asynchronous commands for Futures and asyncio).
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

/* ---- completion queue: asynchronous commands for Python ---- */

struct cpy_rec {
	struct cse_exec x;
	struct cpy_queue *q;
	struct cpy_rec *next;
	uint64_t token;
	char out[];
};

struct cpy_queue {
	pthread_mutex_t lock;
	struct cpy_rec *head, **tail;
	uint32_t closed;
	struct cpy_event ready;		/* bumped per completion and at close */
};

int cpy_queue_new(struct cpy_queue **out)
{
	struct cpy_queue *q = calloc(1, sizeof(*q));
	int ret;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	ret = cpy_event_init(&q->ready);
	if (ret) {
		free(q);
		return ret;
	}
	ret = -pthread_mutex_init(&q->lock, NULL);
	if (ret) {
		cpy_event_fini(&q->ready);
		free(q);
		return ret;
	}
	q->tail = &q->head;
	*out = q;
	return 0;
}

void cpy_queue_close(struct cpy_queue *q)
{
	__atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
	cpy_event_bump(&q->ready);
}

/* Only once no command of the queue is in flight (its client is closed). */
void cpy_queue_free(struct cpy_queue *q)
{
	struct cpy_rec *r, *next;

	if (!q)
		return;
	for (r = q->head; r; r = next) {
		next = r->next;
		free(r);
	}
	pthread_mutex_destroy(&q->lock);
	cpy_event_fini(&q->ready);
	free(q);
}

static void rec_completion(struct cse_exec *x, void *ctx)
{
	struct cpy_rec *r = ctx;
	struct cpy_queue *q = r->q;

	(void)x;
	r->next = NULL;
	pthread_mutex_lock(&q->lock);
	*q->tail = r;
	q->tail = &r->next;
	pthread_mutex_unlock(&q->lock);
	cpy_event_bump(&q->ready);
}

int cpy_submit(struct cpy_client *w, struct cpy_queue *q, uint64_t token,
	       uint32_t code, uint32_t flags, const char *in, size_t in_len,
	       size_t out_len)
{
	struct cpy_rec *r;
	int ret;

	if (out_len > CSE_MAX_BACKUP)
		return -EMSGSIZE;
	ret = cpy_client_enter(w);
	if (ret)
		return ret;
	r = malloc(sizeof(*r) + out_len);
	if (!r) {
		cpy_client_leave(w);
		return -ENOMEM;
	}
	memset(&r->x, 0, sizeof(r->x));
	r->q = q;
	r->token = token;
	r->x.input_code = code;
	r->x.flags = flags;
	/* Copied into the slot or the backup buffer before cse_execute returns. */
	r->x.input_buffer_base = in;
	r->x.input_buffer_len = in_len;
	r->x.output_buffer_base = r->out;
	r->x.output_buffer_len = out_len;
	r->x.completion = rec_completion;
	r->x.completion_context = r;
	ret = cse_execute(w->c, &r->x);
	cpy_client_leave(w);
	if (ret)
		free(r);	/* not issued: no completion */
	return ret;
}

/*
 * Take up to @max completions, waiting up to @timeout_ms (<0: forever) for
 * the first.  Their outputs go one after another into @out; a completion
 * whose output does not fit stays for the next reap, unless it is the
 * first: then -ENOBUFS with the size it needs in packed[0].
 * Return: how many; 0 on timeout; -EPIPE once closed and empty.
 */
int cpy_reap(struct cpy_queue *q, uint64_t *tokens, int64_t *packed,
	     uint32_t max, char *out, size_t out_cap, int32_t timeout_ms)
{
	struct cpy_rec *r, *taken = NULL, **last = &taken;
	size_t used = 0, len;
	uint32_t n = 0, seen;

	for (;;) {
		seen = cpy_ld(&q->ready.word);
		if (__atomic_load_n(&q->head, __ATOMIC_SEQ_CST) || cpy_ld(&q->closed))
			break;
		if (cpy_event_wait(&q->ready, seen, true, timeout_ms < 0 ? 0 :
			       (uint64_t)timeout_ms * 1000000ULL + 1))
			return 0;
	}
	pthread_mutex_lock(&q->lock);
	while (n < max && (r = q->head)) {
		len = r->x.result ? 0 : r->x.output_buffer_len_actual;
		if (used + len > out_cap) {
			if (!n) {
				pthread_mutex_unlock(&q->lock);
				packed[0] = (int64_t)len;
				return -ENOBUFS;
			}
			break;
		}
		q->head = r->next;
		if (!q->head)
			q->tail = &q->head;
		*last = r;
		last = &r->next;
		used += len;
		n++;
	}
	pthread_mutex_unlock(&q->lock);
	if (!n)
		return -EPIPE;		/* closed, nothing left */
	*last = NULL;
	used = 0;
	for (n = 0, r = taken; r; n++) {
		struct cpy_rec *next = r->next;

		tokens[n] = r->token;
		if (r->x.result) {
			packed[n] = cpy_pack_failed(r->x.result);
		} else {
			packed[n] = cpy_pack_served(&r->x);
			memcpy(out + used, r->out, r->x.output_buffer_len_actual);
			used += r->x.output_buffer_len_actual;
		}
		free(r);
		r = next;
	}
	return (int)n;
}
