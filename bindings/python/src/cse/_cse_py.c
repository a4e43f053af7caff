// SPDX-License-Identifier: MIT
/*
 * The Python binding's C side, client half (see _cse_py.h): a client handle
 * that can be closed while other threads use it, a synchronous call, a
 * batch of many commands, a completion queue the binding's dispatcher
 * thread reaps.  The server half, which calls into Python, is
 * _cse_py_server.c.
 *
 * This is user-space code for the platforms the binding runs on (POSIX
 * threads), not part of the portable core: it may call the OS.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cse_py.h"

/* ---- small tools ---- */

static inline uint32_t ld(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * A word to wait on: waiters spin briefly, then sleep on a condition
 * variable; wakers take the lock only when someone sleeps.  (seq_cst on
 * both sides: the waiter counts itself in, then re-reads the word; the
 * waker changes the word, then reads the count, so one of them sees the
 * other.)
 */
struct cpy_event {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t word;
	uint32_t sleepers;
};

#define CPY_SPIN_NS	50000ULL

static int event_init(struct cpy_event *e)
{
	pthread_condattr_t a;
	int ret;

	e->word = 0;
	e->sleepers = 0;
	ret = pthread_condattr_init(&a);
	if (ret)
		return -ret;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&e->cond, &a);
	pthread_condattr_destroy(&a);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&e->lock, NULL);
	if (ret) {
		pthread_cond_destroy(&e->cond);
		return -ret;
	}
	return 0;
}

static void event_fini(struct cpy_event *e)
{
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}

static void event_bump(struct cpy_event *e)
{
	__atomic_fetch_add(&e->word, 1, __ATOMIC_SEQ_CST);
	if (ld(&e->sleepers)) {
		pthread_mutex_lock(&e->lock);
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
	}
}

/*
 * Wait until e->word differs from @seen, at most @timeout_ns (0: forever).
 * Spins first when @spin.  Returns 0, or -ETIMEDOUT.
 */
