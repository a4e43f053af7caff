// SPDX-License-Identifier: MIT
/*
 * cse_execute_batch(): many commands, one doorbell (asynchronous ones, or
 * synchronous ones waited for together).  Written
 * once against cse.h and env.h like scenarios.c, and run in every world.
 * Each command must complete exactly once with its own echo, whichever
 * path it took (a slot in the burst, a slot after a flush, the backup
 * path), and the return value must count exactly the commands issued.
 */
#include "conformance.h"

/* More than a client's 64 default slots: the rest go another way. */
#define BT_MAX		100U
#define BT_BURST	32U
#define BT_ROUNDS	64U
#define BT_WAIT_MS	30000U
/* How long a command that was not issued is watched for a completion. */
#define BT_QUIET_MS	100U
#define BT_PREPARE_ERR	(-EBADMSG)

static struct {
	struct cse_exec x[BT_MAX];
	struct cse_exec *xs[BT_MAX];
	__u32 in[BT_MAX], out[BT_MAX];
	__u32 completions[BT_MAX];
	__u32 done, bad, backups, reset;
	/* bt_die(): the server to kill from a prepare callback. */
	struct conf_env *env;
	const char *victim;
	__u32 notices;
} bt;

static void bt_completion(struct cse_exec *x, void *ctx)
{
	__u32 i = (__u32)(x - bt.x);

	(void)ctx;
	if (x->result == -ECONNRESET)
		cse_fetch_add(&bt.reset, 1);
	else if (x->result || x->output_status_code ||
		 x->output_buffer_len_actual != 4 || bt.out[i] != bt.in[i])
		cse_fetch_add(&bt.bad, 1);
	if (x->backup)
		cse_fetch_add(&bt.backups, 1);
	cse_fetch_add(&bt.completions[i], 1);
	cse_fetch_add(&bt.done, 1);
}

/* @n echo commands of 4 bytes in bt.x, listed in bt.xs; counts reset. */
static void bt_fill(__u32 n, __u32 seed)
{
	__u32 i;

	memset(&bt.x, 0, sizeof(bt.x));
	memset(&bt.completions, 0, sizeof(bt.completions));
	bt.done = bt.bad = bt.backups = bt.reset = 0;
	for (i = 0; i < n; i++) {
		bt.in[i] = (seed * BT_MAX + i) * 2654435761U;
		bt.out[i] = 0;
		conf_exec4(&bt.x[i], CONF_ECHO, &bt.in[i], &bt.out[i], bt_completion, NULL);
		bt.xs[i] = &bt.x[i];
	}
}

/*
 * Wait for the first @issued of @n commands to complete, each once, and
 * check that the others (not issued) never do.
 */
