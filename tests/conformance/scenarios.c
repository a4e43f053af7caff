// SPDX-License-Identifier: MIT
/*
 * Conformance scenarios, written once against cse.h and env.h.  Each
 * returns CONF_PASS, CONF_FAIL (after logging why) or CONF_SKIP (after
 * conf_skip()).  Storage is static, not allocated: a scenario runs alone
 * in its process (or module), so the statics are never shared between two
 * running scenarios.
 */
#include "conformance.h"

struct conf_thread_arg {
	void (*fn)(void *arg, int i);
	void *arg;
	int i;
};

static void conf_thread_main(void *p)
{
	struct conf_thread_arg *t = p;

	t->fn(t->arg, t->i);
}

/* Run @fn(@arg, 0..@n-1) on @n threads at once and wait for all of them. */
static int conf_run_threads(int n, void (*fn)(void *arg, int i), void *arg)
{
	struct conf_thread_arg ta[16];
	struct cse_thread *th[16];
	int i, started, ret = 0;

	if (n > (int)CSE_ARRAY_SIZE(th))
		return -EINVAL;
	for (started = 0; started < n; started++) {
		ta[started] = (struct conf_thread_arg){ fn, arg, started };
		ret = cse_thread_start(&th[started], "cse-conf", conf_thread_main,
				       &ta[started]);
		if (ret)
			break;
	}
	for (i = 0; i < started; i++)
		cse_thread_join(th[i]);
	return ret;
}

/*
 * Long enough for a server that starts slowly: a Python one (the binding's
 * tests/pycse/conf_server.py) under TCG takes tens of seconds to import.
 */
#define CONNECT_WAIT_MS 60000

int conf_connect(const char *id, const struct cse_client_opts *opts,
		 struct cse_client **c)
{
	__u64 deadline = cse_now_ms() + CONNECT_WAIT_MS;
	int ret;

	for (;;) {
		ret = cse_client_init(c, id, opts);
		if (ret != -ENOENT || cse_now_ms() > deadline)
			return ret;
		cse_sleep_ms(10);
	}
}

static int sync_exec(struct cse_client *c, __u32 code, const void *in,
		     size_t in_len, void *out, size_t out_len, __u32 flags,
		     struct cse_exec *x)
{
	memset(x, 0, sizeof(*x));
	x->input_code = code;
	x->flags = flags;
	x->input_buffer_base = in;
	x->input_buffer_len = in_len;
	x->output_buffer_base = out;
	x->output_buffer_len = out_len;
	return cse_execute(c, x);
}

static int get_stats(struct cse_client *c, struct conf_stats *st)
{
	struct cse_exec x;
	int ret = sync_exec(c, CONF_STATS, NULL, 0, st, sizeof(*st), 0, &x);

	if (ret || x.output_status_code || x.output_buffer_len_actual != sizeof(*st)) {
		conf_log("STATS failed: %s status %d len %zu", cse_strerror(ret),
			 x.output_status_code, x.output_buffer_len_actual);
		return -EPROTO;
	}
	return 0;
}

/* ---- echo ---- */

static __u8 echo_in[1 << 16], echo_out[1 << 16];

static int scen_echo(struct conf_env *env)
{
	static const size_t sizes[] = { 1, 64, 1000, 4096 };
	struct cse_client *c;
	struct cse_exec x;
	unsigned int i, j;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizes[i]; j++)
			echo_in[j] = conf_pattern(i, j);
		memset(echo_out, 0, sizeof(echo_out));
		ret = sync_exec(c, CONF_ECHO, echo_in, sizes[i], echo_out, 4096,
				0, &x);
		CONF_CHECK(ret == 0 && x.result == 0, "echo %zu: %s", sizes[i],
		      cse_strerror(ret));
		CONF_CHECK(x.output_status_code == CONF_STATUS_OK, "status %d",
		      x.output_status_code);
		CONF_CHECK(x.output_buffer_len_actual == sizes[i], "len %zu",
		      x.output_buffer_len_actual);
		CONF_CHECK(!memcmp(echo_in, echo_out, sizes[i]), "data differs at size %zu",
		      sizes[i]);
		CONF_CHECK(x.backup == 0, "a fitting command took the backup path");
	}
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- callback order ---- */

enum { EV_IN_PREP = 1, EV_OUT_PREP, EV_IN_POST, EV_OUT_POST, EV_COMPLETION };

struct order_log {
	int ev[8];
	__u32 n;
	__u32 done;
	__u32 exec_seen;
};

static struct order_log order_logs[2];

static void order_rec(struct cse_exec *x, int ev)
{
	struct order_log *l = x->completion_context;

	if (l->n < 8)
		l->ev[l->n++] = ev;
}

static int order_in_prep(struct cse_exec *x, void *in)
{
	__u32 m = CONF_MARK_IN;

	order_rec(x, EV_IN_PREP);
	memcpy(in, &m, 4);
	return 0;
}

static int order_out_prep(struct cse_exec *x, void *out)
{
	__u32 m = CONF_MARK_OUT;

	order_rec(x, EV_OUT_PREP);
	memcpy(out, &m, 4);
	return 0;
}

static void order_in_post(struct cse_exec *x, void *in)
{
	(void)in;
	order_rec(x, EV_IN_POST);
}

static void order_out_post(struct cse_exec *x, void *out)
{
	struct order_log *l = x->completion_context;
	__u32 m;

	order_rec(x, EV_OUT_POST);
	memcpy(&m, out, 4);
	/* The server's exec must already have written its mark. */
	l->exec_seen = !x->result && x->output_buffer_len_actual == 8 &&
		       m == CONF_MARK_EXEC;
}

static void order_completion(struct cse_exec *x, void *ctx)
{
	struct order_log *l = ctx;

	order_rec(x, EV_COMPLETION);
	cse_store_release(&l->done, 1);
}

static int order_check(struct cse_exec *x, struct order_log *l, bool async)
{
	static const int want[] = { EV_IN_PREP, EV_OUT_PREP, EV_IN_POST,
				    EV_OUT_POST, EV_COMPLETION };
	__u32 i, n = async ? 5 : 4;

	CONF_CHECK(x->result == 0, "result %s", cse_strerror(x->result));
	CONF_CHECK(x->output_status_code == CONF_STATUS_OK,
	      "server saw prepare callbacks out of order: status %d",
	      x->output_status_code);
	CONF_CHECK(l->n == n, "%u callbacks, want %u", l->n, n);
	for (i = 0; i < n; i++)
		CONF_CHECK(l->ev[i] == want[i], "callback %u is %d, want %d", i,
		      l->ev[i], want[i]);
	CONF_CHECK(l->exec_seen, "output_post ran before the server's exec");
	return CONF_PASS;
}

static int order_run(struct conf_env *env, struct cse_client *c, __u32 flags)
{
	static struct cse_exec x;
	static __u8 scratch[16];
	struct order_log *l;
	__u64 deadline;
	int async, ret;

	for (async = 0; async < 2; async++) {
		l = &order_logs[async];
		memset(l, 0, sizeof(*l));
		memset(&x, 0, sizeof(x));
		x.input_code = CONF_ORDER;
		x.flags = flags;
		x.input_buffer_len = 4;		/* filled by input_prepare */
		x.output_buffer_base = scratch;
		x.output_buffer_len = 8;
		x.input_prepare = order_in_prep;
		x.output_prepare = order_out_prep;
		x.input_post = order_in_post;
		x.output_post = order_out_post;
		x.completion = async ? order_completion : NULL;
		x.completion_context = l;
		ret = cse_execute(c, &x);
		CONF_CHECK(ret == 0, "execute: %s", cse_strerror(ret));
		if (async) {
			deadline = cse_now_ms() + 5000;
			while (!cse_load_acquire(&l->done) && cse_now_ms() < deadline)
				cse_sleep_ms(1);
			CONF_CHECK(l->done, "no completion within 5 s");
		}
		if (order_check(&x, l, async))
			return CONF_FAIL;
		if (flags & CSE_EXEC_FORCE_BACKUP)
			CONF_CHECK(x.backup == (async ? CSE_BACKUP_MSG : env->sync_backup),
			      "%s backup %d", async ? "async" : "sync", x.backup);
	}
	return CONF_PASS;
}

