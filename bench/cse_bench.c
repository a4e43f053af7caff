// SPDX-License-Identifier: MIT
/*
 * bench-cse: CSE user-to-user round trips and async throughput, using only
 * the public API in <cse/cse.h>.
 *
 *   bench-cse [--spin | --no-spin] [--spin-ns N] [--backend-name NAME]
 *             [--case sync_rtt|async_tput|all] [--payload N] [--inflight N]
 *             [--iters N] [--warmup N] [--async-mode main|callback] [--quick]
 *
 * A forked child process is the server: cse_server_init() and
 * cse_server_create() with an exec_handler that copies min(in_len, out_len)
 * input bytes to the output and sets status 0.  The parent is the client.
 *
 *   sync_rtt    x.completion == NULL, payload 64 B, 4 KiB and 1 MiB (one
 *               connection per payload: slot areas max(4096, payload) rounded
 *               up to a page, 64 slots, but 4 slots for 1 MiB so the chunk
 *               stays small).  Each round trip is timed on its own with two
 *               clock_gettime(CLOCK_MONOTONIC) calls (no rdtsc; the cost of
 *               about one call is in every sample, as in bench-baselines:
 *               "clock_ns" is that cost, measured), then as many again
 *               untimed, in 16 stretches with the clock read only between
 *               them: "mean_ns" is the median of the stretches' wall time /
 *               count.
 *   async_tput  64 B commands with exactly N (1, 8, 32) in flight, driven by
 *               completion callbacks from a pool of N struct cse_exec.
 *               p50/p99 are per-command issue-to-completion latencies
 *               (two clock reads per command); ops_per_s is commands /
 *               wall time of a second phase of as many commands that reads
 *               no clock per command (about 20 ns a read: 13% of the
 *               completing thread's time, perf record -e cpu-clock).
 *               --async-mode callback (default): the completion callback
 *               checks the finished command and re-issues it itself (io_uring
 *               style); the main thread only waits for the last completion.
 *               --async-mode main: the completion callback hands the finished
 *               command back to the main thread (mutex + semaphore), which
 *               checks it and issues the next one.  On a 2-core machine that
 *               adds a third runnable thread and a sleep/wake hand-off per
 *               command (measured: ~0.2 M/s against ~2 M/s for callback mode;
 *               letting the main thread spin instead made it far worse), so
 *               it measures the harness more than CSE.
 *               --batch B (callback mode, B dividing N): the N commands
 *               travel in groups of B, each issued with one
 *               cse_execute_batch() (one doorbell) by the completion that
 *               finishes its group; records mechanism "<mech>_batchB".
 *
 * --no-spin sets spin_ns = -1 on both the client and the server (never spin,
 * always sleep); --spin (default) leaves spin_ns = 0 (the runtime default)
 * unless --spin-ns gives a value.  --backend-name labels the records with a
 * "backend" field (e.g. linux, emulated).
 *
 * Output: one JSON object per line on stdout, the same schema as
 * bench-baselines, mechanism "cse_spin" or "cse_nospin":
 *   {"case":"sync_rtt","mechanism":"cse_spin","payload":64,"inflight":1,
 *    "p50_ns":N,"p99_ns":N,"ops_per_s":N,"backup":N}
 * and, for sync_rtt, "mean_ns":N,"clock_ns":N (above).
 * "backup" counts measured commands that travelled the backup path instead of
 * a slot (it should be 0).  Diagnostics on stderr; nonzero exit on failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cse/cse.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_os.h"
#include "bench_util.h"

#define BENCH_CODE	0x42	/* input_code; the server ignores it */
#define UNTIMED_STRETCHES 16	/* the untimed loop's parts (mean_ns: their median) */
#define ASYNC_PAYLOAD	64
#define MAX_INFLIGHT	4096
#define PAGE		4096UL
#define SLOT_AREA_MAX	(1UL << 20)	/* CSE_MAX_SLOT_AREA */
/* A hung peer or runtime must not hang the benchmark run. */
#define WATCHDOG_S	600