static int bt_wait(__u32 issued, __u32 n)
{
	__u64 deadline = cse_now_ms() + BT_WAIT_MS;
	__u32 i;

	while (cse_load_acquire(&bt.done) < issued && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	if (issued < n)
		cse_sleep_ms(BT_QUIET_MS);
	CONF_CHECK(bt.done == issued, "%u completions for %u commands issued",
		   bt.done, issued);
	for (i = 0; i < n; i++)
		CONF_CHECK(bt.completions[i] == (i < issued ? 1U : 0U),
			   "command %u of %u (%u issued) completed %u times", i, n,
			   issued, bt.completions[i]);
	return CONF_PASS;
}

static int bt_run(struct cse_client *c, __u32 n, int want_ret)
{
	int ret = cse_execute_batch(c, bt.xs, n);

	CONF_CHECK(ret == want_ret, "batch of %u returned %d (%s), want %d", n,
		   ret, cse_strerror(ret), want_ret);
	return CONF_PASS;
}

/* Batches of 32 that all fit the free slots: one burst each, no backup. */
static int bt_bursts(struct cse_client *c)
{
	__u32 r;

	for (r = 0; r < BT_ROUNDS; r++) {
		bt_fill(BT_BURST, r);
		CONF_CHECK(bt_run(c, BT_BURST, BT_BURST) == CONF_PASS, "round %u", r);
		CONF_CHECK(bt_wait(BT_BURST, BT_BURST) == CONF_PASS, "round %u", r);
		CONF_CHECK(!bt.bad && !bt.reset, "round %u: %u bad results", r, bt.bad);
		CONF_CHECK(!bt.backups, "round %u: %u commands took the backup path",
			   r, bt.backups);
	}
	conf_log("%u batches of %u: every command once, all in slots", BT_ROUNDS,
		 BT_BURST);
	return CONF_PASS;
}

/*
 * More commands than slots, and a forced backup command in the middle:
 * the burst so far goes out before either, and every command completes.
 */
static int bt_mixed(struct cse_client *c)
{
	bt_fill(BT_MAX, 1000);
	bt.x[10].flags = CSE_EXEC_FORCE_BACKUP;
	CONF_CHECK(bt_run(c, BT_MAX, (int)BT_MAX) == CONF_PASS, "mixed");
	CONF_CHECK(bt_wait(BT_MAX, BT_MAX) == CONF_PASS, "mixed");
	CONF_CHECK(!bt.bad && !bt.reset, "%u bad results", bt.bad);
	CONF_CHECK(bt.x[10].backup == CSE_BACKUP_MSG, "the forced command reports backup %d",
		   bt.x[10].backup);
	conf_log("a batch of %u on 64 slots: %u took the backup path", BT_MAX,
		 bt.backups);
	return CONF_PASS;
}

static int bt_fail_prepare(struct cse_exec *x, void *area)
{
	(void)x;
	(void)area;
	return BT_PREPARE_ERR;
}

/* A batch stops at the first command it cannot issue, and says so. */
static int bt_errors(struct cse_client *c)
{
	bt_fill(8, 2000);
	bt.x[5].completion = NULL;	/* synchronous: not for a batch */
	CONF_CHECK(bt_run(c, 8, 5) == CONF_PASS, "sync in a batch");
	CONF_CHECK(bt.x[5].result == -EINVAL, "its result %d", bt.x[5].result);
	CONF_CHECK(bt_wait(5, 8) == CONF_PASS, "sync in a batch");

	bt_fill(8, 3000);
	bt.x[2].input_prepare = bt_fail_prepare;
	CONF_CHECK(bt_run(c, 8, 2) == CONF_PASS, "failing prepare");
	CONF_CHECK(bt.x[2].result == BT_PREPARE_ERR, "its result %d", bt.x[2].result);
	CONF_CHECK(bt_wait(2, 8) == CONF_PASS, "failing prepare");

	bt_fill(4, 4000);
	bt.x[0].input_prepare = bt_fail_prepare;
	CONF_CHECK(bt_run(c, 4, BT_PREPARE_ERR) == CONF_PASS, "first fails");
	CONF_CHECK(bt_wait(0, 4) == CONF_PASS, "first fails");

	bt_fill(4, 5000);
	bt.xs[1] = NULL;
	CONF_CHECK(bt_run(c, 4, 1) == CONF_PASS, "a NULL command");
	CONF_CHECK(bt_wait(1, 4) == CONF_PASS, "a NULL command");

	bt_fill(4, 6000);
	CONF_CHECK(cse_execute_batch(c, bt.xs, 0) == -EINVAL, "n = 0");
	CONF_CHECK(cse_execute_batch(c, NULL, 4) == -EINVAL, "xs NULL");
	CONF_CHECK(cse_execute_batch(NULL, bt.xs, 4) == -EINVAL, "client NULL");
	CONF_CHECK(cse_execute_batch(c, bt.xs, CSE_MAX_BATCH + 1) == -EINVAL,
		   "n over CSE_MAX_BATCH");
	CONF_CHECK(bt_wait(0, 4) == CONF_PASS, "refused batches");
	return CONF_PASS;
}

/* bt_fill(), every command synchronous. */
static void bt_fill_sync(__u32 n, __u32 seed)
{
	__u32 i;

	bt_fill(n, seed);
	for (i = 0; i < n; i++)
		bt.x[i].completion = NULL;
}

/* The first @n synchronous commands ran, each once, with its own echo. */
static int bt_check_sync(__u32 n, __u32 skip)
{
	__u32 i;

	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		CONF_CHECK(!bt.x[i].result && !bt.x[i].output_status_code &&
			   bt.x[i].output_buffer_len_actual == 4 && bt.out[i] == bt.in[i],
			   "command %u of %u: result %d, %u bytes, %08x for %08x", i, n,
			   bt.x[i].result, (unsigned int)bt.x[i].output_buffer_len_actual, bt.out[i],
			   bt.in[i]);
	}
	CONF_CHECK(!bt.done, "%u completions ran for synchronous commands", bt.done);
	return CONF_PASS;
}

