// SPDX-License-Identifier: MIT
/*
 * bench-baselines: the peers CSE is measured against, one mechanism per run.
 *
 *   bench-baselines MECH PAYLOAD ITERS [WARMUP]
 *
 *   MECH     socketpair | pipe | eventfd_shm | futex_shm | busypoll_shm
 *   PAYLOAD  bytes sent by the client and echoed back by the server
 *   ITERS    measured round trips
 *   WARMUP   unmeasured round trips first (default: ITERS / 10, at least 10)
 *
 * Client and server are two processes (fork), like CSE's user-to-user case.
 * Each iteration the client sends PAYLOAD bytes and the server echoes PAYLOAD
 * bytes back.  For the shared-memory mechanisms the copy work matches CSE's
 * slot path: the client memcpy's its buffer into a shared request area, the
 * server reads the request and writes a shared reply area (memcpy), and the
 * client memcpy's the reply out into its own buffer.
 *
 *   socketpair    AF_UNIX SOCK_STREAM pair, write/read (looping on partial IO)
 *   pipe          two pipes, one per direction, write/read (looping)
 *   eventfd_shm   data in shm; an eventfd per direction, write/read 8 bytes
 *   futex_shm     data in shm; a shared sequence word per direction,
 *                 FUTEX_WAIT / FUTEX_WAKE (FreeBSD: _umtx_op's WAIT_UINT /
 *                 WAKE) and no spinning at all: the honest
 *                 "sleeping" baseline (the waker always calls FUTEX_WAKE)
 *   busypoll_shm  data in shm; both sides spin (with a pause hint) on a
 *                 shared sequence word: the physical floor
 *
 * Timing: every round trip is timed on its own with two
 * clock_gettime(CLOCK_MONOTONIC) calls (vDSO; about one call's cost is in
 * every sample, and "clock_ns" is that cost, measured; no rdtsc).  p50/p99
 * come from the sorted per-iteration samples; ops_per_s is ITERS divided by
 * the wall time of the whole measured loop.  Then ITERS more round trips
 * run untimed, in 16 stretches with the clock read only between them:
 * "mean_ns" is the median of the stretches' wall time / count (a stretch
 * in which the peer was preempted does not decide it), the figure the
 * floor ratios are computed from.
 *
 * Output: one JSON object on one line on stdout:
 *   {"case":"sync_rtt","mechanism":"...","payload":N,"inflight":1,
 *    "p50_ns":N,"p99_ns":N,"ops_per_s":N,"mean_ns":N,"clock_ns":N}
 * Diagnostics go to stderr; the exit status is nonzero on any failure,
 * including an echo that came back wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_os.h"
#include "bench_util.h"

#define CACHELINE 64
#define UNTIMED_STRETCHES 16	/* the untimed loop's parts (mean_ns: their median) */
/* A hung peer must not hang the benchmark run. */
#define WATCHDOG_S 300

enum mech {
	M_SOCKETPAIR,
	M_PIPE,
	M_EVENTFD_SHM,
	M_FUTEX_SHM,
	M_BUSYPOLL_SHM,
};

static const char *const mech_names[] = {
	[M_SOCKETPAIR] = "socketpair",
	[M_PIPE] = "pipe",
	[M_EVENTFD_SHM] = "eventfd_shm",
	[M_FUTEX_SHM] = "futex_shm",
	[M_BUSYPOLL_SHM] = "busypoll_shm",
};

/*
 * Shared region for the shm mechanisms: the two sequence words on their own
 * cache lines, then the request and reply areas (cache-line aligned).
 */
struct shm_ctl {
	_Alignas(CACHELINE) _Atomic uint32_t req_seq;	/* client -> server */
	_Alignas(CACHELINE) _Atomic uint32_t resp_seq;	/* server -> client */
	_Alignas(CACHELINE) char data[];		/* request, then reply */
};

