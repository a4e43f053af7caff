// SPDX-License-Identifier: MIT
/*
 * bench-conns-futex: bench-conns' baseline (issue 15 item 4): the same
 * clients, each issuing synchronous 64 B commands back to back and
 * sleeping while one runs, served with no CSE by what one would write by
 * hand: two worker threads, a queue and a futex per client.
 *
 *   bench-conns-futex --conns N [--seconds S]
 *
 * A forked child is the server: two worker threads (CSE's default).  The
 * parent runs N client threads.  They share one MAP_SHARED region: a slot
 * per client (a state word and a waiters word, 64 B in, 64 B out, each on
 * a line of its own) and one queue of slot numbers under a process-shared
 * mutex.  A client writes its input, queues its slot, wakes a worker if
 * one sleeps, and sleeps on its state word (it never spins, as bench-conns'
 * clients); a worker takes the next slot, copies the input to the output,
 * marks it done and wakes the client if it sleeps; with nothing queued it
 * spins for 50 us (CSE's default), then sleeps.
 *
 * Output: one JSON line, the schema of bench-conns without the server's
 * threads and memory:
 *   {"case":"conns","mechanism":"futex_conns_N","payload":64,"inflight":N,
 *    "p50_ns":..,"p99_ns":..,"ops_per_s":..,"client_sleeps_per_cmd":..}
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_os.h"
#include "bench_util.h"

#define PAYLOAD		64
#define WORKERS		2
#define MAX_CONNS	4096U		/* a power of two: the queue's size */
#define SPIN_NS		50000ULL
#define SAMPLES_TOTAL	2000000UL
#define CLIENT_STACK	(256U << 10)

enum { ST_IDLE, ST_SUBMITTED, ST_DONE };

struct floor_slot {
	_Alignas(64) uint32_t state;
	uint32_t waiters;
	_Alignas(64) unsigned char in[PAYLOAD];
	_Alignas(64) unsigned char out[PAYLOAD];
};

struct floor_shm {
	pthread_mutex_t lock;		/* head, tail, ring */
	uint32_t head, tail;
	uint32_t ring[MAX_CONNS];
	_Alignas(64) uint32_t work_seq;	/* workers sleep on it */
	uint32_t sleepers;
	uint32_t stop;
	struct floor_slot slots[];
};

static struct floor_shm *shm;
static unsigned long nconns, seconds = 2;

