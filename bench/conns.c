// SPDX-License-Identifier: MIT
/*
 * bench-conns: one server, N connected clients each issuing synchronous
 * 64 B commands (issue 15 item 4), using only <cse/cse.h>.
 *
 *   bench-conns --conns N [--seconds S] [--idle S] [--server-nofile K]
 *               [--client-spin-ns NS]
 *
 * A forked child is the server (an echo exec_handler, the default options:
 * two workers, inline); the parent runs N client threads, each with its own
 * connection, which connect first, then issue commands back to back for S
 * seconds (default 2) together.  Each command is timed on its own.  The
 * clients do not spin (--client-spin-ns, default -1): see copts.
 *
 * Before anything, the soft RLIMIT_NOFILE is raised to the hard limit (the
 * server inherits it): every connection costs descriptors on both sides.
 * --server-nofile K lowers the server's soft limit to K instead, to see
 * what a client gets when the server is out of descriptors (a clear
 * -EMFILE, never a hang).  A client that cannot connect ends the run: its
 * error is printed and the exit status is 1.
 *
 * --idle S: after the commands, the clients stay connected and quiet; once
 * spinning has ended (0.5 s), the server's CPU time over S seconds is
 * reported as "idle_cpu_pct" (percent of one CPU).
 *
 * Output: one JSON line, the schema of the other benchmarks plus the
 * server's threads and memory:
 *   {"case":"conns","mechanism":"cse_conns_N","payload":64,"inflight":N,
 *    "p50_ns":..,"p99_ns":..,"ops_per_s":..,"server_threads":..,
 *    "server_threads_base":..,"rss_kib_per_conn":..,"connect_s":..,
 *    "client_sleeps_per_cmd":..}
 * (server_threads_base: with no client; rss_kib_per_conn: the server's
 * RSS growth from no client to N, divided by N; client_sleeps_per_cmd:
 * this process's voluntary context switches while the commands ran,
 * getrusage()'s ru_nvcsw, per command: how often a client slept for its
 * answer, the rest found it done before sleeping.)  Linux only (/proc).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cse/cse.h>

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_os.h"
#include "bench_util.h"

#define PAYLOAD		64
#define SAMPLES_TOTAL	2000000UL
#define CLIENT_STACK	(256U << 10)
#define CONNECT_WAIT_NS	(30ULL * 1000000000ULL)

static char server_id[64];
static pid_t server_pid;

static struct {
	unsigned long conns;
	unsigned long seconds;
	unsigned long idle;
	unsigned long server_nofile;
} opt = { .seconds = 2 };

static void echo_exec(struct cse_conn *conn, void *user_context, __u32 code,
		      const void *in, size_t in_len, void *out, size_t out_len,
		      size_t *out_len_actual, int *status)
{
	size_t n = in_len < out_len ? in_len : out_len;

	(void)conn;
	(void)user_context;
	(void)code;
	memcpy(out, in, n);
	*out_len_actual = n;
	*status = 0;
}

static int serve(void)
{
	const struct cse_server_ops ops = { .exec_handler = echo_exec };
	struct cse_server *s;
	int ret;

	bench_die_with_parent(SIGKILL);
	if (opt.server_nofile) {
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = opt.server_nofile;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ret = cse_server_init();
	if (!ret)
		ret = cse_server_create(&s, server_id, &ops, NULL);
	if (ret) {
		fprintf(stderr, "bench-conns: server: %s\n", cse_strerror(ret));
		return 1;
	}
	for (;;)
		pause();
}

/* The server's VmRSS (KiB), threads and CPU time (clock ticks). */
struct sample {
	long rss_kib;
	long threads;
	unsigned long long cpu_ticks;
};

static int sample_server(struct sample *s)
{
	char path[64], line[512];
	unsigned long long ut = 0, st = 0;
	FILE *f;

	s->rss_kib = s->threads = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)server_pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &s->rss_kib);
		sscanf(line, "Threads: %ld", &s->threads);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)server_pid);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	/* After "(comm)": state, then fields 4..; utime and stime are 14 and 15. */
	{
		char *p = strrchr(line, ')');

		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				 &ut, &st) != 2)
			return -1;
	}
	s->cpu_ticks = ut + st;
	return 0;
}