struct ctx {
	enum mech mech;
	size_t payload;
	unsigned long total;	/* warmup + measured round trips */
	/* client -> server and server -> client fds (sockets, pipes, eventfds) */
	int c_tx, c_rx;		/* used by the client */
	int s_tx, s_rx;		/* used by the server */
	struct shm_ctl *shm;
	char *req, *resp;	/* inside shm */
};

static void die(const char *what)
{
	fprintf(stderr, "bench-baselines: %s: %s\n", what, strerror(errno));
	exit(1);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Busy-poll until *w == val.  Only after a long fruitless spin (the peer was
 * preempted: both on one CPU under load) yield the CPU, so an overloaded
 * machine slows this baseline down instead of stalling it for a time slice
 * per round trip; on an idle machine the yield never runs.
 */
static inline void spin_until(_Atomic uint32_t *w, uint32_t val)
{
	unsigned n = 0;

	while (atomic_load_explicit(w, memory_order_acquire) != val) {
		cpu_relax();
		if (++n == 1U << 12) {
			n = 0;
			sched_yield();
		}
	}
}

/* The kernel's word wait (bench_os.h): the futex, _umtx_op on FreeBSD. */
static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	int r = bench_word_wait((uint32_t *)w, val);

	if (r && r != -EAGAIN && r != -EINTR) {
		errno = -r;
		die("futex wait");
	}
}

