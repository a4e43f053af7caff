// SPDX-License-Identifier: MIT
/*
 * The command mix every part drives: synchronous callers and an
 * asynchronous window, across the slot, worker and backup paths, each
 * command's completion counted per command so a loss or a second
 * completion shows, and each result checked against the contract.
 */
#include <stdlib.h>

#include <cse/atomic.h>

#include "stress.h"

struct mix_cmd {
	struct cse_exec x;
	__u8 *in, *out;		/* MIX_BIG each */
	__u32 busy;		/* 1 in flight */
	__u32 want;		/* the value echoed */
};

struct mix {
	struct cse_client *c;
	bool death_ok;
	__u32 stop;
	unsigned int seed;
	unsigned int thread_seed[MIX_SYNC];	/* each sync thread's own */
	struct mix_cmd cmds[MIX_WINDOW];
	unsigned long issued, completed, duplicated, bad, sync_done;
	pthread_t async_thread, sync_threads[MIX_SYNC];
	bool started[MIX_SYNC + 1];
	bool hung;
	struct sync_arg {
		struct mix *m;
		int i;
	} sync_arg[MIX_SYNC];
};

static const __u32 mix_flags[] = { 0, CSE_EXEC_WORKER, CSE_EXEC_INLINE,
				   CSE_EXEC_FORCE_BACKUP };

static void count(unsigned long *v)
{
	__atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
}

/* Is @ret, with what @x says, a result the contract allows? */
static bool allowed(struct mix *m, const struct cse_exec *x, int ret, __u32 want,
		    const __u8 *out)
{
	__u32 got;

	if (ret != x->result)
		return false;
	if (ret == -ECONNRESET)
		return m->death_ok;
	if (ret)
		return false;
	if (x->output_status_code || x->output_buffer_len_actual != x->input_buffer_len)
		return false;
	memcpy(&got, out, sizeof(got));
	return got == want;
}

static void fill(struct cse_exec *x, unsigned int r, __u8 *in, __u8 *out, __u32 want)
{
	size_t len = r % 8 == 0 ? MIX_BIG : sizeof(__u32) + r % 200;

	memset(x, 0, sizeof(*x));
	x->input_code = CONF_ECHO;
	x->flags = mix_flags[(r >> 3) % 4];
	memcpy(in, &want, sizeof(want));
	x->input_buffer_base = in;
	x->input_buffer_len = len;
	x->output_buffer_base = out;
	x->output_buffer_len = len;
}

static void mix_done(struct cse_exec *x, void *ctx)
{
	struct mix *m = ctx;
	struct mix_cmd *cmd = (struct mix_cmd *)x;	/* x is the first member */

	if (!allowed(m, x, x->result, cmd->want, cmd->out))
		count(&m->bad);
	if (cse_xchg(&cmd->busy, 0) != 1)
		count(&m->duplicated);
	else
		count(&m->completed);
}

static void *mix_async(void *arg)
{
	struct mix *m = arg;
	unsigned int i = 0, r;
	struct mix_cmd *cmd;
	int ret;

	while (!cse_load_acquire(&m->stop)) {
		cmd = &m->cmds[i++ % MIX_WINDOW];
		if (cse_load_acquire(&cmd->busy)) {
			if (i % MIX_WINDOW == 0)
				cse_sleep_ms(1);		/* the window is full */
			continue;
		}
		r = stress_rand(&m->seed);
		cmd->want = r;
		fill(&cmd->x, r, cmd->in, cmd->out, r);
		cmd->x.completion = mix_done;
		cmd->x.completion_context = m;
		cse_store_release(&cmd->busy, 1);
		count(&m->issued);
		ret = cse_execute(m->c, &cmd->x);
		if (ret) {
			/* Not issued: no completion may come. */
			if (ret != cmd->x.result || ret != -ECONNRESET || !m->death_ok)
				count(&m->bad);
			cse_store_release(&cmd->busy, 0);
			__atomic_fetch_sub(&m->issued, 1, __ATOMIC_RELAXED);
			cse_sleep_ms(1);
		}
	}
	return NULL;
}

static void *mix_sync(void *arg)
{
	struct mix *m = ((struct sync_arg *)arg)->m;
	unsigned int seed = m->thread_seed[((struct sync_arg *)arg)->i], r;
	__u8 *in = calloc(1, MIX_BIG), *out = calloc(1, MIX_BIG);
	struct cse_exec x;
	int ret;

	while (in && out && !cse_load_acquire(&m->stop)) {
		r = stress_rand(&seed);
		fill(&x, r, in, out, r);
		ret = cse_execute(m->c, &x);
		if (!allowed(m, &x, ret, r, out))
			count(&m->bad);
		count(&m->sync_done);
		if (ret)
			cse_sleep_ms(1);
	}
	free(in);
	free(out);
	return NULL;
}

struct mix *mix_start(struct cse_client *c, unsigned int seed, bool death_ok)
{
	struct mix *m = calloc(1, sizeof(*m));
	int i;

	if (!m)
		return NULL;
	m->c = c;
	m->seed = seed;
	m->death_ok = death_ok;
	for (i = 0; i < MIX_WINDOW; i++) {
		m->cmds[i].in = calloc(1, MIX_BIG);
		m->cmds[i].out = calloc(1, MIX_BIG);
		if (!m->cmds[i].in || !m->cmds[i].out)
			return m;	/* no thread started: mix_stop, mix_free work */
	}
	for (i = 0; i < MIX_SYNC; i++) {
		m->thread_seed[i] = stress_rand(&m->seed);
		m->sync_arg[i].m = m;
		m->sync_arg[i].i = i;
	}
	m->started[0] = !pthread_create(&m->async_thread, NULL, mix_async, m);
	for (i = 0; i < MIX_SYNC; i++)
		m->started[i + 1] = !pthread_create(&m->sync_threads[i], NULL, mix_sync,
						    &m->sync_arg[i]);
	return m;
}

static unsigned long load(const unsigned long *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

void mix_stop(struct mix *m, unsigned int ms, struct stress_counts *n)
{
	__u64 deadline = cse_now_ms() + ms;
	int i;

	cse_store_release(&m->stop, 1);
	if (m->started[0] && !stress_join(m->async_thread, ms))
		m->hung = true;
	for (i = 0; i < MIX_SYNC; i++)
		if (m->started[i + 1] && !stress_join(m->sync_threads[i], ms))
			m->hung = true;
	while (load(&m->completed) < load(&m->issued) && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	n->commands += load(&m->completed) + load(&m->sync_done);
	n->lost += load(&m->issued) - load(&m->completed);
	n->duplicated += load(&m->duplicated);
	n->bad += load(&m->bad);
	n->hangs += m->hung;
}

void mix_free(struct mix *m)
{
	int i;

	if (!m || m->hung)
		return;
	for (i = 0; i < MIX_WINDOW; i++) {
		free(m->cmds[i].in);
		free(m->cmds[i].out);
	}
	free(m);
}
