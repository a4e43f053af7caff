// SPDX-License-Identifier: MIT
/*
 * The kill -9 lifecycle fuzzer.  Each iteration kills one side 0-50 ms
 * into the mix, chosen by the seed:
 *  - the server (a cse-conf-helper process; the client is this process):
 *    every command completes exactly once (0 or -ECONNRESET), no caller
 *    hangs, and once the client is gone this process holds what it held;
 *  - a client (this binary as --mix, a process; the server is this
 *    process): the server closes the connection (close_handler once, never
 *    during an exec), and comes back to what it held.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cse/atomic.h>

#include "stress.h"

#define KILL_WINDOW_MS	50
#define SETTLE_MS	5000

static void kill_server_round(const char *argv0, unsigned int *rng, unsigned long i,
			      struct stress_counts *n)
{
	struct res_count base = res_now();
	struct cse_client *c;
	struct mix *m;
	char id[64];
	int pid, status;

	snprintf(id, sizeof(id), "stress-s-%d-%lu", (int)getpid(), i);
	if (peer_server(argv0, id, &pid) || peer_connect(id, NULL, &c)) {
		n->crashes++;	/* the server never came up */
		return;
	}
	m = mix_start(c, stress_rand(rng), true);
	cse_sleep_ms(stress_rand(rng) % (KILL_WINDOW_MS + 1));
	if (waitpid(pid, &status, WNOHANG) == pid)
		n->crashes++;	/* died before we killed it */
	else
		peer_kill(pid);
	if (m)
		mix_stop(m, SETTLE_MS, n);
	cse_client_deinit(c);
	mix_free(m);
	stress_leaks(n, &base);
}

/* Live connections at this process's conformance server. */
static __u32 live(struct conf_stats *st)
{
	conf_server_stats(st);
	return st->opens - st->closes;
}

static void kill_client_round(unsigned int *rng, const char *id, const struct res_count *base,
			      struct stress_counts *n)
{
	struct conf_stats before, after;
	struct pollfd pfd = { .events = POLLIN };
	char seed[16], line[64];
	const char *args[] = { "--mix", id, seed, NULL };
	__u64 deadline;
	int fds[2], pid, status;

	conf_server_stats(&before);
	snprintf(seed, sizeof(seed), "%u", stress_rand(rng));
	if (pipe(fds) || stress_spawn_self(args, &pid, fds[1])) {
		n->crashes++;
		return;
	}
	close(fds[1]);
	/* Start the clock when it is connected and issuing. */
	pfd.fd = fds[0];
	if (poll(&pfd, 1, 10000) != 1 || read(fds[0], line, sizeof(line)) <= 0)
		n->crashes++;
	close(fds[0]);
	cse_sleep_ms(stress_rand(rng) % (KILL_WINDOW_MS + 1));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		n->crashes++;	/* it ended by itself: a failure it saw */
	deadline = cse_now_ms() + SETTLE_MS;
	while (live(&after) && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	if (live(&after))
		n->hangs++;	/* the connection was never closed */
	if (after.close_while_running != before.close_while_running ||
	    after.double_close != before.double_close ||
	    after.exec_after_close != before.exec_after_close)
		n->bad++;
	stress_leaks(n, base);
}

int stress_lifecycle(const char *argv0, unsigned long iterations, unsigned int seed)
{
	struct cse_server_opts o = { .nworkers = 3 };
	struct stress_counts n = { .rss_slope_kib_min = -1 };
	struct res_count base;
	struct cse_server *s;
	unsigned int rng = seed;
	unsigned long i;
	char id[64];

	signal(SIGPIPE, SIG_IGN);
	snprintf(id, sizeof(id), "stress-c-%d", (int)getpid());
	if (cse_server_init() || cse_server_create(&s, id, &conf_server_ops, &o)) {
		n.crashes++;
		stress_print("lifecycle", &n, seed);
		return 1;
	}
	base = res_now();
	for (i = 0; i < iterations; i++) {
		n.iterations++;
		if (stress_rand(&rng) % 2)
			kill_server_round(argv0, &rng, i, &n);
		else
			kill_client_round(&rng, id, &base, &n);
		if (n.hangs)
			break;	/* threads may still run on what we would free */
	}
	cse_server_destroy(s);
	cse_server_deinit();
	stress_print("lifecycle", &n, seed);
	return stress_clean(&n) ? 0 : 1;
}

/* --mix ID SEED: connect, say so, and issue the mix until killed. */
int stress_mix_client(const char *id, unsigned int seed)
{
	struct stress_counts n = { 0 };
	struct cse_client *c;
	struct mix *m;

	if (peer_connect(id, NULL, &c))
		return 1;
	m = mix_start(c, seed, false);
	printf("connected\n");
	fflush(stdout);
	cse_sleep_ms(60000);	/* killed long before */
	if (m)
		mix_stop(m, SETTLE_MS, &n);
	cse_client_deinit(c);
	mix_free(m);
	return stress_clean(&n) ? 0 : 1;
}