static void futex_wake(_Atomic uint32_t *w)
{
	int r = bench_word_wake((uint32_t *)w);

	if (r) {
		errno = -r;
		die("futex wake");
	}
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Returns 0, or -1 on EOF before @len bytes. */
static int read_all(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		if (n == 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		die("eventfd write");
}

static void efd_wait(int fd)
{
	uint64_t v;

	for (;;) {
		ssize_t n = read(fd, &v, sizeof(v));

		if (n == (ssize_t)sizeof(v))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		die("eventfd read");
	}
}

/* ---- server side: echo exactly ctx->total requests, then exit ---------- */

static void server(struct ctx *c)
{
	char *buf = NULL;
	unsigned long i;

	bench_die_with_parent(SIGKILL);
	alarm(WATCHDOG_S);
	if (c->mech == M_SOCKETPAIR || c->mech == M_PIPE) {
		buf = malloc(c->payload);
		if (!buf)
			die("malloc");
	}

	for (i = 1; i <= c->total; i++) {
		uint32_t seq = (uint32_t)i;

		switch (c->mech) {
		case M_SOCKETPAIR:
		case M_PIPE:
			if (read_all(c->s_rx, buf, c->payload))
				_exit(2);
			write_all(c->s_tx, buf, c->payload);
			break;
		case M_EVENTFD_SHM:
			efd_wait(c->s_rx);
			memcpy(c->resp, c->req, c->payload);
			efd_signal(c->s_tx);
			break;
		case M_FUTEX_SHM:
			while (atomic_load_explicit(&c->shm->req_seq,
						    memory_order_acquire) != seq)
				futex_wait(&c->shm->req_seq, seq - 1);
			memcpy(c->resp, c->req, c->payload);
			atomic_store_explicit(&c->shm->resp_seq, seq,
					      memory_order_release);
			futex_wake(&c->shm->resp_seq);
			break;
		case M_BUSYPOLL_SHM:
			spin_until(&c->shm->req_seq, seq);
			memcpy(c->resp, c->req, c->payload);
			atomic_store_explicit(&c->shm->resp_seq, seq,
					      memory_order_release);
			break;
		}
	}
	_exit(0);
}

/* ---- client side: one round trip ---------------------------------------- */

static void round_trip(struct ctx *c, uint32_t seq, const char *src, char *dst)
{
	switch (c->mech) {
	case M_SOCKETPAIR:
	case M_PIPE:
		write_all(c->c_tx, src, c->payload);
		if (read_all(c->c_rx, dst, c->payload)) {
			fprintf(stderr, "bench-baselines: server closed early\n");
			exit(1);
		}
		break;
	case M_EVENTFD_SHM:
		memcpy(c->req, src, c->payload);
		efd_signal(c->c_tx);
		efd_wait(c->c_rx);
		memcpy(dst, c->resp, c->payload);
		break;
	case M_FUTEX_SHM:
		memcpy(c->req, src, c->payload);
		atomic_store_explicit(&c->shm->req_seq, seq, memory_order_release);
		futex_wake(&c->shm->req_seq);
		while (atomic_load_explicit(&c->shm->resp_seq,
					    memory_order_acquire) != seq)
			futex_wait(&c->shm->resp_seq, seq - 1);
		memcpy(dst, c->resp, c->payload);
		break;
	case M_BUSYPOLL_SHM:
		memcpy(c->req, src, c->payload);
		atomic_store_explicit(&c->shm->req_seq, seq, memory_order_release);
		spin_until(&c->shm->resp_seq, seq);
		memcpy(dst, c->resp, c->payload);
		break;
	}
}

static void setup(struct ctx *c)
{
	int sv[2], p1[2], p2[2];

	c->c_tx = c->c_rx = c->s_tx = c->s_rx = -1;
	switch (c->mech) {
	case M_SOCKETPAIR:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair");
		c->c_tx = c->c_rx = sv[0];
		c->s_tx = c->s_rx = sv[1];
		return;
	case M_PIPE:
		if (pipe(p1) || pipe(p2))
			die("pipe");
		c->c_tx = p1[1];
		c->s_rx = p1[0];
		c->s_tx = p2[1];
		c->c_rx = p2[0];
		return;
	case M_EVENTFD_SHM:
		c->c_tx = c->s_rx = eventfd(0, 0);	/* request doorbell */
		c->s_tx = c->c_rx = eventfd(0, 0);	/* reply doorbell */
		if (c->c_tx < 0 || c->c_rx < 0)
			die("eventfd");
		break;
	case M_FUTEX_SHM:
	case M_BUSYPOLL_SHM:
		break;
	}

	/* Shared-memory mechanisms: control words + request + reply areas. */
	size_t area = (c->payload + CACHELINE - 1) & ~(size_t)(CACHELINE - 1);
	size_t len = sizeof(struct shm_ctl) + 2 * area;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		die("mmap");
	c->shm = m;
	c->req = c->shm->data;
	c->resp = c->shm->data + area;
	memset(m, 0, len);	/* fault every page in before forking */
}

/* Close the server's ends in the client so EOF works for the streams. */
static void close_server_ends(struct ctx *c)
{
	if (c->mech == M_PIPE) {
		close(c->s_rx);
		close(c->s_tx);
	} else if (c->mech == M_SOCKETPAIR) {
		close(c->s_rx);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-baselines MECH PAYLOAD ITERS [WARMUP]\n"
		"  MECH: socketpair | pipe | eventfd_shm | futex_shm | busypoll_shm\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	unsigned long iters, warmup, i;
	uint64_t *lat, t_start, t_end, u_start, u_end, clock_ns, means[UNTIMED_STRETCHES];
	unsigned int s, nstretch;
	char *src, *dst;
	int status;
	pid_t pid;
	size_t m;

	if (argc < 4 || argc > 5)
		usage();
	for (m = 0; m < sizeof(mech_names) / sizeof(mech_names[0]); m++)
		if (!strcmp(argv[1], mech_names[m]))
			break;
	if (m == sizeof(mech_names) / sizeof(mech_names[0]))
		usage();
	c.mech = (enum mech)m;
	c.payload = parse_ul("bench-baselines", argv[2], "payload");
	iters = parse_ul("bench-baselines", argv[3], "iters");
	warmup = argc == 5 ? parse_ul("bench-baselines", argv[4], "warmup") : iters / 10;
	if (argc < 5 && warmup < 10)
		warmup = 10;
	if (c.payload < 2 || iters < 1 || 2 * iters + warmup > UINT32_MAX - 1) {
		fprintf(stderr, "bench-baselines: need PAYLOAD >= 2, ITERS >= 1\n");
		return 2;
	}
	c.total = warmup + 2 * iters;	/* timed, then untimed */

	src = malloc(c.payload);
	dst = malloc(c.payload);
	lat = malloc(iters * sizeof(*lat));
	if (!src || !dst || !lat)
		die("malloc");
	for (size_t k = 0; k < c.payload; k++)
		src[k] = (char)(k * 7 + 1);
	memset(dst, 0, c.payload);

	setup(&c);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		server(&c);
	close_server_ends(&c);
	alarm(WATCHDOG_S);
	clock_ns = clock_cost_ns();

	t_start = 0;
	for (i = 1; i <= warmup + iters; i++) {
		uint32_t seq = (uint32_t)i;
		uint64_t t0, t1;

		/* Tag both ends of the payload so a stale echo is caught. */
		src[0] = (char)seq;
		src[c.payload - 1] = (char)(seq >> 8);
		if (i == warmup + 1)
			t_start = now_ns();
		t0 = now_ns();
		round_trip(&c, seq, src, dst);
		t1 = now_ns();
		if (i > warmup)
			lat[i - warmup - 1] = t1 - t0;
		if (dst[0] != src[0] || dst[c.payload - 1] != src[c.payload - 1]) {
			fprintf(stderr, "bench-baselines: %s: bad echo at %lu\n",
				mech_names[c.mech], i);
			kill(pid, SIGKILL);
			return 1;
		}
	}
	t_end = now_ns();
	/*
	 * The same round trips again, untimed, in UNTIMED_STRETCHES stretches
	 * with a clock read only between them; "mean_ns" is the median of the
	 * stretches' wall time / count (the last one takes the remainder).
	 */
	nstretch = iters < UNTIMED_STRETCHES ? 1 : UNTIMED_STRETCHES;
	for (s = 0; s < nstretch; s++) {
		unsigned long end = s + 1 == nstretch ? c.total : i + iters / nstretch - 1;
		unsigned long n = end - i + 1;

		u_start = now_ns();
		for (; i <= end; i++) {
			uint32_t seq = (uint32_t)i;

			src[0] = (char)seq;
			src[c.payload - 1] = (char)(seq >> 8);
			round_trip(&c, seq, src, dst);
			if (dst[0] != src[0] || dst[c.payload - 1] != src[c.payload - 1]) {
				fprintf(stderr, "bench-baselines: %s: bad echo at %lu\n",
					mech_names[c.mech], i);
				kill(pid, SIGKILL);
				return 1;
			}
		}
		u_end = now_ns();
		means[s] = n ? (u_end - u_start) * 16 / n : 0;	/* 1/16 ns */
	}
	qsort(means, nstretch, sizeof(means[0]), cmp_u64);
	if (memcmp(src, dst, c.payload)) {
		fprintf(stderr, "bench-baselines: %s: echo differs\n",
			mech_names[c.mech]);
		kill(pid, SIGKILL);
		return 1;
	}

	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench-baselines: server exited abnormally (%#x)\n",
			status);
		return 1;
	}

	qsort(lat, iters, sizeof(*lat), cmp_u64);
	printf("{\"case\":\"sync_rtt\",\"mechanism\":\"%s\",\"payload\":%zu,"
	       "\"inflight\":1,\"p50_ns\":%llu,\"p99_ns\":%llu,"
	       "\"ops_per_s\":%.1f,\"mean_ns\":%.1f,\"clock_ns\":%llu}\n",
	       mech_names[c.mech], c.payload,
	       (unsigned long long)percentile(lat, iters, 0.50),
	       (unsigned long long)percentile(lat, iters, 0.99),
	       (double)iters * 1e9 / (double)(t_end - t_start),
	       (double)means[nstretch / 2] / 16.0, (unsigned long long)clock_ns);
	free(lat);
	free(src);
	free(dst);
	return 0;
}
