// SPDX-License-Identifier: MIT
/*
 * cse_conformance.ko: the kernel's starter of the conformance scenarios
 * (tests/conformance, written once against cse.h and env.h, compiled
 * unchanged), and the kernel-only runs that reuse its servers.  Loading it starts two kernel
 * conformance servers ("kconf-inline", "kconf-worker"), which serve until
 * the module is removed (U-K: user clients reach them through /dev/cse),
 * and then, printing KTAP to the kernel log:
 *   - unless run_kk=0, runs every scenario as a kernel client against them
 *     (K-K);
 *   - with ku_inline=ID ku_worker=ID, runs every scenario as a kernel
 *     client against those user-space conformance servers (K-U), which the
 *     caller started (cse-conf-helper server ID [--worker]).  With
 *     helper=PATH (cse-conf-helper), server_death starts its own user
 *     server through the usermode helper API and kills it with SIGKILL.
 * A kernel client cannot be killed abruptly, so client_death reports SKIP
 * with the reason, as does server_death against kernel servers.
 *
 * hostile_server=ID hostile_rounds=N: K-U against a user server that
 * abuses its kernel clients (tests/unit/test_ku_hostile_server.c, started
 * by the caller with the same N): per kind of abuse, N connections, each
 * with asynchronous and synchronous commands that must all complete exactly
 * once, with an error, in bounded time.  One KTAP case per kind.
 *
 * bench_server=ID bench_iters=N (make bench): time N synchronous 64-byte
 * echo round trips from a kernel client to the (user) conformance server
 * ID and print one JSON record, prefixed "cse_bench: ", to the kernel log.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/mm.h>		/* kvmalloc_array(), kvfree(): in slab.h only since 5.16 */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/umh.h>

#include "conformance.h"

static struct cse_server *inl, *wrk;

static bool run_kk = true;
module_param(run_kk, bool, 0444);
MODULE_PARM_DESC(run_kk, "run the scenarios as a kernel client at load (default: yes)");
static char *ku_inline, *ku_worker, *helper;
module_param(ku_inline, charp, 0444);
MODULE_PARM_DESC(ku_inline, "K-U: server_id of a user conformance server (inline)");
module_param(ku_worker, charp, 0444);
MODULE_PARM_DESC(ku_worker, "K-U: server_id of a user conformance server (worker)");
module_param(helper, charp, 0444);
MODULE_PARM_DESC(helper, "K-U: path of cse-conf-helper, to start servers that die");
static char *hostile_server;
static unsigned int hostile_rounds = 3;
module_param(hostile_server, charp, 0444);
MODULE_PARM_DESC(hostile_server, "K-U: server_id of test-ku-hostile-server");
module_param(hostile_rounds, uint, 0444);
MODULE_PARM_DESC(hostile_rounds, "connections per kind of abuse (default 3)");
static char *bench_server;
static unsigned int bench_iters = 20000;
module_param(bench_server, charp, 0444);
MODULE_PARM_DESC(bench_server, "time sync 64 B echoes to this conformance server");
module_param(bench_iters, uint, 0444);
MODULE_PARM_DESC(bench_iters, "round trips bench_server times (default 20000)");

static int k_no_peer(struct conf_env *env, const char *id)
{
	(void)env;
	(void)id;
	return -EOPNOTSUPP;	/* a kernel server cannot be killed abruptly */
}

static int k_no_doomed_client(struct conf_env *env, const char *id, __u32 submit,
			      unsigned int sleep_ms, unsigned int kill_after_ms)
{
	(void)env;
	(void)id;
	(void)submit;
	(void)sleep_ms;
	(void)kill_after_ms;
	return -EOPNOTSUPP;
}

/*
 * K-U's servers that die: cse-conf-helper started through the usermode
 * helper API.  Its init hook runs in the new process before exec, which is
 * where we learn its pid to kill it later.
 */
static struct pid *ku_spare_pid;

static int ku_umh_init(struct subprocess_info *info, struct cred *new)
{
	(void)new;
	*(struct pid **)info->data = get_pid(task_pid(current));
	return 0;
}

static int ku_spawn_server(struct conf_env *env, const char *id)
{
	char *argv[] = { helper, "server", (char *)id, NULL };
	static char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct subprocess_info *info;

	(void)env;
	if (!helper)
		return -EOPNOTSUPP;
	if (ku_spare_pid)
		return -EBUSY;
	info = call_usermodehelper_setup(helper, argv, envp, GFP_KERNEL, ku_umh_init,
					 NULL, &ku_spare_pid);
	if (!info)
		return -ENOMEM;
	return call_usermodehelper_exec(info, UMH_WAIT_EXEC);
}