/*
 * Synchronous batches: every command has run, with its own result, when
 * cse_execute_batch() returns, whichever way it went (more than the slots,
 * a forced backup command, a prepare that fails in the middle), and a
 * batch that mixes the two kinds is refused whole.
 */
static int bt_sync(struct cse_client *c, const char *how)
{
	__u32 i;

	bt_fill_sync(BT_MAX, 9000);
	bt.x[10].flags = CSE_EXEC_FORCE_BACKUP;
	CONF_CHECK(bt_run(c, BT_MAX, (int)BT_MAX) == CONF_PASS, "%s: sync", how);
	CONF_CHECK(bt_check_sync(BT_MAX, BT_MAX) == CONF_PASS, "%s: sync", how);
	for (i = 0; i < BT_MAX; i++)
		CONF_CHECK(!bt.x[i].backup == (i != 10), "%s: command %u reports backup %d",
			   how, i, bt.x[i].backup);

	bt_fill_sync(8, 9100);
	bt.x[3].input_prepare = bt_fail_prepare;
	CONF_CHECK(bt_run(c, 8, 8) == CONF_PASS, "%s: failing prepare", how);
	CONF_CHECK(bt.x[3].result == BT_PREPARE_ERR, "%s: its result %d", how,
		   bt.x[3].result);
	CONF_CHECK(bt_check_sync(8, 3) == CONF_PASS, "%s: failing prepare", how);

	bt_fill(4, 9200);
	bt.x[0].completion = NULL;
	bt.x[1].completion = NULL;
	CONF_CHECK(bt_run(c, 4, -EINVAL) == CONF_PASS, "%s: a mixed batch", how);
	CONF_CHECK(bt_wait(0, 4) == CONF_PASS, "%s: a mixed batch", how);
	for (i = 0; i < 4; i++)
		CONF_CHECK(!bt.out[i], "%s: command %u of a refused batch ran", how, i);
	return CONF_PASS;
}

/*
 * CSE_SUBMIT_CALL to a kernel server: a synchronous batch is one call, so
 * its inline commands run on the caller's own thread, every one of them
 * (through the FIFO they would run on the server's worker).
 */
static int bt_sync_call_thread(struct cse_client *c)
{
	struct cse_exec x[8], *xs[8];
	__u64 tid[8];
	__u32 i;
	int ret;

	memset(x, 0, sizeof(x));
	memset(tid, 0, sizeof(tid));
	for (i = 0; i < 8; i++) {
		x[i].input_code = CONF_THREAD;
		x[i].flags = CSE_EXEC_INLINE;
		x[i].output_buffer_base = &tid[i];
		x[i].output_buffer_len = sizeof(tid[i]);
		xs[i] = &x[i];
	}
	/* Twice: the caller's thread is the same for both batches. */
	for (i = 0; i < 2; i++) {
		__u64 first = tid[0];
		__u32 k;

		ret = cse_execute_batch(c, xs, 8);
		CONF_CHECK(ret == 8, "CONF_THREAD batch returned %d", ret);
		for (k = 0; k < 8; k++)
			CONF_CHECK(!x[k].result && tid[k] && tid[k] == tid[0] &&
				   (!i || tid[0] == first),
				   "inline command %u of batch %u ran on %llu, the first on %llu",
				   k, i, (unsigned long long)tid[k],
				   (unsigned long long)tid[0]);
	}
	return CONF_PASS;
}