static uint32_t load(uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void store(uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* The next queued slot, or -1. */
static long take(void)
{
	long i = -1;

	pthread_mutex_lock(&shm->lock);
	if (shm->head != shm->tail)
		i = shm->ring[shm->head++ % MAX_CONNS];
	pthread_mutex_unlock(&shm->lock);
	return i;
}

/* Take the next queued slot; when none comes for SPIN_NS, sleep for one. */
static long next_slot(void)
{
	uint64_t t0 = now_ns();
	uint32_t seq;
	long i;

	while (!load(&shm->stop)) {
		i = take();
		if (i >= 0)
			return i;
		if (now_ns() - t0 < SPIN_NS)
			continue;
		/* Counted in, then look again: a client queues, then counts us. */
		seq = load(&shm->work_seq);
		__atomic_fetch_add(&shm->sleepers, 1, __ATOMIC_SEQ_CST);
		i = take();
		if (i < 0)
			bench_word_wait(&shm->work_seq, seq);
		__atomic_fetch_sub(&shm->sleepers, 1, __ATOMIC_SEQ_CST);
		if (i >= 0)
			return i;
		t0 = now_ns();
	}
	return -1;
}

static void *worker(void *arg)
{
	long i;

	(void)arg;
	while ((i = next_slot()) >= 0) {
		memcpy(shm->slots[i].out, shm->slots[i].in, PAYLOAD);
		store(&shm->slots[i].state, ST_DONE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (load(&shm->slots[i].waiters))
			bench_word_wake(&shm->slots[i].state);
	}
	return NULL;
}

static int serve(void)
{
	pthread_t th[WORKERS];
	int i;

	bench_die_with_parent(SIGKILL);
	for (i = 0; i < WORKERS; i++)
		if (pthread_create(&th[i], NULL, worker, NULL))
			return 1;
	for (i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* One synchronous command in slot @i: queue it, sleep until it is done. */
static void command(unsigned long i)
{
	struct floor_slot *s = &shm->slots[i];

	store(&s->state, ST_SUBMITTED);
	pthread_mutex_lock(&shm->lock);
	shm->ring[shm->tail++ % MAX_CONNS] = (uint32_t)i;
	pthread_mutex_unlock(&shm->lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* queued, then look for sleepers */
	if (load(&shm->sleepers)) {
		__atomic_fetch_add(&shm->work_seq, 1, __ATOMIC_SEQ_CST);
		bench_word_wake(&shm->work_seq);
	}
	while (load(&s->state) != ST_DONE) {
		store(&s->waiters, 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (load(&s->state) != ST_DONE)
			bench_word_wait(&s->state, ST_SUBMITTED);
	}
	s->waiters = 0;
}

struct client {
	pthread_t th;
	unsigned long idx;
	struct lat_samples lat;
	int err;
};

static atomic_int go, halt;

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct floor_slot *s = &shm->slots[cl->idx];
	uint64_t t;

	while (!atomic_load(&go))
		usleep(1000);
	memset(s->in, 0x5a, PAYLOAD);
	while (!atomic_load(&halt)) {
		unsigned char out[PAYLOAD];

		t = now_ns();
		command(cl->idx);
		memcpy(out, s->out, PAYLOAD);
		t = now_ns() - t;
		if (out[7] != 0x5a) {
			cl->err = 1;
			break;
		}
		lat_add(&cl->lat, t);
	}
	return NULL;
}

static int run(void)
{
	struct client *cls = calloc(nconns, sizeof(*cls));
	unsigned long i, total = 0, nlat = 0, cap = SAMPLES_TOTAL / nconns;
	pthread_attr_t attr;
	uint64_t t0, elapsed, *all;
	struct rusage ru0, ru1;
	unsigned long long p50, p99;

	if (!cls)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CLIENT_STACK);
	for (i = 0; i < nconns; i++) {
		cls[i].idx = i;
		if (lat_init(&cls[i].lat, cap) || pthread_create(&cls[i].th, &attr, client_main, &cls[i])) {
			fprintf(stderr, "bench-conns-futex: cannot start client %lu\n", i);
			return 1;
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	atomic_store(&go, 1);
	usleep((useconds_t)(seconds * 1000000UL));
	atomic_store(&halt, 1);
	for (i = 0; i < nconns; i++) {
		pthread_join(cls[i].th, NULL);
		if (cls[i].err) {
			fprintf(stderr, "bench-conns-futex: a command came back wrong\n");
			return 1;
		}
		total += cls[i].lat.n;
	}
	elapsed = now_ns() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	all = malloc((total < SAMPLES_TOTAL ? total : SAMPLES_TOTAL) * sizeof(uint64_t) + 8);
	for (i = 0; i < nconns; i++)
		nlat += lat_move(&cls[i].lat, all + nlat);
	if (lat_p50_p99(all, nlat, &p50, &p99)) {
		fprintf(stderr, "bench-conns-futex: no command completed (or no memory)\n");
		return 1;
	}
	printf("{\"case\":\"conns\",\"mechanism\":\"futex_conns_%lu\",\"payload\":%d,"
	       "\"inflight\":%lu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"ops_per_s\":%.1f,"
	       "\"client_sleeps_per_cmd\":%.3f}\n",
	       nconns, PAYLOAD, nconns, p50,
	       p99,
	       (double)total * 1e9 / (double)elapsed,
	       (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / (double)total);
	free(all);
	free(cls);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_mutexattr_t ma;
	pid_t pid;
	int i, ret, status = 0;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--conns"))
			nconns = parse_ul(argv[0], argv[i + 1], "--conns");
		else if (!strcmp(argv[i], "--seconds"))
			seconds = parse_ul(argv[0], argv[i + 1], "--seconds");
		else
			break;
	}
	if (i != argc || !nconns || nconns > MAX_CONNS || !seconds) {
		fprintf(stderr, "usage: %s --conns N (1 to %u) [--seconds S]\n", argv[0],
			MAX_CONNS);
		return 2;
	}
	shm = mmap(NULL, sizeof(*shm) + nconns * sizeof(struct floor_slot),
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("bench-conns-futex: mmap");
		return 1;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&shm->lock, &ma);
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid)
		return serve();
	ret = run();
	store(&shm->stop, 1);
	__atomic_fetch_add(&shm->work_seq, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < WORKERS; i++)
		bench_word_wake(&shm->work_seq);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return ret;
}