static int ku_kill_server(struct conf_env *env, const char *id)
{
	int ret;

	(void)env;
	(void)id;
	if (!ku_spare_pid)
		return -ENOENT;
	ret = kill_pid(ku_spare_pid, SIGKILL, 1);
	put_pid(ku_spare_pid);
	ku_spare_pid = NULL;
	return ret;
}

/* Same order as test_ku_hostile_server.c's enum kind. */
static const char *const hostile_kinds[] = {
	"silent", "garbage", "scribble", "fifo", "tcp",
};
#define HOSTILE_ASYNC 4

static void hostile_completion(struct cse_exec *x, void *ctx)
{
	atomic_inc(ctx);
	(void)x;
}

/* One connection to the hostile server; 0 if it behaved as required. */
static int hostile_round(const char *id, const char *kind)
{
	struct cse_exec ax[HOSTILE_ASYNC], x;
	atomic_t done[HOSTILE_ASYNC];
	u8 in[64], out[HOSTILE_ASYNC + 1][64];
	struct cse_client *c;
	u64 deadline;
	int i, ret, issued = 0;

	memset(in, 0x33, sizeof(in));
	deadline = cse_now_ms() + 10000;
	while ((ret = cse_client_init(&c, id, NULL)) == -ENOENT && cse_now_ms() < deadline)
		msleep(10);
	if (ret)	/* refused at the handshake: the right outcome too */
		return ret == -ENOENT || ret == -ETIMEDOUT ? ret : 0;
	for (i = 0; i < HOSTILE_ASYNC; i++) {
		memset(&ax[i], 0, sizeof(ax[i]));
		atomic_set(&done[i], 0);
		ax[i].input_code = CONF_ECHO;
		ax[i].input_buffer_base = in;
		ax[i].input_buffer_len = sizeof(in);
		ax[i].output_buffer_base = out[i];
		ax[i].output_buffer_len = sizeof(out[i]);
		ax[i].flags = i == 3 ? CSE_EXEC_FORCE_BACKUP : 0;
		ax[i].completion = hostile_completion;
		ax[i].completion_context = &done[i];
		if (!cse_execute(c, &ax[i]))
			issued |= 1 << i;
	}
	memset(&x, 0, sizeof(x));
	x.input_code = CONF_ECHO;
	x.input_buffer_base = in;
	x.input_buffer_len = sizeof(in);
	x.output_buffer_base = out[HOSTILE_ASYNC];
	x.output_buffer_len = sizeof(out[HOSTILE_ASYNC]);
	ret = cse_execute(c, &x);
	if (!ret && !x.result) {
		pr_info("# %s: a command succeeded against a server that serves none\n", kind);
		ret = -EPROTO;
	} else {
		ret = 0;
	}
	deadline = cse_now_ms() + 10000;
	for (i = 0; i < HOSTILE_ASYNC; i++) {
		int want = issued & (1 << i) ? 1 : 0;

		while (atomic_read(&done[i]) < want && cse_now_ms() < deadline)
			msleep(5);
		if (atomic_read(&done[i]) != want) {
			pr_info("# %s: command %d completed %d times\n", kind, i,
				atomic_read(&done[i]));
			ret = -EPROTO;
		} else if (want && !ax[i].result) {
			pr_info("# %s: command %d succeeded\n", kind, i);
			ret = -EPROTO;
		}
	}
	cse_client_deinit(c);
	for (i = 0; i < HOSTILE_ASYNC; i++) {
		if (atomic_read(&done[i]) > 1) {
			pr_info("# %s: command %d completed again\n", kind, i);
			ret = -EPROTO;
		}
	}
	return ret;
}

