// SPDX-License-Identifier: MIT
/*
 * Nothing leaks: after a clean session, after the server dies under the
 * client, and after a client dies under the server, the process holds the
 * same fds, threads, /dev/shm entries and chunk mappings as before.
 */
#include <fcntl.h>
#include <stdlib.h>

#include <cse/atomic.h>

#include "../ktap.h"
#include "../test_spawn.h"
#include "peer.h"

static const char *argv0;

#define RES_FMT "fds %d threads %d shm %d maps %d"
#define RES_ARGS(r) (r).fds, (r).threads, (r).shm, (r).maps

static void server_id(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "leak-%s-%d", what, (int)getpid());
}

static struct {
	struct cse_exec x[4];
	__u32 ms, out[4], done;
} bg;

static void bg_done(struct cse_exec *x, void *ctx)
{
	(void)x;
	(void)ctx;
	cse_fetch_add(&bg.done, 1);
}

static int test_clean_session(const struct ktap_case *tc)
{
	struct res_count base = res_now(), now;
	static __u8 big[100000], big_out[100000];
	struct cse_client *c;
	struct cse_exec x = { .input_code = CONF_ECHO };
	char id[64];
	int pid, i;

	(void)tc;
	server_id(id, sizeof(id), "clean");
	KTAP_CHECK(!peer_server(argv0, id, &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	for (i = 0; i < 100; i++)
		KTAP_CHECK(!echo_once(c, i % 2 ? CSE_EXEC_WORKER : 0, (__u32)i), "echo %d", i);
	x.input_buffer_base = big;
	x.input_buffer_len = sizeof(big);
	x.output_buffer_base = big_out;
	x.output_buffer_len = sizeof(big_out);
	KTAP_CHECK(!cse_execute(c, &x) && x.backup, "backup echo");
	cse_client_deinit(c);
	peer_kill(pid);
	KTAP_CHECK(res_settle(&base, 2000, &now), "before " RES_FMT ", after " RES_FMT,
		   RES_ARGS(base), RES_ARGS(now));
	return 0;
}

static int test_server_died(const struct ktap_case *tc)
{
	struct res_count base = res_now(), now;
	struct cse_client *c;
	char id[64];
	int pid, i;

	(void)tc;
	server_id(id, sizeof(id), "died");
	KTAP_CHECK(!peer_server(argv0, id, &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	bg.ms = 10000;
	for (i = 0; i < 4; i++) {
		bg.x[i].input_code = CONF_SLEEP;
		bg.x[i].flags = i == 3 ? CSE_EXEC_FORCE_BACKUP : CSE_EXEC_WORKER;
		bg.x[i].input_buffer_base = &bg.ms;
		bg.x[i].input_buffer_len = 4;
		bg.x[i].output_buffer_base = &bg.out[i];
		bg.x[i].output_buffer_len = 4;
		bg.x[i].completion = bg_done;
		KTAP_CHECK(!cse_execute(c, &bg.x[i]), "execute %d", i);
	}
	cse_sleep_ms(100);
	peer_kill(pid);
	for (i = 0; i < 5000 && cse_load_acquire(&bg.done) < 4; i++)
		cse_sleep_ms(1);
	KTAP_CHECK(bg.done == 4, "%u of 4 completed after server death", bg.done);
	cse_client_deinit(c);
	KTAP_CHECK(res_settle(&base, 2000, &now), "before " RES_FMT ", after " RES_FMT,
		   RES_ARGS(base), RES_ARGS(now));
	return 0;
}

static int test_client_died(const struct ktap_case *tc)
{
	struct res_count before = res_now(), base, now;
	const char *args[] = { "doomed-client", NULL, "3000", NULL };
	struct cse_server_opts o = { .default_exec = CSE_EXEC_WORKER };
	struct cse_server *s;
	char id[64];
	int pid, round;

	(void)tc;
	server_id(id, sizeof(id), "client");
	args[1] = id;
	uu_world_init(argv0);
	KTAP_CHECK(!cse_server_init(), "init");
	KTAP_CHECK(!cse_server_create(&s, id, &conf_server_ops, &o), "create");
	base = res_now();
	for (round = 0; round < 3; round++) {
		KTAP_CHECK(!uu_spawn_helper(args, &pid), "spawn client");
		cse_sleep_ms(300);
		peer_kill(pid);
		/* The SLEEP handler still runs for ~3 s; then close_handler and free. */
		KTAP_CHECK(res_settle(&base, 8000, &now),
			   "round %d: before " RES_FMT ", after " RES_FMT, round,
			   RES_ARGS(base), RES_ARGS(now));
	}
	cse_server_destroy(s);
	cse_server_deinit();
	KTAP_CHECK(res_settle(&before, 2000, &now), "server destroy: before " RES_FMT
		   ", after " RES_FMT, RES_ARGS(before), RES_ARGS(now));
	return 0;
}

/*
 * A server destroyed while its clients (here in this process too) have
 * commands running inline, on workers and on the backup path: when all
 * is done, nothing of either side is left.
 */
static int test_server_destroyed_busy(const struct ktap_case *tc)
{
	static const __u32 flags[3] = { 0, CSE_EXEC_WORKER, CSE_EXEC_FORCE_BACKUP };
	struct res_count base = res_now(), now;
	struct cse_server *s;
	struct cse_client *c[2];
	char id[64];
	int i;

	(void)tc;
	server_id(id, sizeof(id), "destroy");
	KTAP_CHECK(!cse_server_init(), "init");
	KTAP_CHECK(!cse_server_create(&s, id, &conf_server_ops, NULL), "create");
	memset(&bg, 0, sizeof(bg));
	bg.ms = 400;
	for (i = 0; i < 2; i++)
		KTAP_CHECK(!cse_client_init(&c[i], id, NULL), "connect %d", i);
	for (i = 0; i < 4; i++) {
		struct cse_exec *x = &bg.x[i];

		x->input_code = CONF_SLEEP;
		x->flags = flags[i % 3];
		x->input_buffer_base = &bg.ms;
		x->input_buffer_len = 4;
		x->output_buffer_base = &bg.out[i];
		x->output_buffer_len = 4;
		x->completion = bg_done;
		KTAP_CHECK(!cse_execute(c[i % 2], x), "execute %d", i);
	}
	cse_sleep_ms(100);
	cse_server_destroy(s);
	for (i = 0; i < 5000 && cse_load_acquire(&bg.done) < 4; i++)
		cse_sleep_ms(1);
	KTAP_CHECK(bg.done == 4, "%u of 4 completed after destroy", bg.done);
	for (i = 0; i < 2; i++)
		cse_client_deinit(c[i]);
	cse_server_deinit();
	KTAP_CHECK(res_settle(&base, 2000, &now), "before " RES_FMT ", after " RES_FMT,
		   RES_ARGS(base), RES_ARGS(now));
	return 0;
}

/*
 * The counts themselves: another program's /dev/shm entry is not ours, and
 * a thread that was just joined is no thread of ours any more (it stays
 * listed in /proc until the kernel has torn it down, long on a slow guest).
 * Either, counted, made the leak checks above fail for nothing.
 */
static int test_counts_are_ours(const struct ktap_case *tc)
{
	struct res_count base = res_now(), after_join, now;
	char path[64];
	pthread_t t;
	int fd, i;

	(void)tc;
	snprintf(path, sizeof(path), "/dev/shm/not-cse-%d", (int)getpid());
	fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd >= 0) {
		close(fd);
		now = res_now();
		unlink(path);
		KTAP_CHECK(now.shm == base.shm, "another program's %s counted (%d -> %d)",
			   path, base.shm, now.shm);
	}
	/*
	 * A joined thread may still be listed for a moment while the kernel
	 * (or qemu-user's host thread) tears it down, longer on a loaded
	 * machine: a baseline taken right then must still settle, to the
	 * process's steady count, and a joined thread is never a leak.
	 */
	if (test_under_emulator())	/* its host threads are not ours to count */
		return ktap_skip("thread counts under qemu-user are the emulator's host threads");
	for (i = 0; i < 200; i++) {
		KTAP_CHECK(!pthread_create(&t, NULL, res_noop, NULL), "thread");
		pthread_join(t, NULL);
		after_join = res_count_now();
		KTAP_CHECK(res_settle(&after_join, 2000, &now),
			   "round %d: a joined thread still counted after 2 s (%d -> %d)", i,
			   after_join.threads, now.threads);
		KTAP_CHECK(after_join.threads == base.threads,
			   "round %d: the baseline settled at %d threads, not %d", i,
			   after_join.threads, base.threads);
	}
	return 0;
}

static const struct ktap_case cases[] = {
	{ "clean_session", test_clean_session, 30, NULL },
	{ "server_died", test_server_died, 30, NULL },
	{ "client_died", test_client_died, 60, NULL },
	{ "counts_are_ours", test_counts_are_ours, 60, NULL },
	{ "server_destroyed_busy", test_server_destroyed_busy, 30, NULL },
};

int main(int argc, char **argv)
{
	argv0 = argv[0];
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