static int event_wait(struct cpy_event *e, uint32_t seen, bool spin,
		      uint64_t timeout_ns)
{
	uint64_t t0 = 0, deadline_ns = 0;
	struct timespec dl;
	int ret = 0;

	if (ld(&e->word) != seen)
		return 0;
	if (spin || timeout_ns)
		t0 = now_ns();
	if (spin) {
		while (now_ns() - t0 < CPY_SPIN_NS) {
			if (ld(&e->word) != seen)
				return 0;
			cpu_relax();
		}
	}
	if (timeout_ns) {
		deadline_ns = t0 + timeout_ns;
		dl.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
		dl.tv_nsec = (long)(deadline_ns % 1000000000ULL);
	}
	pthread_mutex_lock(&e->lock);
	__atomic_fetch_add(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	while (ld(&e->word) == seen && !ret) {
		if (timeout_ns)
			ret = pthread_cond_timedwait(&e->cond, &e->lock, &dl);
		else
			pthread_cond_wait(&e->cond, &e->lock);
	}
	__atomic_fetch_sub(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&e->lock);
	return ret == ETIMEDOUT && ld(&e->word) == seen ? -ETIMEDOUT : 0;
}

/*
 * The runtime's threads must never take a signal meant for Python: Python
 * runs its handlers on the main thread, which a signal delivered to a C
 * thread would not wake.  Threads inherit the mask of their creator, so
 * block everything while the runtime starts its threads.
 */
void cpy_signals_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void cpy_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- client handle ---- */

/*
 * Python may close a client while other threads are inside a call on it;
 * the runtime's handle must outlive those calls.  users counts threads
 * inside; close waits for them (each finishes when its command does).  A
 * user leaving after close began decrements under the lock, so the closer,
 * which frees the lock, sees users reach 0 only after that user's last
 * touch; one that missed the closing flag only decrements, and the closer
 * re-checks on a short timed wait.
 */
struct cpy_client {
	struct cse_client *c;
	uint32_t users;
	uint32_t closing;
	pthread_mutex_t lock;
	pthread_cond_t left;
};

#define CPY_CLOSE_RECHECK_NS	1000000ULL

static void client_leave(struct cpy_client *w)
{
	if (!ld(&w->closing)) {
		__atomic_fetch_sub(&w->users, 1, __ATOMIC_SEQ_CST);
		return;
	}
	pthread_mutex_lock(&w->lock);
	__atomic_fetch_sub(&w->users, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&w->left);
	pthread_mutex_unlock(&w->lock);
}

static int client_enter(struct cpy_client *w)
{
	__atomic_fetch_add(&w->users, 1, __ATOMIC_SEQ_CST);
	if (ld(&w->closing)) {
		client_leave(w);
		return -EBADF;
	}
	return 0;
}

int cpy_client_open(struct cpy_client **out, const char *server_id,
		    uint32_t nslots, uint32_t slot_input_size,
		    uint32_t slot_output_size, uint32_t slot_policy,
		    int32_t spin_ns, uint32_t submit)
{
	struct cse_client_opts o = {
		.nslots = nslots,
		.slot_input_size = slot_input_size,
		.slot_output_size = slot_output_size,
		.slot_policy = slot_policy,
		.spin_ns = spin_ns,
		.submit = submit,
	};
	struct cpy_client *w;
	sigset_t old;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = -pthread_mutex_init(&w->lock, NULL);
	if (!ret)
		ret = -pthread_cond_init(&w->left, NULL);
	if (ret) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ret;
	}
	cpy_signals_block(&old);
	ret = cse_client_init(&w->c, server_id, &o);
	cpy_signals_restore(&old);
	if (ret) {
		pthread_cond_destroy(&w->left);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

/*
 * Disconnect: wait for threads inside a call, then complete everything
 * still in flight (cse_client_deinit).  The handle itself stays valid
 * (every later call fails with -EBADF) until cpy_client_free(), which
 * Python runs only once nothing can pass it in any more.
 */
void cpy_client_close(struct cpy_client *w)
{
	struct timespec ts;

	if (!w || __atomic_exchange_n(&w->closing, 1, __ATOMIC_SEQ_CST) || !w->c)
		return;
	pthread_mutex_lock(&w->lock);
	while (ld(&w->users)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)CPY_CLOSE_RECHECK_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->left, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	cse_client_deinit(w->c);	/* completes what is still in flight */
	w->c = NULL;
}

/*
 * In a child made by fork(): the handle's runtime threads did not come
 * along, and its connection is the parent's.  Refuse every later call
 * (-EBADF), and let cpy_client_close() leave the runtime alone.
 */
void cpy_client_forget(struct cpy_client *w)
{
	if (w) {
		__atomic_store_n(&w->closing, 1, __ATOMIC_SEQ_CST);
		w->c = NULL;
	}
}

void cpy_client_free(struct cpy_client *w)
{
	if (!w)
		return;
	cpy_client_close(w);
	pthread_cond_destroy(&w->left);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int64_t pack_served(const struct cse_exec *x)
{
	uint64_t lo = (uint64_t)(x->output_buffer_len_actual & CPY_PACK_LEN_MASK) |
		      (uint64_t)(x->backup & 3) << CPY_PACK_BACKUP_SHIFT;

	return (int64_t)((uint64_t)(uint32_t)x->output_status_code << 32 | lo);
}

static int64_t pack_failed(int err)
{
	return (int64_t)((uint64_t)(uint32_t)err << 32 | CPY_PACK_FAILED);
}

int64_t cpy_call(struct cpy_client *w, uint32_t code, uint32_t flags,
		 const char *in, size_t in_len, char *out, size_t out_len,
		 int64_t *info)
{
	struct cse_exec x;
	int ret;

	ret = client_enter(w);
	if (ret) {
		*info = pack_failed(ret);
		return -1;
	}
	memset(&x, 0, sizeof(x));
	x.input_code = code;
	x.flags = flags;
	x.input_buffer_base = in;
	x.input_buffer_len = in_len;
	x.output_buffer_base = out;
	x.output_buffer_len = out_len;
	ret = cse_execute(w->c, &x);
	client_leave(w);
	if (ret) {
		*info = pack_failed(ret);
		return -1;
	}
	if (!x.output_status_code && !x.backup)
		return (int64_t)x.output_buffer_len_actual;
	*info = pack_served(&x);
	return -1;
}

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
	event_bump(&b->done);
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
	ret = client_enter(w);
	if (ret)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b) {
		client_leave(w);
		return -ENOMEM;
	}
	ret = event_init(&b->done);
	if (ret) {
		free(b);
		client_leave(w);
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
		seen = ld(&b->done.word);
		if (!ld(&b->active))
			break;
		event_wait(&b->done, seen, false, 0);
	}
	/* The last place to retire may still be waking us: wait until it left. */
	while (__atomic_load_n(&b->exited, __ATOMIC_ACQUIRE) != places)
		sched_yield();
	event_fini(&b->done);
	free(b);
	client_leave(w);
	return 0;
}

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
	ret = event_init(&q->ready);
	if (ret) {
		free(q);
		return ret;
	}
	ret = -pthread_mutex_init(&q->lock, NULL);
	if (ret) {
		event_fini(&q->ready);
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
	event_bump(&q->ready);
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
	event_fini(&q->ready);
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
	event_bump(&q->ready);
}

int cpy_submit(struct cpy_client *w, struct cpy_queue *q, uint64_t token,
	       uint32_t code, uint32_t flags, const char *in, size_t in_len,
	       size_t out_len)
{
	struct cpy_rec *r;
	int ret;

	if (out_len > CSE_MAX_BACKUP)
		return -EMSGSIZE;
	ret = client_enter(w);
	if (ret)
		return ret;
	r = malloc(sizeof(*r) + out_len);
	if (!r) {
		client_leave(w);
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
	client_leave(w);
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
		seen = ld(&q->ready.word);
		if (__atomic_load_n(&q->head, __ATOMIC_SEQ_CST) || ld(&q->closed))
			break;
		if (event_wait(&q->ready, seen, true, timeout_ms < 0 ? 0 :
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
			packed[n] = pack_failed(r->x.result);
		} else {
			packed[n] = pack_served(&r->x);
			memcpy(out + used, r->out, r->x.output_buffer_len_actual);
			used += r->x.output_buffer_len_actual;
		}
		free(r);
		r = next;
	}
	return (int)n;
}