static void run_hostile(const char *id, unsigned int rounds)
{
	unsigned int k, r;
	int ret;

	pr_info("KTAP version 1\n");
	pr_info("# cse_conformance: K-U hostile server\n");
	pr_info("1..%zu\n", ARRAY_SIZE(hostile_kinds));
	/* Every round runs even after a failure: the server counts them too. */
	for (k = 0; k < ARRAY_SIZE(hostile_kinds); k++) {
		for (ret = 0, r = 0; r < rounds; r++) {
			int rr = hostile_round(id, hostile_kinds[k]);

			if (rr && !ret) {
				pr_info("# %s round %u: %s\n", hostile_kinds[k], r,
					cse_strerror(rr));
				ret = rr;
			}
		}
		pr_info("%s %u %s\n", ret ? "not ok" : "ok", k + 1, hostile_kinds[k]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* The same record bench/bench_uk.c prints, so ratios line up. */
static void bench_sync(const char *id, unsigned int n)
{
	struct cse_exec x;
	u8 in[64], out[64];
	struct cse_client *c;
	u64 *lat, t0, total = 0;
	unsigned int i;
	int ret = -ENOMEM;

	lat = kvmalloc_array(n, sizeof(*lat), GFP_KERNEL);
	if (!lat || !n)
		goto out;
	memset(in, 0x5a, sizeof(in));
	/* The user server was started just before us: give it time to listen. */
	t0 = cse_now_ms() + 10000;
	while ((ret = cse_client_init(&c, id, NULL)) == -ENOENT && cse_now_ms() < t0)
		msleep(10);
	if (ret)
		goto out;
	for (i = 0; i < n && !ret; i++) {
		memset(&x, 0, sizeof(x));
		x.input_code = CONF_ECHO;
		x.input_buffer_base = in;
		x.input_buffer_len = sizeof(in);
		x.output_buffer_base = out;
		x.output_buffer_len = sizeof(out);
		t0 = ktime_get_ns();
		ret = cse_execute(c, &x) ?: x.result;
		lat[i] = ktime_get_ns() - t0;
		total += lat[i];
	}
	cse_client_deinit(c);
	if (ret)
		goto out;
	sort(lat, n, sizeof(*lat), cmp_u64, NULL);
	pr_info("cse_bench: {\"case\":\"ku_sync_rtt\",\"mechanism\":\"cse_ku_spin\","
		"\"payload\":64,\"inflight\":1,\"p50_ns\":%llu,\"p99_ns\":%llu,"
		"\"ops_per_s\":%llu}\n", lat[n / 2], lat[(u64)n * 99 / 100],
		total ? div64_u64((u64)n * NSEC_PER_SEC, total) : 0);
out:
	if (ret)
		pr_err("cse_bench: %s: %s\n", id, cse_strerror(ret));
	kvfree(lat);
}

/* One KTAP stream per direction; the comment line names it. */
static void run_scenarios(const char *direction, struct conf_env *env)
{
	unsigned int i;
	int ret;

	pr_info("KTAP version 1\n");
	pr_info("# cse_conformance: %s\n", direction);
	pr_info("1..%u\n", conf_nscenarios);
	for (i = 0; i < conf_nscenarios; i++) {
		const struct conf_scenario *s = &conf_scenarios[i];

		env->skip_reason[0] = '\0';
		ret = s->run(env);
		if (ret == CONF_PASS)
			pr_info("ok %u %s\n", i + 1, s->name);
		else if (ret == CONF_SKIP)
			pr_info("ok %u %s # SKIP %s\n", i + 1, s->name, env->skip_reason);
		else
			pr_info("not ok %u %s\n", i + 1, s->name);
	}
}

static int __init conformance_init(void)
{
	struct cse_server_opts wopts = { .default_exec = CSE_EXEC_WORKER, .nworkers = 3 };
	struct cse_server_opts iopts = { .default_exec = CSE_EXEC_INLINE, .nworkers = 3 };
	struct conf_env env = {
		.server_id = "kconf-inline",
		.worker_server_id = "kconf-worker",
		.spare_server_id = "kconf-spare",
		.spawn_server = k_no_peer,
		.kill_server = k_no_peer,
		.spawn_doomed_client = k_no_doomed_client,
		.sync_backup = CSE_BACKUP_CALL,	/* K-K: a direct call */
	};
	int ret;

	ret = cse_server_init();
	if (!ret)
		ret = cse_server_create(&inl, env.server_id, &conf_server_ops, &iopts);
	if (!ret)
		ret = cse_server_create(&wrk, env.worker_server_id, &conf_server_ops, &wopts);
	if (ret) {
		pr_err("cse_conformance: cannot start servers: %s\n", cse_strerror(ret));
		goto err;
	}
	if (run_kk)
		run_scenarios("K-K", &env);
	if (ku_inline && ku_worker) {
		env.server_id = ku_inline;
		env.worker_server_id = ku_worker;
		env.spare_server_id = "uconf-spare-from-kernel";
		env.spawn_server = ku_spawn_server;
		env.kill_server = ku_kill_server;
		env.sync_backup = CSE_BACKUP_MSG;	/* over loopback TCP */
		run_scenarios("K-U", &env);
		ku_kill_server(&env, NULL);	/* a server_death that failed early */
	}
	if (hostile_server)
		run_hostile(hostile_server, hostile_rounds);
	if (bench_server)
		bench_sync(bench_server, bench_iters);
	return 0;
err:
	cse_server_destroy(wrk);
	cse_server_destroy(inl);
	cse_server_deinit();
	return ret;
}

static void __exit conformance_exit(void)
{
	cse_server_destroy(wrk);
	cse_server_destroy(inl);
	cse_server_deinit();
}

module_init(conformance_init);
module_exit(conformance_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("CSE conformance scenarios, run in the kernel (K-K, K-U)");
