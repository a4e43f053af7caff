/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that need a real peer process: a conformance server
 * started from cse-conf-helper, and counts of the resources a process
 * holds (fds, threads, shm objects, chunk mappings: tests/testos.h) to
 * prove nothing leaks.
 */
#ifndef CSE_TESTS_PEER_H
#define CSE_TESTS_PEER_H

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "../conformance/uu_world.h"
#include "../testos.h"

struct res_count {
	int fds;
	int threads;
	int shm;
	int maps;
};

static inline void *res_noop(void *arg)
{
	return arg;
}

static inline struct res_count res_count_now(void)
{
	struct res_count r = {
		.fds = testos_count_fds(),
		.threads = testos_count_threads(),
		.shm = testos_count_shm(),
		.maps = testos_count_chunk_maps(),
	};
	return r;
}

/*
 * Counts once they are steady: the same twice, 10 ms apart (at most 2 s).
 * A thread just joined may still be listed while the kernel tears it down
 * (under qemu-user, until the emulator's host thread has exited), and a
 * baseline that counted it would later see a thread "vanish".
 */
static inline struct res_count res_base(void)
{
	struct res_count a = res_count_now(), b;
	int tries;

	for (tries = 0; tries < 200; tries++, a = b) {
		cse_sleep_ms(10);
		b = res_count_now();
		if (!memcmp(&a, &b, sizeof(a)))
			break;
	}
	return a;
}

/*
 * Counts now.  The first thread a process creates may also start a
 * sanitizer runtime thread, so the first call starts and joins one, and
 * returns steady counts (res_base) after it.
 */
static inline struct res_count res_now(void)
{
	static bool warm;
	pthread_t t;

	if (!warm && !pthread_create(&t, NULL, res_noop, NULL)) {
		pthread_join(t, NULL);
		warm = true;
		return res_base();
	}
	return res_count_now();
}

/*
 * Wait up to @ms for the counts to come back to @base (threads exit late).
 * A baseline taken just after a thread was joined may still list it (the
 * kernel, or qemu-user's host thread, tears it down a little later): a
 * thread count below the baseline lowers it, since a leak can only add
 * threads, and the comparison goes on against the lowered baseline.
 */
static inline bool res_settle(struct res_count *base, unsigned int ms,
			      struct res_count *now)
{
	for (;;) {
		*now = res_count_now();
		if (now->threads < base->threads)
			base->threads = now->threads;
		if (now->fds == base->fds && now->threads == base->threads &&
		    now->shm == base->shm && now->maps == base->maps)
			return true;
		if (!ms--)
			return false;
		cse_sleep_ms(1);
	}
}

/* Start a conformance server process named @id; connect with retries. */
static inline int peer_server(const char *argv0, const char *id, int *pid)
{
	const char *args[] = { "server", id, NULL };

	uu_world_init(argv0);
	return uu_spawn_helper(args, pid);
}

static inline int peer_connect(const char *id, const struct cse_client_opts *o,
			       struct cse_client **c)
{
	__u64 deadline = cse_now_ms() + 5000;
	int ret;

	while ((ret = cse_client_init(c, id, o)) == -ENOENT && cse_now_ms() < deadline)
		cse_sleep_ms(5);
	return ret;
}

static inline void peer_kill(int pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static inline int echo_once(struct cse_client *c, __u32 flags, __u32 v)
{
	struct cse_exec x = {
		.input_code = CONF_ECHO,
		.flags = flags,
		.input_buffer_base = &v,
		.input_buffer_len = sizeof(v),
	};
	__u32 out = 0;
	int ret;

	x.output_buffer_base = &out;
	x.output_buffer_len = sizeof(out);
	ret = cse_execute(c, &x);
	if (ret)
		return ret;
	return (x.output_buffer_len_actual == sizeof(v) && out == v) ? 0 : -EPROTO;
}

#endif /* CSE_TESTS_PEER_H */
