// SPDX-License-Identifier: MIT
/*
 * The soak: the mix against a server process for a while, sampling both
 * processes' RSS, fds and threads.  After the first minute (the first
 * fifth of a shorter run) neither may grow: fds and threads end where they
 * were, and RSS rises at most 64 KiB a minute (the least-squares slope).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "stress.h"

#define SAMPLES_MAX	4096

struct series {
	double t_min[SAMPLES_MAX];
	double rss_kib[SAMPLES_MAX];
	int n;
};

/* Least-squares slope of RSS over time, KiB per minute. */
static double slope(const struct series *s)
{
	double mt = 0, mr = 0, num = 0, den = 0;
	int i;

	if (s->n < 3)
		return 0;
	for (i = 0; i < s->n; i++) {
		mt += s->t_min[i];
		mr += s->rss_kib[i];
	}
	mt /= s->n;
	mr /= s->n;
	for (i = 0; i < s->n; i++) {
		num += (s->t_min[i] - mt) * (s->rss_kib[i] - mr);
		den += (s->t_min[i] - mt) * (s->t_min[i] - mt);
	}
	return den > 0 ? num / den : 0;
}

int stress_soak(const char *argv0, unsigned int seconds, unsigned int seed)
{
	struct stress_counts n = { .iterations = 1 };
	static struct series side[2];		/* 0: client (us), 1: server */
	struct proc_sample warm[2], s;
	unsigned int step_ms, warmup_ms;
	struct cse_client *c;
	struct mix *m;
	__u64 t0, now;
	char id[64];
	int pid, k;

	signal(SIGPIPE, SIG_IGN);
	snprintf(id, sizeof(id), "stress-k-%d", (int)getpid());
	if (peer_server(argv0, id, &pid) || peer_connect(id, NULL, &c) ||
	    !(m = mix_start(c, seed, false))) {
		n.crashes++;
		stress_print("soak", &n, seed);
		return 1;
	}
	/* The first minute, or the first fifth of a short run, is warm-up. */
	warmup_ms = seconds >= SOAK_JUDGED_S ? 60000 : seconds * 200;
	step_ms = seconds >= SOAK_JUDGED_S ? 5000 : seconds * 1000 / 20 + 1;
	t0 = cse_now_ms();
	cse_sleep_ms(warmup_ms);
	for (k = 0; k < 2; k++)
		if (proc_sample(k ? pid : 0, &warm[k]))
			n.crashes++;
	while ((now = cse_now_ms()) < t0 + seconds * 1000ULL) {
		for (k = 0; k < 2; k++) {
			if (proc_sample(k ? pid : 0, &s)) {
				n.crashes++;
				continue;
			}
			if (side[k].n < SAMPLES_MAX) {
				side[k].t_min[side[k].n] = (double)(now - t0) / 60000.0;
				side[k].rss_kib[side[k].n++] = (double)s.rss_kib;
			}
		}
		cse_sleep_ms(step_ms);
	}
	mix_stop(m, 10000, &n);
	/* Both sides hold what they held after the warm-up. */
	for (k = 0; k < 2; k++) {
		if (proc_sample(k ? pid : 0, &s))
			continue;
		n.leaked_fds += s.fds > warm[k].fds ? (unsigned long)(s.fds - warm[k].fds) : 0;
		n.leaked_threads += s.threads > warm[k].threads ?
				    (unsigned long)(s.threads - warm[k].threads) : 0;
	}
	n.rss_slope_kib_min = slope(&side[0]) > slope(&side[1]) ? slope(&side[0]) :
			      slope(&side[1]);
	n.rss_judged = seconds >= SOAK_JUDGED_S;
	cse_client_deinit(c);
	mix_free(m);
	peer_kill(pid);
	stress_print("soak", &n, seed);
	return stress_clean(&n) ? 0 : 1;
}
