// SPDX-License-Identifier: MIT
/*
 * The Python binding's C side (see _cse_py.h): a client handle that can be
 * closed while other threads use it, a synchronous call, a batch of many
 * commands, a completion queue the binding's dispatcher thread reaps, and
 * server handlers that call into Python (cffi "extern Python" functions,
 * which take the GIL themselves).
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
static void signals_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void signals_restore(const sigset_t *old)
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
	signals_block(&old);
	ret = cse_client_init(&w->c, server_id, &o);
	signals_restore(&old);
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

	if (!w || __atomic_exchange_n(&w->closing, 1, __ATOMIC_SEQ_CST))
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
		 const char *in, size_t in_len, char *out, size_t out_len)
{
	struct cse_exec x;
	int ret;

	ret = client_enter(w);
	if (ret)
		return pack_failed(ret);
	memset(&x, 0, sizeof(x));
	x.input_code = code;
	x.flags = flags;
	x.input_buffer_base = in;
	x.input_buffer_len = in_len;
	x.output_buffer_base = out;
	x.output_buffer_len = out_len;
	ret = cse_execute(w->c, &x);
	client_leave(w);
	return ret ? pack_failed(ret) : pack_served(&x);
}

/* ---- batch: many commands in one crossing ---- */

#define CPY_BATCH_WINDOW_MAX	64U

struct cpy_batch;

struct cpy_batch_cmd {
	struct cse_exec x;
	struct cpy_batch *b;
	uint32_t i;			/* the command's index in the batch */
	uint32_t bit;			/* its place in the window */
};

struct cpy_batch {
	struct cpy_batch_cmd cmd[CPY_BATCH_WINDOW_MAX];
	uint64_t free_mask;		/* window places not in flight */
	struct cpy_event done;		/* bumped per completion */
	uint32_t exited;		/* completions past their last touch of us */
	int32_t *results;
	int32_t *statuses;
	uint32_t *lens;
};

static void batch_record(struct cpy_batch *b, uint32_t i, int result,
			 const struct cse_exec *x)
{
	b->results[i] = result;
	b->statuses[i] = result ? 0 : x->output_status_code;
	b->lens[i] = result ? 0 : (uint32_t)x->output_buffer_len_actual;
}

static void batch_completion(struct cse_exec *x, void *ctx)
{
	struct cpy_batch_cmd *cmd = ctx;
	struct cpy_batch *b = cmd->b;

	batch_record(b, cmd->i, x->result, x);
	/* Give the place back last: the issuer reuses it at once. */
	__atomic_fetch_or(&b->free_mask, 1ULL << cmd->bit, __ATOMIC_SEQ_CST);
	event_bump(&b->done);
	__atomic_fetch_add(&b->exited, 1, __ATOMIC_RELEASE);	/* the last touch */
}

/* A free window place, waiting for one; -1 never happens (see callers). */
static int batch_place(struct cpy_batch *b)
{
	uint64_t mask;
	uint32_t seen;
	int bit;

	for (;;) {
		seen = ld(&b->done.word);
		mask = __atomic_load_n(&b->free_mask, __ATOMIC_SEQ_CST);
		if (mask)
			break;
		event_wait(&b->done, seen, true, 0);
	}
	bit = __builtin_ctzll(mask);
	__atomic_fetch_and(&b->free_mask, ~(1ULL << bit), __ATOMIC_SEQ_CST);
	return bit;
}

