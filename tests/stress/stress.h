/* SPDX-License-Identifier: MIT */
/*
 * cse-stress: the standing fault-injection suite (make stress; a short
 * form runs in make test).  Every part counts what must stay zero and
 * prints it as one JSON line; tests/stress/run.py tabulates them.
 */
#ifndef CSE_STRESS_H
#define CSE_STRESS_H

#include <pthread.h>
#include <stdbool.h>

#include "../unit/peer.h"

/* What each part counts; all zero, or the run fails with its seed. */
struct stress_counts {
	unsigned long iterations;
	unsigned long commands;		/* completed, for scale */
	unsigned long hangs;		/* a wait that never ended */
	unsigned long lost;		/* issued, never completed */
	unsigned long duplicated;	/* completed more than once */
	unsigned long bad;		/* a result the contract does not allow */
	unsigned long leaked_fds;
	unsigned long leaked_threads;
	unsigned long leaked_shm;
	unsigned long crashes;		/* a peer that died by itself */
	double rss_slope_kib_min;	/* soak: the worst side's */
	bool rss_judged;		/* soak of at least SOAK_JUDGED_S */
	/* slow: the worst of its rounds (reported, judged by run.py) */
	bool timed;
	double p99_added_ms;		/* a sync command's p99 beside a slow handler */
	double death_ms;		/* kill -9 of a client to its close_handler */
};

/* A shorter soak reports its RSS slope but is too short to judge it. */
#define SOAK_JUDGED_S	300

void stress_print(const char *part, const struct stress_counts *n, unsigned int seed);
bool stress_clean(const struct stress_counts *n);
/* Resources the count should have come back to: the excess, per kind. */
void stress_leaks(struct stress_counts *n, const struct res_count *base);

/* A deterministic generator per run (the seed reproduces it). */
static inline unsigned int stress_rand(unsigned int *state)
{
	*state = *state * 1103515245U + 12345U;
	return *state >> 8;
}

/* A pthread_join that gives up after @ms; false: the thread hangs. */
bool stress_join(pthread_t t, unsigned int ms);

/* ---- the command mix (mix.c) ---- */

#define MIX_WINDOW	16
#define MIX_SYNC	2
#define MIX_BIG		(64U << 10)	/* over a slot: the backup path */

struct mix;

/*
 * Start issuing on @c: MIX_SYNC threads of synchronous commands and one of
 * asynchronous ones (MIX_WINDOW in flight), inline, worker and backup,
 * small and MIX_BIG.  @death_ok: -ECONNRESET is an allowed result.
 */
struct mix *mix_start(struct cse_client *c, unsigned int seed, bool death_ok);
/* Stop, wait for every command (at most @ms), add the counts to @n. */
void mix_stop(struct mix *m, unsigned int ms, struct stress_counts *n);
/*
 * Free it, once the client is deinitialised: a completion may still be
 * returning until then.  (Kept, never freed, if a thread of it hung.)
 */
void mix_free(struct mix *m);

/* ---- /proc sampling ---- */

struct proc_sample {
	long rss_kib;
	int fds;
	int threads;
};

int proc_sample(int pid, struct proc_sample *s);	/* pid 0: this process */

/* ---- the parts ---- */

int stress_lifecycle(const char *argv0, unsigned long iterations, unsigned int seed);
int stress_flood(const char *argv0, unsigned long commands, unsigned int seed);
int stress_hostile(const char *argv0, unsigned int seconds, unsigned int seed);
int stress_soak(const char *argv0, unsigned int seconds, unsigned int seed);
int stress_slow(const char *argv0, unsigned long rounds, unsigned int seed);

/* Child roles (this binary re-spawned). */
int stress_mix_client(const char *id, unsigned int seed);
int stress_honest_client(const char *id, unsigned int seconds);

/* This binary, for re-spawning. */
extern char stress_self[4096];
int stress_spawn_self(const char *const *args, int *pid, int stdout_fd);

#endif /* CSE_STRESS_H */
