// SPDX-License-Identifier: MIT
/*
 * A slow handler beside everyone else (issue 10 item 7): one client's
 * handler sleeps on a backup command, then on a command submitted on the
 * control channel (CSE_SUBMIT_CTL), on a server process whose default is
 * inline.  Meanwhile another client's synchronous commands are timed
 * against the same commands on the idle server (the added p99), and a
 * third client is killed and the time until its close_handler ran is
 * measured (the server's death detection).  Every command must succeed
 * with its own echo; the times are reported with their targets
 * (tests/stress/run.py: at most 10 ms added p99, 100 ms detection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cse/atomic.h>

#include "stress.h"

#define SLOW_CMDS	2000
#define SLOW_SLEEP_MS	3000U
#define SLOW_DEATH_WAIT	5000

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* p99 in microseconds of SLOW_CMDS synchronous echoes on @c. */
static double p99_us(struct cse_client *c, struct stress_counts *n)
{
	static __u64 ns[SLOW_CMDS];
	unsigned int i;
	__u64 t0;

	for (i = 0; i < SLOW_CMDS; i++) {
		t0 = cse_now_ns();
		if (echo_once(c, 0, i))
			n->bad++;
		else
			n->commands++;
		ns[i] = cse_now_ns() - t0;
	}
	qsort(ns, SLOW_CMDS, sizeof(ns[0]), cmp_u64);
	return (double)ns[SLOW_CMDS * 99 / 100] / 1000.0;
}

static int stats(struct cse_client *c, struct conf_stats *st)
{
	struct cse_exec x = {
		.input_code = CONF_STATS,
		.output_buffer_base = st,
		.output_buffer_len = sizeof(*st),
	};

	return cse_execute(c, &x) || x.output_status_code ? -1 : 0;
}

/* Kill a connected client; ms until the server ran its close_handler. */
static double death_ms(const char *id, struct cse_client *c, struct stress_counts *n)
{
	const char *args[] = { "doomed-client", id, "1", NULL };
	struct conf_stats st0, st;
	__u64 t0;
	int pid;

	if (stats(c, &st0) || uu_spawn_helper(args, &pid)) {
		n->bad++;
		return -1;
	}
	t0 = cse_now_ms();
	do {
		if (stats(c, &st))
			break;
		cse_sleep_ms(1);
	} while (st.opens == st0.opens && cse_now_ms() - t0 < SLOW_DEATH_WAIT);
	cse_sleep_ms(20);	/* its 1 ms command is done */
	t0 = cse_now_ns();
	peer_kill(pid);
	while (!stats(c, &st) && st.closes == st0.closes &&
	       cse_now_ns() - t0 < SLOW_DEATH_WAIT * 1000000ULL)
		;
	if (st.closes == st0.closes) {
		n->hangs++;
		return -1;
	}
	return (double)(cse_now_ns() - t0) / 1e6;
}

static __u32 slow_done;

static void slow_completion(struct cse_exec *x, void *ctx)
{
	(void)x;
	(void)ctx;
	cse_store_release(&slow_done, 1);
}

int stress_slow(const char *argv0, unsigned long rounds, unsigned int seed)
{
	static const __u32 submits[] = { CSE_SUBMIT_FIFO, CSE_SUBMIT_CTL };
	struct stress_counts n = { .iterations = 0 };
	const char *args[] = { "server", NULL, NULL };
	struct res_count base = res_now();
	struct cse_client *a, *b;
	double base_p99, p99, ms;
	char id[64];
	unsigned long r;
	unsigned int k;
	int pid;

	(void)argv0;
	snprintf(id, sizeof(id), "stress-s-%d", (int)getpid());
	args[1] = id;
	if (uu_spawn_helper(args, &pid) || peer_connect(id, NULL, &b)) {
		n.crashes++;
		stress_print("slow", &n, seed);
		return 1;
	}
	base_p99 = p99_us(b, &n);
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < 2; k++) {
			struct cse_client_opts o = { .submit = submits[k] };
			__u32 in = SLOW_SLEEP_MS, out = 0;
			struct cse_exec x = {
				.input_code = CONF_SLEEP,
				.flags = k ? 0 : CSE_EXEC_FORCE_BACKUP,
				.input_buffer_base = &in,
				.input_buffer_len = sizeof(in),
				.output_buffer_base = &out,
				.output_buffer_len = sizeof(out),
				.completion = slow_completion,
			};
			__u64 deadline;

			if (peer_connect(id, &o, &a)) {
				n.bad++;
				continue;
			}
			cse_store_release(&slow_done, 0);
			if (cse_execute(a, &x))
				n.bad++;
			cse_sleep_ms(50);	/* its handler sleeps */
			p99 = p99_us(b, &n) - base_p99;
			ms = death_ms(id, b, &n);
			if (cse_load_acquire(&slow_done))
				n.bad++;	/* it did not last: nothing was measured */
			n.p99_added_ms = p99 / 1000.0 > n.p99_added_ms ? p99 / 1000.0 :
					 n.p99_added_ms;
			n.death_ms = ms > n.death_ms ? ms : n.death_ms;
			deadline = cse_now_ms() + SLOW_SLEEP_MS + 5000;
			while (!cse_load_acquire(&slow_done) && cse_now_ms() < deadline)
				cse_sleep_ms(10);
			if (!cse_load_acquire(&slow_done))
				n.lost++;
			else if (x.result || out != SLOW_SLEEP_MS)
				n.bad++;
			cse_client_deinit(a);
			n.iterations++;
		}
	}
	n.timed = true;
	if (kill(pid, 0))
		n.crashes++;
	cse_client_deinit(b);
	peer_kill(pid);
	stress_leaks(&n, &base);
	stress_print("slow", &n, seed);
	return stress_clean(&n) ? 0 : 1;
}