struct opts {
	int spin;		/* 1: cse_spin, 0: cse_nospin */
	int spin_ns_set;
	int spin_ns;
	const char *backend;
	const char *only_case;	/* NULL: all */
	size_t payload;		/* 0: all */
	unsigned inflight;	/* 0: all */
	unsigned long iters;	/* 0: per-case default */
	long warmup;		/* <0: iters / 10, at least 10 */
	int callback_mode;
	unsigned batch;		/* >1: cse_execute_batch() in groups of this many */
	int quick;
};

static struct opts g_opt = { .spin = 1, .warmup = -1, .callback_mode = 1 };
static char g_server_id[CSE_SERVER_ID_MAX];
static pid_t g_server_pid = -1;

static void fail(const char *what, int err)
{
	fprintf(stderr, "bench-cse: %s: %s (%d)\n", what,
		err < 0 ? cse_strerror(err) : strerror(err), err);
	if (g_server_pid > 0)
		kill(g_server_pid, SIGKILL);
	exit(1);
}

static const char *mech_name(void)
{
	static char name[32];

	snprintf(name, sizeof(name), "%s", g_opt.spin ? "cse_spin" : "cse_nospin");
	if (g_opt.batch > 1)
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "_batch%u",
			 g_opt.batch);
	return name;
}

static int32_t spin_ns_opt(void)
{
	if (!g_opt.spin)
		return -1;
	return g_opt.spin_ns_set ? g_opt.spin_ns : 0;
}

/* @mean_ns: the untimed loop's, and then @clock_ns too; 0: not measured. */
static void emit(const char *cas, size_t payload, unsigned inflight,
		 uint64_t *lat, unsigned long n, double ops_per_s,
		 unsigned long backup, double mean_ns, uint64_t clock_ns)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("{\"case\":\"%s\",\"mechanism\":\"%s\",\"payload\":%zu,"
	       "\"inflight\":%u,\"p50_ns\":%llu,\"p99_ns\":%llu,"
	       "\"ops_per_s\":%.1f,\"backup\":%lu",
	       cas, mech_name(), payload, inflight,
	       (unsigned long long)percentile(lat, n, 0.50),
	       (unsigned long long)percentile(lat, n, 0.99), ops_per_s, backup);
	if (mean_ns > 0)
		printf(",\"mean_ns\":%.1f,\"clock_ns\":%llu", mean_ns,
		       (unsigned long long)clock_ns);
	if (g_opt.backend)
		printf(",\"backend\":\"%s\"", g_opt.backend);
	printf("}\n");
	fflush(stdout);
}

/* ---- server child -------------------------------------------------------- */

static int srv_open(struct cse_conn *conn, void **user_context)
{
	(void)conn;
	*user_context = NULL;
	return 0;
}

static void srv_exec(struct cse_conn *conn, void *user_context,
		     __u32 input_code, const void *in, size_t in_len,
		     void *out, size_t out_len, size_t *out_len_actual,
		     int *status)
{
	size_t n = in_len < out_len ? in_len : out_len;

	(void)conn;
	(void)user_context;
	(void)input_code;
	memcpy(out, in, n);
	*out_len_actual = n;
	*status = 0;
}

static void srv_close(struct cse_conn *conn, void *user_context)
{
	(void)conn;
	(void)user_context;
}

/*
 * Runs in the child.  SIGTERM is blocked before any runtime thread exists, so
 * every thread inherits the mask and the main thread collects it with
 * sigwait(), then tears the server down in an orderly way.  The parent's
 * death also delivers SIGTERM.
 */