struct client {
	pthread_t th;
	struct cse_client *c;
	int err;			/* connect's */
	struct lat_samples lat;		/* lat.n: commands done */
};

/*
 * --client-spin-ns (default -1: never spin).  A thousand clients on a few
 * cores must not spin: a client that spins burns the core its server (a
 * few threads among thousands) needs to answer it, and every count runs
 * the same way so that they compare.
 */
static struct cse_client_opts copts = { .spin_ns = -1 };

static atomic_ulong connected, finished;
static atomic_int go, stop, quit;

/*
 * Clients wait for go and quit asleep, not polling: a thousand threads
 * that look every millisecond slow the connections still being made.
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;

static void gate_wait(atomic_int *flag)
{
	pthread_mutex_lock(&gate_lock);
	while (!atomic_load(flag))
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_open(atomic_int *flag)
{
	pthread_mutex_lock(&gate_lock);
	atomic_store(flag, 1);
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	unsigned char in[PAYLOAD], out[PAYLOAD];
	struct cse_exec x;
	uint64_t t0, t;
	int ret;

	t0 = now_ns();
	while ((cl->err = cse_client_init(&cl->c, server_id, &copts)) == -ENOENT &&
	       now_ns() - t0 < CONNECT_WAIT_NS)
		usleep(1000);
	atomic_fetch_add(&connected, 1);
	if (cl->err)
		return NULL;
	gate_wait(&go);
	memset(in, 0x5a, sizeof(in));
	while (!atomic_load(&stop)) {
		memset(&x, 0, sizeof(x));
		x.input_code = 1;
		x.input_buffer_base = in;
		x.input_buffer_len = sizeof(in);
		x.output_buffer_base = out;
		x.output_buffer_len = sizeof(out);
		t = now_ns();
		ret = cse_execute(cl->c, &x);
		t = now_ns() - t;
		if (ret || x.output_buffer_len_actual != sizeof(out) || out[7] != 0x5a) {
			cl->err = ret ? ret : -EPROTO;
			break;
		}
		lat_add(&cl->lat, t);
	}
	atomic_fetch_add(&finished, 1);
	gate_wait(&quit);
	cse_client_deinit(cl->c);
	return NULL;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		fprintf(stderr, "bench-conns: cannot raise the open-file limit: %s\n",
			strerror(errno));
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s --conns N [--seconds S] [--idle S] [--server-nofile K]\n",
		prog);
	exit(2);
}

static int run(void)
{
	struct client *cls = calloc(opt.conns, sizeof(*cls));
	unsigned long i, total = 0, nlat = 0, cap;
	struct sample base, mid, a, b;
	struct rusage ru0, ru1;
	unsigned long long p50, p99;
	uint64_t *all, t0, elapsed, c0;
	pthread_attr_t attr;
	double idle_pct = -1;
	int failed = 0, err = 0;
	struct cse_client *probe;

	if (!cls)
		return 1;
	/* The server is up once a client gets in; then measure it empty. */
	t0 = now_ns();
	while ((err = cse_client_init(&probe, server_id, NULL)) == -ENOENT &&
	       now_ns() - t0 < CONNECT_WAIT_NS)
		usleep(1000);
	if (err) {
		fprintf(stderr, "bench-conns: server not reachable: %s\n", cse_strerror(err));
		return 1;
	}
	cse_client_deinit(probe);
	usleep(300000);
	sample_server(&base);

	cap = SAMPLES_TOTAL / opt.conns;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CLIENT_STACK);
	c0 = now_ns();
	for (i = 0; i < opt.conns; i++) {
		if (lat_init(&cls[i].lat, cap) || pthread_create(&cls[i].th, &attr, client_main, &cls[i])) {
			fprintf(stderr, "bench-conns: cannot start client %lu\n", i);
			return 1;
		}
	}
	while (atomic_load(&connected) < opt.conns)
		usleep(1000);
	c0 = now_ns() - c0;
	for (i = 0; i < opt.conns; i++) {
		if (cls[i].err) {
			if (!failed++)
				err = cls[i].err;
		}
	}
	if (failed) {
		printf("{\"case\":\"conns\",\"mechanism\":\"cse_conns_%lu\",\"connect_failed\":%d,"
		       "\"connect_error\":\"%s\",\"errno\":%d}\n", opt.conns, failed,
		       cse_strerror(err), -err);
		fprintf(stderr, "bench-conns: %d of %lu clients could not connect: %s\n",
			failed, opt.conns, cse_strerror(err));
		atomic_store(&stop, 1);
		gate_open(&go);
		gate_open(&quit);
		for (i = 0; i < opt.conns; i++)
			pthread_join(cls[i].th, NULL);
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	gate_open(&go);
	usleep((useconds_t)(opt.seconds * 1000000UL / 2));
	sample_server(&mid);
	usleep((useconds_t)(opt.seconds * 1000000UL / 2));
	atomic_store(&stop, 1);
	while (atomic_load(&finished) < opt.conns)
		usleep(1000);
	elapsed = now_ns() - t0;
	getrusage(RUSAGE_SELF, &ru1);

	if (opt.idle) {
		usleep(500000);		/* every spin has ended */
		sample_server(&a);
		usleep((useconds_t)(opt.idle * 1000000UL));
		sample_server(&b);
		idle_pct = 100.0 * (double)(b.cpu_ticks - a.cpu_ticks) /
			   (double)sysconf(_SC_CLK_TCK) / (double)opt.idle;
	}
	gate_open(&quit);
	for (i = 0; i < opt.conns; i++) {
		pthread_join(cls[i].th, NULL);
		if (cls[i].err)
			failed++, err = cls[i].err;
		total += cls[i].lat.n;
	}
	if (failed) {
		fprintf(stderr, "bench-conns: a command failed: %s\n", cse_strerror(err));
		return 1;
	}
	all = malloc((total < SAMPLES_TOTAL ? total : SAMPLES_TOTAL) * sizeof(uint64_t) + 8);
	for (i = 0; i < opt.conns; i++)
		nlat += lat_move(&cls[i].lat, all + nlat);
	if (lat_p50_p99(all, nlat, &p50, &p99)) {
		fprintf(stderr, "bench-conns: no command completed (or no memory)\n");
		return 1;
	}
	printf("{\"case\":\"conns\",\"mechanism\":\"cse_conns_%lu\",\"payload\":%d,"
	       "\"inflight\":%lu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"ops_per_s\":%.1f,"
	       "\"server_threads\":%ld,\"server_threads_base\":%ld,"
	       "\"rss_kib_per_conn\":%.1f,\"connect_s\":%.3f,\"client_sleeps_per_cmd\":%.3f",
	       opt.conns, PAYLOAD, opt.conns,
	       p50,
	       p99,
	       (double)total * 1e9 / (double)elapsed, mid.threads, base.threads,
	       (double)(mid.rss_kib - base.rss_kib) / (double)opt.conns, (double)c0 / 1e9,
	       (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / (double)total);
	if (opt.idle)
		printf(",\"idle_cpu_pct\":%.3f,\"idle_s\":%lu", idle_pct, opt.idle);
	printf("}\n");
	free(all);
	free(cls);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "conns", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "idle", required_argument, NULL, 'i' },
		{ "server-nofile", required_argument, NULL, 'n' },
		{ "client-spin-ns", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, status = 0, ret;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opt.conns = parse_ul(argv[0], optarg, "--conns");
			break;
		case 's':
			opt.seconds = parse_ul(argv[0], optarg, "--seconds");
			break;
		case 'i':
			opt.idle = parse_ul(argv[0], optarg, "--idle");
			break;
		case 'n':
			opt.server_nofile = parse_ul(argv[0], optarg, "--server-nofile");
			break;
		case 'p':
			copts.spin_ns = (__s32)strtol(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!opt.conns || !opt.seconds)
		usage(argv[0]);
	raise_nofile();
	snprintf(server_id, sizeof(server_id), "bench-conns-%d", (int)getpid());
	server_pid = fork();
	if (server_pid < 0)
		return 1;
	if (!server_pid)
		return serve();
	ret = run();
	kill(server_pid, SIGKILL);
	waitpid(server_pid, &status, 0);
	return ret;
}