static int scen_callback_order(struct conf_env *env)
{
	struct cse_client *c;
	struct conf_stats before, after;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	CONF_CHECK(!get_stats(c, &before), "stats");
	if (order_run(env, c, 0) || order_run(env, c, CSE_EXEC_WORKER) ||
	    order_run(env, c, CSE_EXEC_FORCE_BACKUP))
		return CONF_FAIL;
	CONF_CHECK(!get_stats(c, &after), "stats");
	CONF_CHECK(after.exec_after_close == before.exec_after_close &&
	      after.close_while_running == before.close_while_running &&
	      after.double_close == before.double_close,
	      "server saw exec after close or close during exec");
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- default copies ---- */

static int scen_default_copies(struct conf_env *env)
{
	static __u8 in[100], in_copy[100], out[200];
	struct cse_client *c;
	struct cse_exec x;
	unsigned int i, backup;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (backup = 0; backup < 2; backup++) {
		for (i = 0; i < sizeof(in); i++)
			in[i] = in_copy[i] = conf_pattern(7, i);
		memset(out, 0xEE, sizeof(out));
		ret = sync_exec(c, CONF_ECHO, in, sizeof(in), out, sizeof(out),
				backup ? CSE_EXEC_FORCE_BACKUP : 0, &x);
		CONF_CHECK(!ret, "execute: %s", cse_strerror(ret));
		CONF_CHECK(x.backup == (backup ? env->sync_backup : 0),
		      "backup %d, want %d", x.backup, backup ? env->sync_backup : 0);
		CONF_CHECK(x.output_buffer_len_actual == sizeof(in), "len %zu",
		      x.output_buffer_len_actual);
		CONF_CHECK(!memcmp(out, in, sizeof(in)), "output not copied");
		for (i = sizeof(in); i < sizeof(out); i++)
			CONF_CHECK(out[i] == 0xEE,
			      "default copy wrote past output_buffer_len_actual at %u", i);
		CONF_CHECK(!memcmp(in, in_copy, sizeof(in)), "input buffer modified");
	}
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- async, many in flight ---- */

#define ASYNC_TOTAL	2000U
#define ASYNC_WINDOW	32U

struct async_state {
	struct cse_exec x[ASYNC_WINDOW];
	__u32 in[ASYNC_WINDOW];
	__u32 out[ASYNC_WINDOW];
	__u32 free_mask;		/* bit set: x[i] is free */
	__u32 completions[ASYNC_TOTAL];
	__u32 bad;
	__u32 done;
	__u32 backups;
};

static struct async_state as;

static void async_completion(struct cse_exec *x, void *ctx)
{
	__u32 i = (__u32)(x - as.x);
	__u32 seq = (__u32)(unsigned long)ctx;

	if (x->result || x->output_status_code || x->output_buffer_len_actual != 4 ||
	    as.out[i] != as.in[i] || seq >= ASYNC_TOTAL)
		cse_fetch_add(&as.bad, 1);
	else
		cse_fetch_add(&as.completions[seq], 1);
	if (x->backup)
		cse_fetch_add(&as.backups, 1);
	cse_fetch_add(&as.done, 1);
	/* Give the struct back last: the issuer may reuse it at once. */
	cse_fetch_or(&as.free_mask, 1U << i);
}

static int async_many(struct conf_env *env, const struct cse_client_opts *opts)
{
	struct cse_client *c;
	__u32 seq, i, mask;
	__u64 deadline;
	int ret;

	memset(&as, 0, sizeof(as));
	as.free_mask = 0xffffffffU;
	ret = conf_connect(env->server_id, opts, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	deadline = cse_now_ms() + 60000;
	for (seq = 0; seq < ASYNC_TOTAL;) {
		mask = cse_load_acquire(&as.free_mask);
		if (!mask) {
			CONF_CHECK(cse_now_ms() < deadline, "stalled at %u", seq);
			cse_sleep_ms(1);
			continue;
		}
		i = (__u32)__builtin_ctz(mask);
		cse_fetch_and(&as.free_mask, ~(1U << i));
		as.in[i] = seq * 2654435761U;
		as.out[i] = 0;
		conf_exec4(&as.x[i], CONF_ECHO, &as.in[i], &as.out[i], async_completion,
			   (void *)(unsigned long)seq);
		ret = cse_execute(c, &as.x[i]);
		CONF_CHECK(!ret, "execute %u: %s", seq, cse_strerror(ret));
		seq++;
	}
	while (cse_load_acquire(&as.done) < ASYNC_TOTAL && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	CONF_CHECK(as.done == ASYNC_TOTAL, "%u of %u completed", as.done, ASYNC_TOTAL);
	CONF_CHECK(!as.bad, "%u completions with bad results", as.bad);
	for (seq = 0; seq < ASYNC_TOTAL; seq++)
		CONF_CHECK(as.completions[seq] == 1, "command %u completed %u times",
		      seq, as.completions[seq]);
	conf_log("%u commands, %u in flight at most, %u via backup", ASYNC_TOTAL,
		 ASYNC_WINDOW, as.backups);
	cse_client_deinit(c);
	return CONF_PASS;
}

static int scen_async_many_inflight(struct conf_env *env)
{
	return async_many(env, NULL);
}

/* ---- the slot offset on the control channel (an ioctl, to the kernel) ---- */

/*
 * Run order, measured: PAR_N asynchronous CONF_SLEEPs of PAR_MS with
 * @flags issued at once.  Commands that run one after another (inline, on
 * the connection's turn) take PAR_N x PAR_MS; on workers they overlap.
 * Return the milliseconds until all completed, or 0 on a failure.
 */
#define PAR_N		3U
#define PAR_MS		200U
#define PAR_SERIAL_MS	(PAR_N * PAR_MS)
/* Overlapped: well under serial, with room for a slow machine's delays. */
#define PAR_OVERLAP_MS	(PAR_SERIAL_MS - PAR_MS / 2)

static struct {
	struct cse_exec x[PAR_N];
	__u32 in[PAR_N], out[PAR_N];
	__u32 done;
	__u32 bad;
} par;

static void par_done(struct cse_exec *x, void *ctx)
{
	(void)ctx;
	if (x->result || x->output_status_code)
		cse_fetch_add(&par.bad, 1);
	cse_fetch_add(&par.done, 1);
}

static __u64 par_sleeps_ms(struct cse_client *c, __u32 flags)
{
	__u64 t0 = cse_now_ms(), deadline = t0 + 20000;
	__u32 i;

	memset(&par, 0, sizeof(par));
	for (i = 0; i < PAR_N; i++) {
		par.in[i] = PAR_MS;
		par.x[i].input_code = CONF_SLEEP;
		par.x[i].flags = flags;
		par.x[i].input_buffer_base = &par.in[i];
		par.x[i].input_buffer_len = sizeof(par.in[i]);
		par.x[i].output_buffer_base = &par.out[i];
		par.x[i].output_buffer_len = sizeof(par.out[i]);
		par.x[i].completion = par_done;
		if (cse_execute(c, &par.x[i]))
			return 0;
	}
	while (cse_load_acquire(&par.done) < PAR_N && cse_now_ms() < deadline)
		cse_sleep_ms(5);
	if (cse_load_acquire(&par.done) < PAR_N || cse_load_acquire(&par.bad))
		return 0;
	return cse_now_ms() - t0;
}

/*
 * The same, for commands that should overlap: the best of up to three
 * runs, so that a pool starting its threads on first use (a kernel
 * workqueue's kworkers, slow to come under TCG) or a run whose threads all
 * waited for a CPU (seen: 693 ms on this 2-core host beside VMs under TCG)
 * is not taken for commands in a row.
 */
static __u64 par_overlap_ms(struct cse_client *c, __u32 flags)
{
	__u64 best = 0, ms;
	int run;

	for (run = 0; run < 3; run++) {
		ms = par_sleeps_ms(c, flags);
		if (!ms)
			return 0;
		if (!best || ms < best)
			best = ms;
		if (best < PAR_OVERLAP_MS)
			break;
	}
	return best;
}

static int scen_submit_ctl(struct conf_env *env)
{
	struct cse_client_opts o = { .submit = CSE_SUBMIT_CTL };
	struct cse_client *c, *cl[2];
	struct cse_exec x;
	__u64 ms[2];
	__u32 in, out, i;
	int ret;

	/*
	 * Proof the offsets really took the control channel: inline commands
	 * from the FIFO run one after another on the connection's turn, but
	 * those submitted through the channel go each to a worker (never to
	 * the server's control thread: a slow handler there would stall
	 * every client), so they overlap.
	 */
	for (i = 0; i < 2; i++) {
		ret = conf_connect(env->server_id, i ? &o : NULL, &cl[i]);
		CONF_CHECK(!ret, "client %u: %s", i, cse_strerror(ret));
		ms[i] = i ? par_overlap_ms(cl[i], CSE_EXEC_INLINE) :
			    par_sleeps_ms(cl[i], CSE_EXEC_INLINE);
		cse_client_deinit(cl[i]);
		CONF_CHECK(ms[i], "%s sleeps failed", i ? "CTL" : "FIFO");
	}
	CONF_CHECK(ms[0] >= PAR_SERIAL_MS, "FIFO inline commands overlapped: %llu ms",
	      (unsigned long long)ms[0]);
	CONF_CHECK(ms[1] < PAR_OVERLAP_MS, "CTL inline commands ran one after another: %llu ms",
	      (unsigned long long)ms[1]);

	ret = conf_connect(env->server_id, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (i = 0; i < 300; i++) {
		in = i * 2654435761U;
		out = 0;
		ret = sync_exec(c, CONF_ECHO, &in, 4, &out, 4,
				i % 2 ? CSE_EXEC_WORKER : CSE_EXEC_INLINE, &x);
		CONF_CHECK(!ret && x.output_status_code == CONF_STATUS_OK && out == in,
		      "echo %u: %s status %d", i, cse_strerror(ret), x.output_status_code);
		CONF_CHECK(!x.backup, "echo %u went via backup", i);
	}
	cse_client_deinit(c);
	/* Many in flight at once, completed by the SC FIFO as usual. */
	return async_many(env, &o);
}

/* ---- the slot's offset in a call that runs the command (CSE_SUBMIT_CALL) ---- */

/* The thread an inline command of @c runs on (0: the command failed). */
static __u64 inline_thread(struct cse_client *c)
{
	struct cse_exec x;
	__u64 tid = 0;

	if (sync_exec(c, CONF_THREAD, NULL, 0, &tid, sizeof(tid), CSE_EXEC_INLINE, &x))
		return 0;
	return tid;
}

static struct {
	struct cse_client *c;
	__u64 tid[2];
	__u32 arrived;
} ct;

/* An inline CONF_THREAD, then stay alive until the other caller has one too. */
static void ct_thread(void *arg, int i)
{
	__u64 deadline = cse_now_ms() + 10000;

	(void)arg;
	ct.tid[i] = inline_thread(ct.c);
	cse_fetch_add(&ct.arrived, 1);
	while (cse_load_acquire(&ct.arrived) < 2 && cse_now_ms() < deadline)
		cse_sleep_ms(1);
}

static int scen_submit_call(struct conf_env *env)
{
	struct cse_client_opts o = { .submit = CSE_SUBMIT_CALL };
	bool kernel = env->sync_backup == CSE_BACKUP_CALL;
	struct cse_client *c;
	struct cse_exec x;
	__u64 tid, wtid;
	__u32 in, out, i;
	__u8 big[512], back[512];
	int ret;

	ret = conf_connect(env->server_id, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	/*
	 * Proof the command ran in the call: an inline command to a kernel
	 * server runs on its caller's own thread (in the ioctl, or the kernel
	 * client's), so two callers' run on two threads, one caller's always
	 * on its own, and a worker command elsewhere.  A user server takes no
	 * calls: the FIFO carries the commands to whichever worker holds the
	 * connection at the time, so no thread identity is asked of it.
	 * (Thread ids are not comparable across the user/kernel line: the
	 * two callers are alive at once, so neither id can be reused.)
	 */
	ct.c = c;
	ct.arrived = 0;
	ret = conf_run_threads(2, ct_thread, NULL);
	CONF_CHECK(!ret && ct.tid[0] && ct.tid[1], "CONF_THREAD from two threads: %s",
	      cse_strerror(ret));
	CONF_CHECK(!kernel || ct.tid[0] != ct.tid[1],
	      "two callers' inline commands ran on one thread, %llu",
	      (unsigned long long)ct.tid[0]);
	tid = inline_thread(c);
	CONF_CHECK(tid && (!kernel || tid == inline_thread(c)),
	      "one caller's inline commands moved threads");
	ret = sync_exec(c, CONF_THREAD, NULL, 0, &wtid, sizeof(wtid), CSE_EXEC_WORKER, &x);
	CONF_CHECK(!ret && wtid && (!kernel || wtid != tid), "a worker command ran in the call");
	for (i = 0; i < 300; i++) {
		in = i * 2654435761U;
		out = 0;
		ret = sync_exec(c, CONF_ECHO, &in, 4, &out, 4,
				i % 3 == 0 ? CSE_EXEC_WORKER : i % 3 == 1 ? CSE_EXEC_INLINE : 0,
				&x);
		CONF_CHECK(!ret && x.output_status_code == CONF_STATUS_OK && out == in &&
		      x.output_buffer_len_actual == 4,
		      "echo %u: %s status %d", i, cse_strerror(ret), x.output_status_code);
		CONF_CHECK(!x.backup, "echo %u went via backup", i);
	}
	/* A larger one, and an output the handler fills less than the caller allowed. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (__u8)(i * 7);
	ret = sync_exec(c, CONF_ECHO, big, 300, back, sizeof(back), CSE_EXEC_INLINE, &x);
	CONF_CHECK(!ret && x.output_buffer_len_actual == 300 && !memcmp(big, back, 300),
	      "echo 300: %s len %zu", cse_strerror(ret), x.output_buffer_len_actual);
	ret = sync_exec(c, 0xdead, NULL, 0, NULL, 0, 0, &x);
	CONF_CHECK(!ret && x.output_status_code == CONF_STATUS_UNKNOWN, "unknown code: %s status %d",
	      cse_strerror(ret), x.output_status_code);
	/* The same callbacks in the same order, inline and on a worker. */
	if (order_run(env, c, CSE_EXEC_INLINE) || order_run(env, c, CSE_EXEC_WORKER))
		return CONF_FAIL;
	cse_client_deinit(c);
	/* Asynchronous commands take the FIFO and complete on the SC FIFO as usual. */
	return async_many(env, &o);
}

/* ---- several clients, several threads per client ---- */

#define MT_CLIENTS	3
#define MT_THREADS	4
#define MT_ITERS	300

static struct {
	struct cse_client *c[MT_CLIENTS];
	__u32 failures;
} mt;

static void mt_thread(void *arg, int t)
{
	struct cse_client *c = mt.c[t % MT_CLIENTS];
	struct cse_exec x;
	__u32 in[16], out[16], i, k;
	int ret;

	(void)arg;
	for (i = 0; i < MT_ITERS; i++) {
		for (k = 0; k < 16; k++)
			in[k] = ((__u32)t << 24) ^ (i << 8) ^ k;
		ret = sync_exec(c, CONF_ECHO, in, sizeof(in), out, sizeof(out),
				i % 3 == 1 ? CSE_EXEC_WORKER : 0, &x);
		if (ret || x.output_buffer_len_actual != sizeof(in) ||
		    memcmp(in, out, sizeof(in)))
			cse_fetch_add(&mt.failures, 1);
	}
}

static int scen_multi_client_threads(struct conf_env *env)
{
	int i, ret;

	memset(&mt, 0, sizeof(mt));
	for (i = 0; i < MT_CLIENTS; i++) {
		ret = conf_connect(i ? env->worker_server_id : env->server_id,
				   NULL, &mt.c[i]);
		CONF_CHECK(!ret, "connect %d: %s", i, cse_strerror(ret));
	}
	ret = conf_run_threads(MT_CLIENTS * MT_THREADS, mt_thread, NULL);
	CONF_CHECK(!ret, "threads: %s", cse_strerror(ret));
	CONF_CHECK(!mt.failures, "%u of %u commands failed", mt.failures,
	      MT_CLIENTS * MT_THREADS * MT_ITERS);
	for (i = 0; i < MT_CLIENTS; i++)
		cse_client_deinit(mt.c[i]);
	return CONF_PASS;
}

/* ---- inline vs worker ---- */

/*
 * INLINE commands run on the connection's own turn, in order, one at a
 * time (no thread hop); WORKER ones go to other workers and overlap; no
 * flag follows the server's default.
 */
static int scen_inline_vs_worker(struct conf_env *env)
{
	const char *ids[2] = { env->server_id, env->worker_server_id };
	struct cse_client *c;
	__u64 ms;
	int s, ret;

	for (s = 0; s < 2; s++) {
		ret = conf_connect(ids[s], NULL, &c);
		CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
		ms = par_sleeps_ms(c, CSE_EXEC_INLINE);
		CONF_CHECK(ms >= PAR_SERIAL_MS, "INLINE commands overlapped: %llu ms",
		      (unsigned long long)ms);
		ms = par_overlap_ms(c, CSE_EXEC_WORKER);
		CONF_CHECK(ms && ms < PAR_OVERLAP_MS, "WORKER commands did not overlap: %llu ms",
		      (unsigned long long)ms);
		ms = s ? par_overlap_ms(c, 0) : par_sleeps_ms(c, 0);
		CONF_CHECK(ms && (ms >= PAR_SERIAL_MS) == (s == 0),
		      "server default (%s) not honoured: %llu ms", s ? "worker" : "inline",
		      (unsigned long long)ms);
		cse_client_deinit(c);
	}
	return CONF_PASS;
}

/* ---- large payload via backup ---- */

#define LARGE (1U << 20)
static __u8 large_in[LARGE], large_out[LARGE];

static __u32 large_done;

static void large_completion(struct cse_exec *x, void *done)
{
	(void)x;
	cse_store_release((__u32 *)done, 1);
}

static int scen_large_payload_backup(struct conf_env *env)
{
	struct cse_client *c;
	struct cse_exec x;
	__u64 deadline;
	__u32 i;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (i = 0; i < LARGE; i++)
		large_in[i] = conf_pattern(3, i);
	memset(large_out, 0, LARGE);
	ret = sync_exec(c, CONF_ECHO, large_in, LARGE, large_out, LARGE, 0, &x);
	CONF_CHECK(!ret, "execute: %s", cse_strerror(ret));
	CONF_CHECK(x.backup == env->sync_backup, "1 MiB: backup %d, want %d",
	      x.backup, env->sync_backup);
	CONF_CHECK(x.output_buffer_len_actual == LARGE, "len %zu",
	      x.output_buffer_len_actual);
	CONF_CHECK(!memcmp(large_in, large_out, LARGE), "1 MiB echo differs");

	/* Large output only, produced by the server. */
	memset(large_out, 0, LARGE);
	ret = sync_exec(c, CONF_FILL, NULL, 0, large_out, LARGE,
			CSE_EXEC_WORKER, &x);
	CONF_CHECK(!ret && x.backup == env->sync_backup &&
	      x.output_buffer_len_actual == LARGE, "fill: %s backup %d",
	      cse_strerror(ret), x.backup);
	for (i = 0; i < LARGE; i++)
		CONF_CHECK(large_out[i] == conf_pattern(CONF_FILL, i),
		      "fill differs at %u", i);

	/* Asynchronous: always as messages, in fragments, completed later. */
	memset(large_out, 0, LARGE);
	memset(&x, 0, sizeof(x));
	x.input_code = CONF_ECHO;
	x.input_buffer_base = large_in;
	x.input_buffer_len = LARGE;
	x.output_buffer_base = large_out;
	x.output_buffer_len = LARGE;
	x.completion = large_completion;
	x.completion_context = &large_done;
	large_done = 0;
	ret = cse_execute(c, &x);
	CONF_CHECK(!ret, "async execute: %s", cse_strerror(ret));
	deadline = cse_now_ms() + 30000;
	while (!cse_load_acquire(&large_done) && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	CONF_CHECK(large_done, "async 1 MiB: no completion within 30 s");
	CONF_CHECK(!x.result && x.backup == CSE_BACKUP_MSG &&
	      x.output_buffer_len_actual == LARGE, "async 1 MiB: %s backup %d len %zu",
	      cse_strerror(x.result), x.backup, x.output_buffer_len_actual);
	CONF_CHECK(!memcmp(large_in, large_out, LARGE), "async 1 MiB echo differs");
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- slot exhaustion ---- */

#define EXH_CMDS 8
/*
 * The first two commands take the two slots and hold them while the other
 * six are issued, so those must overflow.  Issuing takes a few ms, but the
 * first backup command also opens K-U's TCP connection, which took 16-40 ms
 * under TCG on arm64: with the 30 ms of the others a slot could come free
 * before the last command was issued.
 */
#define EXH_HOLD_MS 300
#define EXH_MS 30

static struct {
	struct cse_exec x[EXH_CMDS];
	__u32 ms[EXH_CMDS], out[EXH_CMDS];
	__u32 done, bad, backups;
} exh;

static void exh_completion(struct cse_exec *x, void *ctx)
{
	__u32 i = (__u32)(x - exh.x);

	(void)ctx;
	if (x->result || x->output_status_code || exh.out[i] != exh.ms[i])
		cse_fetch_add(&exh.bad, 1);
	if (x->backup)
		cse_fetch_add(&exh.backups, 1);
	cse_fetch_add(&exh.done, 1);
}

static int exh_run(struct conf_env *env, __u32 policy)
{
	struct cse_client_opts o = { .nslots = 2, .slot_policy = policy };
	struct cse_client *c;
	__u64 deadline, t0, issued_ms;
	int i, ret;

	memset(&exh, 0, sizeof(exh));
	ret = conf_connect(env->server_id, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	t0 = cse_now_ms();
	for (i = 0; i < EXH_CMDS; i++) {
		exh.ms[i] = i < 2 ? EXH_HOLD_MS : EXH_MS;
		conf_exec4(&exh.x[i], CONF_SLEEP, &exh.ms[i], &exh.out[i], exh_completion, NULL);
		ret = cse_execute(c, &exh.x[i]);
		CONF_CHECK(!ret, "execute %d: %s", i, cse_strerror(ret));
	}
	issued_ms = cse_now_ms() - t0;
	deadline = cse_now_ms() + 10000;
	while (cse_load_acquire(&exh.done) < EXH_CMDS && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	CONF_CHECK(exh.done == EXH_CMDS, "%u of %d completed", exh.done, EXH_CMDS);
	CONF_CHECK(!exh.bad, "%u bad completions", exh.bad);
	if (policy == CSE_SLOTS_BACKUP)
		CONF_CHECK(exh.backups >= EXH_CMDS - 2,
		      "only %u of %d commands overflowed to backup (issued in %llu ms)",
		      exh.backups, EXH_CMDS, (unsigned long long)issued_ms);
	else
		CONF_CHECK(exh.backups == 0, "%u commands took backup under WAIT",
		      exh.backups);
	cse_client_deinit(c);
	return CONF_PASS;
}

static int scen_slot_exhaustion(struct conf_env *env)
{
	if (exh_run(env, CSE_SLOTS_BACKUP) || exh_run(env, CSE_SLOTS_WAIT))
		return CONF_FAIL;
	return CONF_PASS;
}

/* ---- zero-length input and output ---- */

static int scen_zero_length(struct conf_env *env)
{
	struct cse_client *c;
	struct cse_exec x;
	int backup, ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (backup = 0; backup < 2; backup++) {
		ret = sync_exec(c, CONF_ECHO, NULL, 0, NULL, 0,
				backup ? CSE_EXEC_FORCE_BACKUP : 0, &x);
		CONF_CHECK(!ret && !x.result, "execute: %s", cse_strerror(ret));
		CONF_CHECK(x.output_status_code == CONF_STATUS_OK &&
		      x.output_buffer_len_actual == 0, "status %d len %zu",
		      x.output_status_code, x.output_buffer_len_actual);
	}
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- unknown input code ---- */

static int scen_unknown_code(struct conf_env *env)
{
	struct cse_client *c;
	struct cse_exec x;
	__u8 out[8];
	int backup, ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (backup = 0; backup < 2; backup++) {
		ret = sync_exec(c, 0xdead, NULL, 0, out, sizeof(out),
				backup ? CSE_EXEC_FORCE_BACKUP : 0, &x);
		CONF_CHECK(!ret && !x.result, "execute: %s", cse_strerror(ret));
		CONF_CHECK(x.output_status_code == CONF_STATUS_UNKNOWN,
		      "status %d, want %d", x.output_status_code, CONF_STATUS_UNKNOWN);
	}
	/* Bad arguments are refused before anything is sent. */
	memset(&x, 0, sizeof(x));
	x.flags = CSE_EXEC_INLINE | CSE_EXEC_WORKER;
	CONF_CHECK(cse_execute(c, &x) == -EINVAL, "INLINE|WORKER accepted");
	x.flags = CSE_EXEC_LAST;
	CONF_CHECK(cse_execute(c, &x) == -EINVAL, "unknown flag accepted");
	x.flags = 0;
	x.input_buffer_len = 4;
	CONF_CHECK(cse_execute(c, &x) == -EINVAL, "NULL input buffer accepted");
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- error paths at the API ---- */

#define EP_PATTERN	23U
#define EP_LEN		16U

static struct {
	__u32 completions;
	__u8 in_seen[EP_LEN], out_seen[EP_LEN];
	__u8 scratch[2 * EP_LEN];
} ep;

static void ep_completion(struct cse_exec *x, void *ctx)
{
	(void)x;
	(void)ctx;
	cse_fetch_add(&ep.completions, 1);
}

static int ep_fail_prepare(struct cse_exec *x, void *area)
{
	(void)x;
	(void)area;
	return -EBADMSG;
}

static int ep_in_prepare(struct cse_exec *x, void *area)
{
	__u32 i;

	(void)x;
	for (i = 0; i < EP_LEN; i++)
		((__u8 *)area)[i] = conf_pattern(EP_PATTERN, i);
	return 0;
}

static void ep_in_post(struct cse_exec *x, void *area)
{
	(void)x;
	memcpy(ep.in_seen, area, EP_LEN);
}

static void ep_out_post(struct cse_exec *x, void *area)
{
	memcpy(ep.out_seen, area, x->output_buffer_len_actual < EP_LEN ?
	       x->output_buffer_len_actual : EP_LEN);
}

/*
 * A prepare callback that fails: cse_execute returns its value, x->result
 * says the same, nothing is issued and no completion runs, and the slot
 * it had is free again (more failures than slots, then a command works).
 */
static int ep_prepare_fails(struct cse_client *c)
{
	struct cse_exec x;
	__u32 flags, async, out_side, i;
	int ret;

	for (i = 0; i < 4; i++) {
		flags = i % 2 ? CSE_EXEC_FORCE_BACKUP : 0;
		for (async = 0; async < 2; async++) {
			for (out_side = 0; out_side < 2; out_side++) {
				memset(&x, 0, sizeof(x));
				x.input_code = CONF_ECHO;
				x.flags = flags;
				x.input_buffer_len = EP_LEN;
				x.output_buffer_base = ep.scratch;
				x.output_buffer_len = EP_LEN;
				x.input_prepare = out_side ? ep_in_prepare : ep_fail_prepare;
				x.output_prepare = out_side ? ep_fail_prepare : NULL;
				x.completion = async ? ep_completion : NULL;
				ret = cse_execute(c, &x);
				CONF_CHECK(ret == -EBADMSG && x.result == -EBADMSG,
				      "%s %s, failing %s_prepare: returned %s, x.result %d",
				      async ? "async" : "sync", flags ? "backup" : "slot",
				      out_side ? "output" : "input", cse_strerror(ret), x.result);
			}
		}
	}
	cse_sleep_ms(50);
	CONF_CHECK(!cse_load_acquire(&ep.completions),
	      "%u completions for commands never issued", ep.completions);
	ret = sync_exec(c, CONF_ECHO, ep.scratch, 4, ep.scratch, 4, 0, &x);
	CONF_CHECK(!ret && x.backup == 0, "then a slot command: %s backup %d",
	      cse_strerror(ret), x.backup);
	return CONF_PASS;
}

/* Larger than CSE_MAX_BACKUP, either way: -EMSGSIZE before anything is read. */
static int ep_too_big(struct cse_client *c)
{
	struct cse_exec x;
	int ret, side;

	for (side = 0; side < 2; side++) {
		memset(&x, 0, sizeof(x));
		x.input_code = CONF_ECHO;
		x.input_buffer_base = ep.scratch;
		x.input_buffer_len = side ? 4 : (size_t)CSE_MAX_BACKUP + 1;
		x.output_buffer_base = ep.scratch;
		x.output_buffer_len = side ? (size_t)CSE_MAX_BACKUP + 1 : 4;
		ret = cse_execute(c, &x);
		CONF_CHECK(ret == -EMSGSIZE && x.result == -EMSGSIZE,
		      "%s over CSE_MAX_BACKUP: %s", side ? "output" : "input",
		      cse_strerror(ret));
	}
	return CONF_PASS;
}

/*
 * What the post callbacks see in their data areas: input_post the input
 * area as the prepare step left it, output_post the server's output.
 */
static int ep_post_areas(struct cse_client *c)
{
	struct cse_exec x;
	__u8 want[EP_LEN];
	__u32 i, backup;
	int ret;

	for (i = 0; i < EP_LEN; i++)
		want[i] = conf_pattern(EP_PATTERN, i);
	for (backup = 0; backup < 2; backup++) {
		memset(&ep.in_seen, 0, sizeof(ep.in_seen));
		memset(&ep.out_seen, 0, sizeof(ep.out_seen));
		memset(&x, 0, sizeof(x));
		x.input_code = CONF_ECHO;
		x.flags = backup ? CSE_EXEC_FORCE_BACKUP : 0;
		x.input_buffer_len = EP_LEN;
		x.output_buffer_len = EP_LEN;
		x.input_prepare = ep_in_prepare;
		x.input_post = ep_in_post;
		x.output_post = ep_out_post;
		ret = cse_execute(c, &x);
		CONF_CHECK(!ret && x.output_buffer_len_actual == EP_LEN, "%s: %s len %zu",
		      backup ? "backup" : "slot", cse_strerror(ret), x.output_buffer_len_actual);
		CONF_CHECK(!memcmp(ep.in_seen, want, EP_LEN),
		      "%s: input_post did not see what input_prepare wrote",
		      backup ? "backup" : "slot");
		CONF_CHECK(!memcmp(ep.out_seen, want, EP_LEN),
		      "%s: output_post did not see the server's output",
		      backup ? "backup" : "slot");
	}
	return CONF_PASS;
}

/*
 * The slot limits cse.h states: CSE_MAX_SLOTS slots, CSE_MAX_SLOT_AREA per
 * area, CSE_MAX_CHUNK in all (-EINVAL beyond, the handle NULL); and an
 * output buffer larger than the slot's output area takes the backup path.
 */
static int ep_limits(struct conf_env *env)
{
	static const struct cse_client_opts bad[] = {
		{ .nslots = CSE_MAX_SLOTS + 1 },
		{ .slot_input_size = CSE_MAX_SLOT_AREA + 1 },
		{ .slot_output_size = CSE_MAX_SLOT_AREA + 1 },
		{ .nslots = CSE_MAX_SLOTS, .slot_input_size = CSE_MAX_SLOT_AREA },
	};
	struct cse_client_opts most = {
		.nslots = CSE_MAX_SLOTS, .slot_input_size = 16, .slot_output_size = 16,
	};
	struct cse_client *c;
	struct cse_exec x;
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		ret = cse_client_init(&c, env->server_id, &bad[i]);
		CONF_CHECK(ret == -EINVAL && !c, "geometry %u: %s", i, cse_strerror(ret));
	}
	ret = conf_connect(env->server_id, &most, &c);
	CONF_CHECK(!ret, "%u slots: %s", most.nslots, cse_strerror(ret));
	ret = sync_exec(c, CONF_ECHO, ep.scratch, 4, ep.scratch, 4, 0, &x);
	CONF_CHECK(!ret && !x.backup, "with %u slots: %s backup %d", most.nslots,
	      cse_strerror(ret), x.backup);
	/* 4 bytes of input, but room for 24 of output: more than the 16 there. */
	ret = sync_exec(c, CONF_ECHO, ep.scratch, 4, ep.scratch, 24, 0, &x);
	CONF_CHECK(!ret && x.backup == env->sync_backup,
	      "an output buffer over the slot's area: %s backup %d, want %d",
	      cse_strerror(ret), x.backup, env->sync_backup);
	cse_client_deinit(c);
	return CONF_PASS;
}

static int scen_error_paths(struct conf_env *env)
{
	struct cse_client_opts o = { .nslots = 2 };
	struct cse_client *c;
	int ret;

	memset(&ep, 0, sizeof(ep));
	ret = conf_connect(env->server_id, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	if (ep_prepare_fails(c) || ep_too_big(c) || ep_post_areas(c) ||
	    ep_limits(env))
		return CONF_FAIL;
	CONF_CHECK(cse_execute(c, NULL) == -EINVAL, "a NULL command accepted");
	cse_client_deinit(c);
	return CONF_PASS;
}

/* ---- server death ---- */

#define DEATH_ASYNC 6

static struct {
	struct cse_client *c;
	struct cse_exec x[DEATH_ASYNC];
	__u32 ms, out[DEATH_ASYNC];
	__u32 completions[DEATH_ASYNC];
	__u32 reset;
	__u32 late;
	int sync_ret;
	__u64 sync_ms;
	struct conf_env *env;
	const char *id;
} sd;

/* Must never run: the command it belongs to was not issued. */
static void sd_late_completion(struct cse_exec *x, void *ctx)
{
	(void)x;
	(void)ctx;
	cse_fetch_add(&sd.late, 1);
}

static void sd_completion(struct cse_exec *x, void *ctx)
{
	(void)ctx;
	cse_fetch_add(&sd.completions[x - sd.x], 1);
	if (x->result == -ECONNRESET)
		cse_fetch_add(&sd.reset, 1);
}

static void sd_thread(void *arg, int t)
{
	struct cse_exec x;
	__u32 out;
	__u64 t0;

	(void)arg;
	if (t == 0) {
		/* A synchronous caller blocked in the server when it dies. */
		t0 = cse_now_ms();
		sd.sync_ret = sync_exec(sd.c, CONF_SLEEP, &sd.ms, 4, &out, 4, 0, &x);
		sd.sync_ms = cse_now_ms() - t0;
	} else {
		cse_sleep_ms(300);
		sd.env->kill_server(sd.env, sd.id);
	}
}

static int scen_server_death(struct conf_env *env)
{
	const char *id = env->spare_server_id;
	struct cse_exec x;
	__u64 deadline, t0;
	__u32 out;
	int i, ret;

	memset(&sd, 0, sizeof(sd));
	sd.env = env;
	sd.id = id;
	sd.ms = 20000;
	ret = env->spawn_server(env, id);
	if (ret == -EOPNOTSUPP) {
		conf_skip(env, "this world cannot start a server that dies");
		return CONF_SKIP;
	}
	CONF_CHECK(!ret, "spawn: %s", cse_strerror(ret));
	ret = conf_connect(id, NULL, &sd.c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	for (i = 0; i < DEATH_ASYNC; i++) {
		conf_exec4(&sd.x[i], CONF_SLEEP, &sd.ms, &sd.out[i], sd_completion, NULL);
		sd.x[i].flags = i % 2 ? CSE_EXEC_WORKER :
				(i == 2 ? CSE_EXEC_FORCE_BACKUP : 0);
		ret = cse_execute(sd.c, &sd.x[i]);
		CONF_CHECK(!ret, "execute %d: %s", i, cse_strerror(ret));
	}
	ret = conf_run_threads(2, sd_thread, NULL);
	CONF_CHECK(!ret, "threads: %s", cse_strerror(ret));
	CONF_CHECK(sd.sync_ret == -ECONNRESET, "sync caller got %s",
	      cse_strerror(sd.sync_ret));
	CONF_CHECK(sd.sync_ms < 10000, "sync caller woke after %llu ms",
	      (unsigned long long)sd.sync_ms);

	deadline = cse_now_ms() + 5000;
	while (cse_load_acquire(&sd.reset) < DEATH_ASYNC && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	for (i = 0; i < DEATH_ASYNC; i++)
		CONF_CHECK(sd.completions[i] == 1, "command %d completed %u times",
		      i, sd.completions[i]);
	CONF_CHECK(sd.reset == DEATH_ASYNC, "%u of %d completed with -ECONNRESET",
	      sd.reset, DEATH_ASYNC);

	/* Later commands fail fast, with no completion when asynchronous. */
	t0 = cse_now_ms();
	ret = sync_exec(sd.c, CONF_ECHO, &sd.ms, 4, &out, 4, 0, &x);
	CONF_CHECK(ret == -ECONNRESET && x.result == ret, "execute after death: %s",
	      cse_strerror(ret));
	x.completion = sd_late_completion;
	ret = cse_execute(sd.c, &x);
	CONF_CHECK(ret == -ECONNRESET && x.result == ret, "async execute after death: %s",
	      cse_strerror(ret));
	CONF_CHECK(cse_now_ms() - t0 < 1000, "failing took too long");
	cse_sleep_ms(50);
	for (i = 0; i < DEATH_ASYNC; i++)
		CONF_CHECK(sd.completions[i] == 1, "command %d completed again", i);
	CONF_CHECK(!cse_load_acquire(&sd.late), "a refused command completed");
	cse_client_deinit(sd.c);
	return CONF_PASS;
}

/* ---- an idle client learns of its server's death ---- */

#define NOTICE_MS	1000U

static struct {
	struct conf_env *env;
	struct cse_exec x;
	__u32 ms, out;
	__u32 notices, completions;
	__u32 completions_at_notice;
	__u64 notice_ms;
	struct cse_client *notified;
} pd;

static void pd_notice(struct cse_client *c, void *context)
{
	(void)context;
	pd.notified = c;
	pd.completions_at_notice = cse_load_acquire(&pd.completions);
	pd.notice_ms = cse_now_ms();
	cse_fetch_add(&pd.notices, 1);
}

static void pd_completion(struct cse_exec *x, void *ctx)
{
	(void)ctx;
	if (x->result == -ECONNRESET)
		cse_fetch_add(&pd.completions, 1);
}

/* Kill the server; the notice must come within NOTICE_MS, once. */
static int pd_kill_and_wait(struct conf_env *env, const char *id, __u32 want)
{
	__u64 t0 = cse_now_ms(), deadline = t0 + 10000;

	CONF_CHECK(!env->kill_server(env, id), "kill");
	while (cse_load_acquire(&pd.notices) < want && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	CONF_CHECK(pd.notices == want, "%u death notices, want %u", pd.notices, want);
	CONF_CHECK(pd.notice_ms - t0 <= NOTICE_MS, "the notice took %llu ms",
	      (unsigned long long)(pd.notice_ms - t0));
	return CONF_PASS;
}

/* The server under the same id again, and the same client reconnected. */
static int pd_restart(struct conf_env *env, const char *id, struct cse_client *c)
{
	__u64 deadline;
	int ret;

	cse_sleep_ms(200);	/* let the dead one's name go */
	CONF_CHECK(!env->spawn_server(env, id), "respawn");
	/* A Python server takes seconds to start under TCG on a busy host. */
	deadline = cse_now_ms() + 30000;
	while ((ret = cse_client_reconnect(c)) && cse_now_ms() < deadline)
		cse_sleep_ms(20);
	CONF_CHECK(!ret, "reconnect: %s", cse_strerror(ret));
	CONF_CHECK(cse_client_reconnect(c) == -EISCONN, "reconnect while connected");
	ret = sync_exec(c, CONF_ECHO, &pd.ms, 4, &pd.out, 4, 0, &pd.x);
	CONF_CHECK(!ret && pd.out == pd.ms, "after reconnect: %s", cse_strerror(ret));
	ret = sync_exec(c, CONF_ECHO, &pd.ms, 4, &pd.out, 4, CSE_EXEC_FORCE_BACKUP, &pd.x);
	CONF_CHECK(!ret && pd.out == pd.ms, "backup after reconnect: %s", cse_strerror(ret));
	return CONF_PASS;
}

/*
 * on_peer_death: an idle client hears of the death within NOTICE_MS, once,
 * after what was in flight completed with -ECONNRESET; cse_client_reconnect
 * reaches the server restarted under the same id; deinit is no death.
 */
static int scen_peer_death_notice(struct conf_env *env)
{
	const char *id = env->spare_server_id;
	struct cse_client_opts o = {
		.on_peer_death = pd_notice,
		.peer_death_context = env,
	};
	struct cse_client *c;
	int ret;

	memset(&pd, 0, sizeof(pd));
	pd.env = env;
	pd.ms = 20000;
	ret = env->spawn_server(env, id);
	if (ret == -EOPNOTSUPP) {
		conf_skip(env, "this world cannot start a server that dies");
		return CONF_SKIP;
	}
	CONF_CHECK(!ret, "spawn: %s", cse_strerror(ret));
	ret = conf_connect(id, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	CONF_CHECK(cse_client_reconnect(c) == -EISCONN, "reconnect while connected");

	/* Idle: nothing in flight. */
	if (pd_kill_and_wait(env, id, 1))
		return CONF_FAIL;
	CONF_CHECK(pd.notified == c, "the notice named another client");
	if (pd_restart(env, id, c))
		return CONF_FAIL;

	/* A command in flight completes first, then the notice. */
	memset(&pd.x, 0, sizeof(pd.x));
	pd.x.input_code = CONF_SLEEP;
	pd.x.input_buffer_base = &pd.ms;
	pd.x.input_buffer_len = 4;
	pd.x.output_buffer_base = &pd.out;
	pd.x.output_buffer_len = 4;
	pd.x.completion = pd_completion;
	ret = cse_execute(c, &pd.x);
	CONF_CHECK(!ret, "execute: %s", cse_strerror(ret));
	cse_sleep_ms(100);
	if (pd_kill_and_wait(env, id, 2))
		return CONF_FAIL;
	CONF_CHECK(pd.completions_at_notice == 1,
	      "%u commands had completed when the notice came, want 1",
	      pd.completions_at_notice);
	if (pd_restart(env, id, c))
		return CONF_FAIL;

	/* Leaving is not a death. */
	cse_client_deinit(c);
	cse_sleep_ms(50);
	CONF_CHECK(pd.notices == 2, "deinit gave a death notice");
	env->kill_server(env, id);
	return CONF_PASS;
}

/* ---- a server destroyed under its clients ---- */

#define TD_CLIENTS	2
#define TD_ASYNC	4	/* per client: inline, worker, backup, and one queued */
#define TD_SLEEP_MS	1500U	/* outlasts the 100 ms before the destroy on a loaded host */

static struct {
	struct conf_env *env;
	struct cse_server *s;
	struct cse_client *c[TD_CLIENTS];
	struct cse_exec x[TD_CLIENTS][TD_ASYNC];
	__u32 ms, out[TD_CLIENTS][TD_ASYNC];
	__u32 completions[TD_CLIENTS][TD_ASYNC];
	__u32 reset;
	int sync_ret;
	char id[CSE_SERVER_ID_MAX];
} td;

static void td_completion(struct cse_exec *x, void *ctx)
{
	__u32 *n = ctx;

	cse_fetch_add(n, 1);
	if (x->result == -ECONNRESET)
		cse_fetch_add(&td.reset, 1);
}

static void td_thread(void *arg, int t)
{
	struct cse_exec x;
	__u32 out;

	(void)arg;
	if (t == 0) {
		/* A synchronous caller inside a handler when the server goes. */
		td.sync_ret = sync_exec(td.c[0], CONF_SLEEP, &td.ms, 4, &out, 4,
					CSE_EXEC_WORKER, &x);
	} else {
		cse_sleep_ms(100);
		cse_server_destroy(td.s);
	}
}

/*
 * cse_server_destroy() with clients connected and commands running: it
 * returns once the running handlers finished and close_handler ran once
 * per connection; every command the clients had out completes exactly
 * once with -ECONNRESET (the clients see the server go at once, not when
 * its handlers are done); the id is free again.  A server of this world:
 * a user server in U-U, a kernel one in K-K.
 */
static int scen_server_destroy(struct conf_env *env)
{
	static const __u32 flags[TD_ASYNC] = {
		0, CSE_EXEC_WORKER, CSE_EXEC_FORCE_BACKUP, 0,
	};
	struct cse_server_opts so = { .nworkers = 2 };
	struct conf_stats before, after;
	struct cse_client *c;
	__u64 deadline;
	int i, j, ret;

	memset(&td, 0, sizeof(td));
	td.env = env;
	td.ms = TD_SLEEP_MS;
	cse_snprintf(td.id, sizeof(td.id), "%.59s-td", env->spare_server_id);
	/*
	 * The counts are of every conformance server here (the kernel's
	 * kconf ones too): wait until earlier scenarios' connections closed.
	 */
	deadline = cse_now_ms() + 10000;
	for (;;) {
		conf_server_stats(&before);
		if (before.opens == before.closes || cse_now_ms() > deadline)
			break;
		cse_sleep_ms(5);
	}
	CONF_CHECK(before.opens == before.closes, "%u connections still open",
	      before.opens - before.closes);
	CONF_CHECK(!cse_server_init(), "server init");
	ret = cse_server_create(&td.s, td.id, &conf_server_ops, &so);
	CONF_CHECK(!ret, "create: %s", cse_strerror(ret));
	/* All connected first: a backup handler holds the control thread. */
	for (i = 0; i < TD_CLIENTS; i++) {
		ret = conf_connect(td.id, NULL, &td.c[i]);
		CONF_CHECK(!ret, "connect %d: %s", i, cse_strerror(ret));
	}
	for (i = 0; i < TD_CLIENTS; i++) {
		for (j = 0; j < TD_ASYNC; j++) {
			struct cse_exec *x = &td.x[i][j];

			x->input_code = CONF_SLEEP;
			x->flags = flags[j];
			x->input_buffer_base = &td.ms;
			x->input_buffer_len = 4;
			x->output_buffer_base = &td.out[i][j];
			x->output_buffer_len = 4;
			x->completion = td_completion;
			x->completion_context = &td.completions[i][j];
			ret = cse_execute(td.c[i], x);
			CONF_CHECK(!ret, "execute %d/%d: %s", i, j, cse_strerror(ret));
		}
	}
	ret = conf_run_threads(2, td_thread, NULL);
	CONF_CHECK(!ret, "threads: %s", cse_strerror(ret));
	CONF_CHECK(td.sync_ret == -ECONNRESET, "the sync caller got %s",
	      cse_strerror(td.sync_ret));

	deadline = cse_now_ms() + 5000;
	while (cse_load_acquire(&td.reset) < TD_CLIENTS * TD_ASYNC &&
	       cse_now_ms() < deadline)
		cse_sleep_ms(1);
	for (i = 0; i < TD_CLIENTS; i++)
		for (j = 0; j < TD_ASYNC; j++)
			CONF_CHECK(td.completions[i][j] == 1,
			      "command %d/%d completed %u times", i, j, td.completions[i][j]);
	CONF_CHECK(td.reset == TD_CLIENTS * TD_ASYNC,
	      "%u of %d completed with -ECONNRESET", td.reset, TD_CLIENTS * TD_ASYNC);

	/* Destroyed means done: no handler left running, each closed once. */
	conf_server_stats(&after);
	CONF_CHECK(after.opens - before.opens == TD_CLIENTS &&
	      after.closes - before.closes == TD_CLIENTS,
	      "%u opens, %u closes", after.opens - before.opens,
	      after.closes - before.closes);
	CONF_CHECK(after.execs_started - before.execs_started ==
	      after.execs_finished - before.execs_finished,
	      "handlers still running after destroy");
	CONF_CHECK(after.close_while_running == before.close_while_running &&
	      after.double_close == before.double_close &&
	      after.exec_after_close == before.exec_after_close,
	      "close during exec, twice, or exec after close");

	for (i = 0; i < TD_CLIENTS; i++) {
		ret = sync_exec(td.c[i], CONF_ECHO, &td.ms, 4, &td.out[i][0], 4, 0, &td.x[i][0]);
		CONF_CHECK(ret == -ECONNRESET, "execute after destroy: %s", cse_strerror(ret));
		cse_client_deinit(td.c[i]);
	}
	ret = cse_client_init(&c, td.id, NULL);
	CONF_CHECK(ret == -ENOENT, "connect after destroy: %s", cse_strerror(ret));
	ret = cse_server_create(&td.s, td.id, &conf_server_ops, NULL);
	CONF_CHECK(!ret, "the id again: %s", cse_strerror(ret));
	cse_server_destroy(td.s);
	cse_server_deinit();
	return CONF_PASS;
}

/* ---- client death ---- */

static int wait_live(struct cse_client *c, __u32 live, __u32 min_closes,
		     struct conf_stats *st)
{
	__u64 deadline = cse_now_ms() + 10000;

	for (;;) {
		if (get_stats(c, st))
			return -EPROTO;
		if (st->opens - st->closes == live && st->closes >= min_closes)
			return 0;
		if (cse_now_ms() > deadline)
			return -ETIMEDOUT;
		cse_sleep_ms(5);
	}
}

static int client_death(struct conf_env *env, __u32 submit);

/*
 * A client killed while its synchronous command runs, submitted through
 * the FIFO and then in a call (CSE_SUBMIT_CALL: to a kernel server the
 * handler runs inside the dying process's ioctl).
 */
static int scen_client_death(struct conf_env *env)
{
	static const __u32 submits[] = { CSE_SUBMIT_FIFO, CSE_SUBMIT_CALL };
	unsigned int i;
	int ret;

	for (i = 0; i < 2; i++) {
		ret = client_death(env, submits[i]);
		if (ret != CONF_PASS)
			return ret;
	}
	return CONF_PASS;
}

static int client_death(struct conf_env *env, __u32 submit)
{
	struct conf_stats before, after;
	struct cse_client *c;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	/* Wait until earlier scenarios' connections are gone: only ours is live. */
	CONF_CHECK(!wait_live(c, 1, 0, &before), "server still has old clients");
	ret = env->spawn_doomed_client(env, env->server_id, submit, 400, 150);
	if (ret == -EOPNOTSUPP) {
		conf_skip(env, "this world cannot kill a client");
		return CONF_SKIP;
	}
	CONF_CHECK(!ret, "doomed client: %s", cse_strerror(ret));
	ret = wait_live(c, 1, before.closes + 1, &after);
	CONF_CHECK(!ret, "close_handler did not run for the killed client (%u opens, %u closes)",
	      after.opens, after.closes);
	CONF_CHECK(after.opens == before.opens + 1, "opens %u -> %u", before.opens,
	      after.opens);
	CONF_CHECK(after.execs_started > before.execs_started,
	      "the doomed client's command never reached the server");
	CONF_CHECK(after.close_while_running == before.close_while_running,
	      "close_handler ran while an exec was still running");
	CONF_CHECK(after.double_close == before.double_close, "close_handler ran twice");
	CONF_CHECK(after.exec_after_close == before.exec_after_close,
	      "exec ran after close_handler");
	conf_log("submit %u: the killed client's close_handler ran once, after its exec",
		 submit);
	cse_client_deinit(c);
	return CONF_PASS;
}

const struct conf_scenario conf_scenarios[] = {
	{ "echo", scen_echo, 30 },
	{ "callback_order", scen_callback_order, 30 },
	{ "default_copies", scen_default_copies, 30 },
	{ "async_many_inflight", scen_async_many_inflight, 90 },
	{ "batch", scen_batch, 120 },
	{ "submit_ctl", scen_submit_ctl, 90 },
	{ "submit_call", scen_submit_call, 90 },
	{ "multi_client_threads", scen_multi_client_threads, 90 },
	{ "inline_vs_worker", scen_inline_vs_worker, 30 },
	{ "large_payload_backup", scen_large_payload_backup, 60 },
	{ "slot_exhaustion", scen_slot_exhaustion, 30 },
	{ "zero_length", scen_zero_length, 30 },
	{ "unknown_code", scen_unknown_code, 30 },
	{ "error_paths", scen_error_paths, 30 },
	{ "server_death", scen_server_death, 60 },
	{ "peer_death_notice", scen_peer_death_notice, 90 },
	{ "server_destroy", scen_server_destroy, 60 },
	{ "client_death", scen_client_death, 60 },
	{ "env_memory", env_memory, 30 },
	{ "env_mutex", env_mutex, 60 },
	{ "env_event", env_event, 30 },
	{ "env_threads", env_threads, 30 },
	{ "env_pool", env_pool, 30 },
	{ "env_clock_sleep", env_clock_sleep, 30 },
	{ "env_format", env_format, 30 },
};

const unsigned int conf_nscenarios = sizeof(conf_scenarios) / sizeof(conf_scenarios[0]);