static void server_main(int ready_fd)
{
	static const struct cse_server_ops ops = {
		.open_handler = srv_open,
		.exec_handler = srv_exec,
		.close_handler = srv_close,
	};
	struct cse_server_opts sopts;
	struct cse_server *s = NULL;
	sigset_t set;
	int err, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	bench_die_with_parent(SIGTERM);

	memset(&sopts, 0, sizeof(sopts));
	sopts.spin_ns = spin_ns_opt();

	err = cse_server_init();
	if (!err) {
		err = cse_server_create(&s, g_server_id, &ops, &sopts);
		if (err)
			cse_server_deinit();
	}
	if (write(ready_fd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		_exit(3);
	close(ready_fd);
	if (err)
		_exit(2);

	sigwait(&set, &sig);
	cse_server_destroy(s);
	cse_server_deinit();
	_exit(0);
}

static void start_server(void)
{
	int fds[2], err = 0;
	ssize_t n;

	snprintf(g_server_id, sizeof(g_server_id), "bench-%ld-%s",
		 (long)getpid(), mech_name());
	if (pipe(fds))
		fail("pipe", errno);
	fflush(stdout);
	g_server_pid = fork();
	if (g_server_pid < 0)
		fail("fork", errno);
	if (g_server_pid == 0) {
		close(fds[0]);
		server_main(fds[1]);
	}
	close(fds[1]);
	n = read(fds[0], &err, sizeof(err));
	close(fds[0]);
	if (n != (ssize_t)sizeof(err))
		fail("server child died during setup", -EPIPE);
	if (err)
		fail("server setup", err);
}

static void stop_server(void)
{
	int status, i;

	if (g_server_pid <= 0)
		return;
	kill(g_server_pid, SIGTERM);
	for (i = 0; i < 500; i++) {	/* up to 5 s for an orderly exit */
		if (waitpid(g_server_pid, &status, WNOHANG) == g_server_pid) {
			g_server_pid = -1;
			return;
		}
		usleep(10000);
	}
	fprintf(stderr, "bench-cse: server did not exit on SIGTERM, killing\n");
	kill(g_server_pid, SIGKILL);
	waitpid(g_server_pid, &status, 0);
	g_server_pid = -1;
}

/* ---- client ------------------------------------------------------------- */

static struct cse_client *connect_client(size_t payload, unsigned nslots)
{
	struct cse_client_opts copts;
	struct cse_client *c = NULL;
	size_t area = payload < PAGE ? PAGE : payload;
	int err, tries;

	area = (area + PAGE - 1) & ~(PAGE - 1);
	if (area > SLOT_AREA_MAX)
		area = SLOT_AREA_MAX;
	memset(&copts, 0, sizeof(copts));
	copts.nslots = nslots;
	copts.slot_input_size = (__u32)area;
	copts.slot_output_size = (__u32)area;
	copts.slot_policy = CSE_SLOTS_WAIT;
	copts.spin_ns = spin_ns_opt();

	/* The server registered before it reported ready; retry anyway. */
	for (tries = 0; tries < 500; tries++) {
		err = cse_client_init(&c, g_server_id, &copts);
		if (err != -ENOENT)
			break;
		usleep(10000);
	}
	if (err)
		fail("cse_client_init", err);
	return c;
}

static unsigned long warmup_for(unsigned long iters)
{
	if (g_opt.warmup >= 0)
		return (unsigned long)g_opt.warmup;
	return iters / 10 < 10 ? 10 : iters / 10;
}

static unsigned long scaled(unsigned long dflt)
{
	if (g_opt.iters)
		return g_opt.iters;
	if (g_opt.quick)
		return dflt / 100 < 20 ? 20 : dflt / 100;
	return dflt;
}

/* One synchronous echo of @payload bytes, tagged with @i; 1 if it took the backup path. */
static int sync_once(struct cse_client *c, char *src, char *dst, size_t payload,
		     unsigned long i)
{
	struct cse_exec x;
	int err;

	/* Tag both ends of the payload so a stale echo is caught. */
	src[0] = (char)i;
	src[payload - 1] = (char)(i >> 8);
	memset(&x, 0, sizeof(x));
	x.input_code = BENCH_CODE;
	x.input_buffer_base = src;
	x.input_buffer_len = payload;
	x.output_buffer_base = dst;
	x.output_buffer_len = payload;
	err = cse_execute(c, &x);
	if (err)
		fail("cse_execute (sync)", err);
	if (x.output_status_code != 0 || x.output_buffer_len_actual != payload ||
	    dst[0] != src[0] || dst[payload - 1] != src[payload - 1]) {
		fprintf(stderr, "bench-cse: bad reply at %lu: status %d len %zu\n", i,
			x.output_status_code, x.output_buffer_len_actual);
		fail("sync echo", -EPROTO);
	}
	return x.backup != 0;
}

static void bench_sync(size_t payload)
{
	unsigned long iters, warmup, total, i, backup = 0;
	uint64_t *lat, t_start = 0, t_end, u_start, u_end, clock_ns;
	struct cse_client *c;
	char *src, *dst;

	if (payload >= (1UL << 20))
		iters = scaled(1000);
	else if (payload > 64)
		iters = scaled(50000);
	else
		iters = scaled(100000);
	warmup = warmup_for(iters);
	total = warmup + iters;

	src = malloc(payload);
	dst = malloc(payload);
	lat = malloc(iters * sizeof(*lat));
	if (!src || !dst || !lat)
		fail("malloc", ENOMEM);
	for (size_t k = 0; k < payload; k++)
		src[k] = (char)(k * 7 + 1);
	memset(dst, 0, payload);

	c = connect_client(payload, payload >= (1UL << 20) ? 4 : 64);
	clock_ns = clock_cost_ns();

	for (i = 1; i <= total; i++) {
		uint64_t t0, t1;
		int b;

		if (i == warmup + 1)
			t_start = now_ns();
		t0 = now_ns();
		b = sync_once(c, src, dst, payload, i);
		t1 = now_ns();
		if (i > warmup) {
			lat[i - warmup - 1] = t1 - t0;
			backup += b;
		}
	}
	t_end = now_ns();
	/*
	 * The same round trips again, untimed, in UNTIMED_STRETCHES stretches
	 * with a clock read only between them: each stretch's wall time / its
	 * count, and the median of those (a stretch in which a peer was
	 * preempted, on a shared machine, does not decide the figure).
	 */
	{
		uint64_t means[UNTIMED_STRETCHES];
		unsigned long per = iters / UNTIMED_STRETCHES ? iters / UNTIMED_STRETCHES : 1;
		unsigned int s;

		i = total + 1;
		for (s = 0; s < UNTIMED_STRETCHES; s++) {
			unsigned long k;

			u_start = now_ns();
			for (k = 0; k < per; k++, i++)
				backup += sync_once(c, src, dst, payload, i);
			u_end = now_ns();
			means[s] = (u_end - u_start) * 16 / per;	/* 1/16 ns */
		}
		qsort(means, UNTIMED_STRETCHES, sizeof(means[0]), cmp_u64);
		u_start = 0;
		u_end = means[UNTIMED_STRETCHES / 2];
	}
	if (memcmp(src, dst, payload))
		fail("sync echo differs", -EPROTO);

	cse_client_deinit(c);
	emit("sync_rtt", payload, 1, lat, iters,
	     (double)iters * 1e9 / (double)(t_end - t_start), backup,
	     (double)u_end / 16.0, clock_ns);
	free(lat);
	free(src);
	free(dst);
}

/*
 * Async pool.  Each entry is one struct cse_exec with its own buffers; the
 * completion callback records the issue-to-completion latency and either
 * hands the entry back to the main thread (main mode) or re-issues it
 * directly (callback mode).
 */
struct apool;

struct aent {
	struct cse_exec x;
	struct apool *pool;
	uint64_t t_issue;
	char in[ASYNC_PAYLOAD];
	char out[ASYNC_PAYLOAD];
};

struct apool {
	struct cse_client *c;
	struct aent *ents;
	unsigned n;
	unsigned long total;		/* commands in this phase */
	_Atomic unsigned long issued;	/* callback mode: claimed issues */
	_Atomic unsigned long completed;
	_Atomic unsigned long backup;
	_Atomic unsigned live;		/* callback mode: entries in flight */
	unsigned batch;			/* 0/1: one cse_execute() per command */
	_Atomic unsigned *group_done;	/* --batch: completions per group */
	struct cse_exec **batch_xs;	/* --batch: the group being issued */
	_Atomic int error;
	uint64_t *lat;			/* total entries, or NULL (warmup) */
	int callback_mode;

	pthread_mutex_t mu;		/* main mode: ring of ready entries */
	unsigned *ready;		/* capacity n + 1 */
	unsigned rhead, rtail;
	/*
	 * Main mode: one token per ready entry.  Callback mode: posted once,
	 * by the completion that retires the last live entry.
	 */
	sem_t sem;
};

static void async_completion(struct cse_exec *x, void *ctx);
static void async_group_done(struct apool *p, struct aent *e);

static void async_prep(struct apool *p, struct aent *e, unsigned long seq)
{
	struct cse_exec *x = &e->x;

	e->in[0] = (char)seq;
	e->in[ASYNC_PAYLOAD - 1] = (char)(seq >> 8);
	memset(x, 0, sizeof(*x));
	x->input_code = BENCH_CODE;
	x->input_buffer_base = e->in;
	x->input_buffer_len = ASYNC_PAYLOAD;
	x->output_buffer_base = e->out;
	x->output_buffer_len = ASYNC_PAYLOAD;
	x->completion = async_completion;
	x->completion_context = e;
	if (p->lat)	/* the untimed phase reads no clock */
		e->t_issue = now_ns();
}

static int async_issue(struct apool *p, struct aent *e, unsigned long seq)
{
	async_prep(p, e, seq);
	return cse_execute(p->c, &e->x);
}

/*
 * --batch: the @n entries from @first, numbered from @seq, with one
 * cse_execute_batch().  Only the thread that finished the group (or the
 * main thread, before any is in flight) issues it.
 */
static int async_issue_group(struct apool *p, struct aent *first, unsigned n,
			     unsigned long seq, struct cse_exec **xs)
{
	unsigned i;
	int ret;

	for (i = 0; i < n; i++) {
		async_prep(p, &first[i], seq + i);
		xs[i] = &first[i].x;
	}
	ret = cse_execute_batch(p->c, xs, n);
	return ret == (int)n ? 0 : ret < 0 ? ret : -EIO;
}

/* Checks one finished command; returns 0 or a negative error. */
static int async_check(const struct aent *e)
{
	if (e->x.result)
		return e->x.result;
	if (e->x.output_status_code != 0 ||
	    e->x.output_buffer_len_actual != ASYNC_PAYLOAD ||
	    memcmp(e->in, e->out, ASYNC_PAYLOAD))
		return -EPROTO;
	return 0;
}

static void set_error(struct apool *p, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&p->error, &zero, err);
}

static void async_completion(struct cse_exec *x, void *ctx)
{
	struct aent *e = ctx;
	struct apool *p = e->pool;
	uint64_t t = p->lat ? now_ns() : 0;
	unsigned long k, seq;
	int err;

	(void)x;
	if (e->x.backup)
		atomic_fetch_add_explicit(&p->backup, 1, memory_order_relaxed);
	k = atomic_fetch_add(&p->completed, 1);
	if (p->lat && k < p->total)
		p->lat[k] = t - e->t_issue;

	if (!p->callback_mode) {
		pthread_mutex_lock(&p->mu);
		p->ready[p->rtail] = (unsigned)(e - p->ents);
		p->rtail = (p->rtail + 1) % (p->n + 1);
		pthread_mutex_unlock(&p->mu);
		sem_post(&p->sem);
		return;
	}

	/* Callback mode: check, then issue the next command from here. */
	err = async_check(e);
	if (!err && p->batch > 1) {
		async_group_done(p, e);
		return;
	}
	if (err) {
		set_error(p, err);
	} else {
		seq = atomic_fetch_add(&p->issued, 1);
		if (seq < p->total) {
			err = async_issue(p, e, seq);
			if (!err)
				return;
			set_error(p, err);
		}
	}
	/* This entry retires; the last one to retire wakes the main thread. */
	if (atomic_fetch_sub(&p->live, 1) == 1)
		sem_post(&p->sem);
}

/*
 * --batch: the completion that finishes a group issues the whole group
 * again with one call; a group that is past the total retires.
 */
static void async_group_done(struct apool *p, struct aent *e)
{
	unsigned g = (unsigned)(e - p->ents) / p->batch, n = p->batch;
	struct aent *first = &p->ents[g * n];
	unsigned long seq;
	int err;

	if (atomic_fetch_add(&p->group_done[g], 1) + 1 < n)
		return;
	atomic_store(&p->group_done[g], 0);
	seq = atomic_fetch_add(&p->issued, n);
	if (seq < p->total) {
		if (seq + n > p->total)
			fail("--batch must divide the command count", EINVAL);
		err = async_issue_group(p, first, n, seq, p->batch_xs + g * n);
		if (!err)
			return;
		set_error(p, err);
	}
	if (atomic_fetch_sub(&p->live, n) == n)
		sem_post(&p->sem);
}

/* Main mode: take one ready token (sleeping; see the note at the top). */
static void wait_token(struct apool *p)
{
	while (sem_wait(&p->sem) && errno == EINTR)
		;
}

static void async_phase(struct apool *p, unsigned long total, uint64_t *lat)
{
	unsigned long issued = 0, done = 0;
	unsigned i, first = p->n < total ? p->n : (unsigned)total;
	int err;

	p->total = total;
	p->lat = lat;
	atomic_store(&p->issued, first);
	atomic_store(&p->completed, 0);
	atomic_store(&p->backup, 0);
	atomic_store(&p->live, first);
	atomic_store(&p->error, 0);
	p->rhead = p->rtail = 0;

	for (i = 0; i < first && p->batch > 1; i += p->batch) {
		if (first % p->batch)
			fail("--batch must divide the commands in flight", EINVAL);
		err = async_issue_group(p, &p->ents[i], p->batch, i, p->batch_xs + i);
		if (err)
			fail("cse_execute_batch", err);
	}
	for (i = 0; i < first && p->batch <= 1; i++) {
		err = async_issue(p, &p->ents[i], issued++);
		if (err)
			fail("cse_execute (async)", err);
	}

	if (p->callback_mode) {
		while (sem_wait(&p->sem) && errno == EINTR)
			;
		err = atomic_load(&p->error);
		if (err)
			fail("async command (callback mode)", err);
		if (atomic_load(&p->completed) != total)
			fail("async commands lost", -EPROTO);
		return;
	}

	while (done < total) {
		struct aent *e;

		wait_token(p);
		pthread_mutex_lock(&p->mu);
		e = &p->ents[p->ready[p->rhead]];
		p->rhead = (p->rhead + 1) % (p->n + 1);
		pthread_mutex_unlock(&p->mu);
		done++;
		err = async_check(e);
		if (err)
			fail("async command", err);
		if (issued < total) {
			err = async_issue(p, e, issued++);
			if (err)
				fail("cse_execute (async)", err);
		}
	}
}

static void bench_async(unsigned inflight)
{
	unsigned long iters = scaled(1000000), warmup = warmup_for(iters);
	uint64_t *lat, t0, t1;
	struct apool p;
	unsigned i;

	memset(&p, 0, sizeof(p));
	p.n = inflight;
	p.callback_mode = g_opt.callback_mode;
	p.batch = g_opt.batch;
	if (p.batch > 1 && (!p.callback_mode || inflight % p.batch))
		fail("--batch needs callback mode and must divide --inflight", EINVAL);
	if (p.batch > 1) {	/* whole groups only */
		iters += (p.batch - iters % p.batch) % p.batch;
		warmup += (p.batch - warmup % p.batch) % p.batch;
	}
	p.ents = calloc(inflight, sizeof(*p.ents));
	p.ready = calloc(inflight + 1, sizeof(*p.ready));
	p.group_done = calloc(inflight, sizeof(*p.group_done));
	p.batch_xs = calloc(inflight, sizeof(*p.batch_xs));
	lat = malloc(iters * sizeof(*lat));
	if (!p.ents || !p.ready || !p.group_done || !p.batch_xs || !lat)
		fail("malloc", ENOMEM);
	for (i = 0; i < inflight; i++) {
		p.ents[i].pool = &p;
		for (size_t k = 0; k < ASYNC_PAYLOAD; k++)
			p.ents[i].in[k] = (char)(k * 7 + i);
	}
	if (pthread_mutex_init(&p.mu, NULL) || sem_init(&p.sem, 0, 0))
		fail("pthread_mutex_init/sem_init", errno);

	/* 64 slots (at least inflight), so every command finds a free slot. */
	p.c = connect_client(ASYNC_PAYLOAD, inflight > 64 ? inflight : 64);

	if (warmup)
		async_phase(&p, warmup, NULL);
	async_phase(&p, iters, lat);
	/* Throughput from the same count again, with no clock per command. */
	t0 = now_ns();
	async_phase(&p, iters, NULL);
	t1 = now_ns();

	cse_client_deinit(p.c);
	emit("async_tput", ASYNC_PAYLOAD, inflight, lat, iters,
	     (double)iters * 1e9 / (double)(t1 - t0),
	     atomic_load(&p.backup), 0, 0);
	sem_destroy(&p.sem);
	pthread_mutex_destroy(&p.mu);
	free(lat);
	free(p.batch_xs);
	free(p.group_done);
	free(p.ready);
	free(p.ents);
}

/* ---- command line -------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-cse [--spin | --no-spin] [--spin-ns N]\n"
		"                 [--backend-name NAME]\n"
		"                 [--case sync_rtt|async_tput|all]\n"
		"                 [--payload N] [--inflight N] [--iters N]\n"
		"                 [--warmup N] [--async-mode main|callback]\n"
		"                 [--batch B] [--quick]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	enum { O_SPIN = 256, O_NOSPIN, O_SPIN_NS, O_BACKEND, O_CASE, O_PAYLOAD,
	       O_INFLIGHT, O_ITERS, O_WARMUP, O_ASYNC_MODE, O_BATCH, O_QUICK };
	static const struct option lopts[] = {
		{ "spin", no_argument, NULL, O_SPIN },
		{ "no-spin", no_argument, NULL, O_NOSPIN },
		{ "spin-ns", required_argument, NULL, O_SPIN_NS },
		{ "backend-name", required_argument, NULL, O_BACKEND },
		{ "case", required_argument, NULL, O_CASE },
		{ "payload", required_argument, NULL, O_PAYLOAD },
		{ "inflight", required_argument, NULL, O_INFLIGHT },
		{ "iters", required_argument, NULL, O_ITERS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "async-mode", required_argument, NULL, O_ASYNC_MODE },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (o) {
		case O_SPIN:
			g_opt.spin = 1;
			break;
		case O_NOSPIN:
			g_opt.spin = 0;
			break;
		case O_SPIN_NS:
			g_opt.spin_ns_set = 1;
			g_opt.spin_ns = (int)strtol(optarg, NULL, 0);
			break;
		case O_BACKEND:
			g_opt.backend = optarg;
			break;
		case O_CASE:
			if (!strcmp(optarg, "all"))
				g_opt.only_case = NULL;
			else if (!strcmp(optarg, "sync_rtt") ||
				 !strcmp(optarg, "async_tput"))
				g_opt.only_case = optarg;
			else
				usage();
			break;
		case O_PAYLOAD:
			g_opt.payload = parse_ul("bench-cse", optarg, "payload");
			if (g_opt.payload < 2 || g_opt.payload > SLOT_AREA_MAX)
				usage();
			break;
		case O_INFLIGHT:
			g_opt.inflight = (unsigned)parse_ul("bench-cse", optarg, "inflight");
			if (!g_opt.inflight || g_opt.inflight > MAX_INFLIGHT)
				usage();
			break;
		case O_ITERS:
			g_opt.iters = parse_ul("bench-cse", optarg, "iters");
			if (!g_opt.iters)
				usage();
			break;
		case O_WARMUP:
			g_opt.warmup = (long)parse_ul("bench-cse", optarg, "warmup");
			break;
		case O_ASYNC_MODE:
			if (!strcmp(optarg, "main"))
				g_opt.callback_mode = 0;
			else if (!strcmp(optarg, "callback"))
				g_opt.callback_mode = 1;
			else
				usage();
			break;
		case O_BATCH:
			g_opt.batch = (unsigned)parse_ul("bench-cse", optarg, "batch");
			if (!g_opt.batch || g_opt.batch > MAX_INFLIGHT)
				usage();
			break;
		case O_QUICK:
			g_opt.quick = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	static const size_t payloads[] = { 64, 4096, 1UL << 20 };
	static const unsigned inflights[] = { 1, 8, 32 };
	size_t i;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	alarm(WATCHDOG_S);
	start_server();

	if (!g_opt.only_case || !strcmp(g_opt.only_case, "sync_rtt")) {
		if (g_opt.payload)
			bench_sync(g_opt.payload);
		else
			for (i = 0; i < sizeof(payloads) / sizeof(*payloads); i++)
				bench_sync(payloads[i]);
	}
	if (!g_opt.only_case || !strcmp(g_opt.only_case, "async_tput")) {
		if (g_opt.inflight)
			bench_async(g_opt.inflight);
		else
			for (i = 0; i < sizeof(inflights) / sizeof(*inflights); i++)
				bench_async(inflights[i]);
	}

	stop_server();
	return 0;
}