int cpy_batch(struct cpy_client *w, uint32_t code, const uint32_t *codes,
	      uint32_t flags, const char *in, size_t in_stride,
	      const uint32_t *in_lens, char *out, size_t out_stride,
	      uint32_t n, uint32_t window, int32_t *results,
	      int32_t *statuses, uint32_t *lens)
{
	uint64_t all;
	struct cpy_batch *b;
	uint32_t i, seen, issued = 0;
	int bit, ret;

	if (!window || window > CPY_BATCH_WINDOW_MAX)
		return -EINVAL;
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
	all = window == 64 ? ~0ULL : (1ULL << window) - 1;
	b->free_mask = all;
	b->results = results;
	b->statuses = statuses;
	b->lens = lens;
	for (i = 0; i < n; i++) {
		struct cpy_batch_cmd *cmd;
		struct cse_exec *x;

		bit = batch_place(b);
		cmd = &b->cmd[bit];
		x = &cmd->x;
		memset(x, 0, sizeof(*x));
		cmd->b = b;
		cmd->i = i;
		cmd->bit = (uint32_t)bit;
		x->input_code = codes ? codes[i] : code;
		x->flags = flags;
		x->input_buffer_base = in + in_stride * i;
		x->input_buffer_len = in_lens ? in_lens[i] : in_stride;
		x->output_buffer_base = out + out_stride * i;
		x->output_buffer_len = out_stride;
		x->completion = batch_completion;
		x->completion_context = cmd;
		ret = cse_execute(w->c, x);
		if (ret) {
			/* Not issued: no completion will come for it. */
			batch_record(b, i, ret, x);
			__atomic_fetch_or(&b->free_mask, 1ULL << bit, __ATOMIC_SEQ_CST);
		} else {
			issued++;
		}
	}
	/* Every place back: every issued command has completed. */
	for (;;) {
		seen = ld(&b->done.word);
		if (__atomic_load_n(&b->free_mask, __ATOMIC_SEQ_CST) == all)
			break;
		event_wait(&b->done, seen, true, 0);
	}
	/* The last completion may still be waking us: wait until it has left. */
	while (__atomic_load_n(&b->exited, __ATOMIC_ACQUIRE) != issued)
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

/* ---- server: handlers in Python ---- */

struct cpy_server {
	struct cpy_server *next;
	struct cse_server *s;
	void *handle;			/* the Python Server's cffi handle */
};

/*
 * The runtime's handlers know their server only by its struct cse_server,
 * so the Python server is looked up by it when a client connects.  The
 * lock is held across cse_server_create: a client may connect before it
 * returns, and must then wait for the entry.
 */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cpy_server *servers;

static void *server_handle(struct cse_server *s)
{
	struct cpy_server *ps;
	void *h = NULL;

	pthread_mutex_lock(&servers_lock);
	for (ps = servers; ps; ps = ps->next) {
		if (ps->s == s) {
			h = ps->handle;
			break;
		}
	}
	pthread_mutex_unlock(&servers_lock);
	return h;
}

static int py_open(struct cse_conn *conn, void **user_context)
{
	void *h = server_handle(cse_conn_server(conn));

	if (!h)
		return -ECONNREFUSED;
	*user_context = cpy_py_open(h);
	return *user_context ? 0 : -ECONNREFUSED;
}

static void py_exec(struct cse_conn *conn, void *user_context, __u32 code,
		    const void *in, size_t in_len, void *out, size_t out_len,
		    size_t *out_len_actual, int *status)
{
	int64_t r;
	size_t n;

	(void)conn;
	r = cpy_py_exec(user_context, code, (char *)in, in_len, out, out_len);
	n = (uint64_t)r & CPY_PACK_LEN_MASK;
	*status = (int)(uint32_t)((uint64_t)r >> 32);
	*out_len_actual = n <= out_len ? n : out_len;
}

static void py_close(struct cse_conn *conn, void *user_context)
{
	(void)conn;
	cpy_py_close(user_context);
}

static const struct cse_server_ops py_ops = {
	.open_handler = py_open,
	.exec_handler = py_exec,
	.close_handler = py_close,
};

int cpy_server_create(struct cpy_server **out, const char *server_id,
		      uint32_t nworkers, uint32_t default_exec, int32_t spin_ns,
		      void *handle)
{
	struct cse_server_opts o = {
		.nworkers = nworkers,
		.default_exec = default_exec,
		.spin_ns = spin_ns,
	};
	struct cpy_server *ps;
	sigset_t old;
	int ret;

	*out = NULL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->handle = handle;
	ret = cse_server_init();
	if (ret) {
		free(ps);
		return ret;
	}
	pthread_mutex_lock(&servers_lock);
	signals_block(&old);
	ret = cse_server_create(&ps->s, server_id, &py_ops, &o);
	signals_restore(&old);
	if (!ret) {
		ps->next = servers;
		servers = ps;
	}
	pthread_mutex_unlock(&servers_lock);
	if (ret) {
		cse_server_deinit();
		free(ps);
		return ret;
	}
	*out = ps;
	return 0;
}

/* Running handlers finish and close handlers run (in Python) before it returns. */
void cpy_server_destroy(struct cpy_server *ps)
{
	struct cpy_server **pp;

	if (!ps)
		return;
	cse_server_destroy(ps->s);
	pthread_mutex_lock(&servers_lock);
	for (pp = &servers; *pp; pp = &(*pp)->next) {
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	}
	pthread_mutex_unlock(&servers_lock);
	cse_server_deinit();
	free(ps);
}