static int bt_sync_submits(struct conf_env *env)
{
	static const __u32 submits[] = { CSE_SUBMIT_FIFO, CSE_SUBMIT_CTL, CSE_SUBMIT_CALL };
	static const char *const names[] = { "fifo", "ctl", "call" };
	struct cse_client_opts o = { 0 };
	struct cse_client *c;
	unsigned int i;
	int ret;

	for (i = 0; i < 3; i++) {
		o.submit = submits[i];
		ret = conf_connect(env->server_id, &o, &c);
		CONF_CHECK(!ret, "connect (%s): %s", names[i], cse_strerror(ret));
		ret = bt_sync(c, names[i]);
		if (ret == CONF_PASS && submits[i] == CSE_SUBMIT_CALL &&
		    env->sync_backup == CSE_BACKUP_CALL)
			ret = bt_sync_call_thread(c);
		cse_client_deinit(c);
		if (ret != CONF_PASS)
			return ret;
	}
	conf_log("synchronous batches of %u through the FIFO, CTL and CALL: every command ran once",
		 BT_MAX);
	return CONF_PASS;
}

static void bt_notice(struct cse_client *c, void *context)
{
	(void)c;
	(void)context;
	cse_fetch_add(&bt.notices, 1);
}

/*
 * The prepare step of a batch's last command kills the server and waits
 * until the client knows: the commands already in slots but not yet
 * published must complete with -ECONNRESET (the control thread takes the
 * ones it sees, the batch the rest), and nothing after them is issued.
 */
static int bt_die(struct cse_exec *x, void *area)
{
	__u64 deadline = cse_now_ms() + BT_WAIT_MS;

	if (bt.env->kill_server(bt.env, bt.victim))
		return -ESRCH;
	while (!cse_load_acquire(&bt.notices) && cse_now_ms() < deadline)
		cse_sleep_ms(1);
	memcpy(area, x->input_buffer_base, x->input_buffer_len);
	return 0;
}

static int bt_server_death(struct conf_env *env)
{
	struct cse_client_opts o = { .on_peer_death = bt_notice };
	struct cse_client *c;
	int ret;

	bt.env = env;
	bt.victim = env->spare_server_id;
	bt.notices = 0;
	ret = env->spawn_server(env, bt.victim);
	if (ret == -EOPNOTSUPP) {
		conf_log("server death during a batch: not in this world (no server that dies)");
		return CONF_PASS;
	}
	CONF_CHECK(!ret, "spawn: %s", cse_strerror(ret));
	ret = conf_connect(bt.victim, &o, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	bt_fill(12, 7000);
	bt.x[7].input_prepare = bt_die;
	CONF_CHECK(bt_run(c, 12, 8) == CONF_PASS, "server death");
	CONF_CHECK(bt.notices == 1, "%u death notices", bt.notices);
	CONF_CHECK(bt.x[8].result == -ECONNRESET, "the next command's result %d",
		   bt.x[8].result);
	CONF_CHECK(bt_wait(8, 12) == CONF_PASS, "server death");
	CONF_CHECK(bt.reset == 8, "%u of 8 completed with -ECONNRESET", bt.reset);
	conf_log("the server died during a batch: its 8 issued commands completed with -ECONNRESET, the 9th was refused");
	cse_client_deinit(c);
	return CONF_PASS;
}

int scen_batch(struct conf_env *env)
{
	struct cse_client_opts ctl = { .submit = CSE_SUBMIT_CTL };
	struct cse_client *c;
	int ret;

	ret = conf_connect(env->server_id, NULL, &c);
	CONF_CHECK(!ret, "connect: %s", cse_strerror(ret));
	ret = bt_bursts(c);
	if (ret == CONF_PASS)
		ret = bt_mixed(c);
	if (ret == CONF_PASS)
		ret = bt_errors(c);
	cse_client_deinit(c);
	if (ret != CONF_PASS)
		return ret;

	/* CSE_SUBMIT_CTL: no FIFO burst; each command its own message. */
	ret = conf_connect(env->server_id, &ctl, &c);
	CONF_CHECK(!ret, "connect (ctl): %s", cse_strerror(ret));
	bt_fill(BT_BURST, 8000);
	ret = bt_run(c, BT_BURST, BT_BURST);
	if (ret == CONF_PASS)
		ret = bt_wait(BT_BURST, BT_BURST);
	cse_client_deinit(c);
	if (ret != CONF_PASS)
		return ret;
	CONF_CHECK(!bt.bad, "ctl: %u bad results", bt.bad);

	ret = bt_sync_submits(env);
	if (ret != CONF_PASS)
		return ret;
	return bt_server_death(env);
}
