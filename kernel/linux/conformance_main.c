// SPDX-License-Identifier: MIT
/*
 * cse_conformance.ko: the conformance scenarios from tests/conformance,
 * compiled unchanged, run in the kernel.  Loading it starts two kernel
 * conformance servers ("kconf-inline", "kconf-worker"), which serve until
 * the module is removed (U-K: user clients reach them through /dev/cse),
 * and, unless run_kk=0, runs every scenario as a kernel client against
 * them (K-K), printing KTAP to the kernel log.  Scenarios that need a peer
 * that can be killed abruptly report SKIP with the reason.
 */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "compat.h"
#include "conformance.h"

static char skip_reason[128];
static struct cse_server *inl, *wrk;

static bool run_kk = true;
module_param(run_kk, bool, 0444);
MODULE_PARM_DESC(run_kk, "run the scenarios as a kernel client at load (default: yes)");

static void k_sleep_ms(unsigned int ms)
{
	msleep(ms);
}

static __u64 k_now_ms(void)
{
	return ktime_get_ns() / NSEC_PER_MSEC;
}

static __u64 k_thread_id(void)
{
	return (__u64)(unsigned long)current;
}

static const struct conf_host k_host = {
	.sleep_ms = k_sleep_ms,
	.thread_id = k_thread_id,
};

static int k_no_peer(struct conf_env *env, const char *id)
{
	(void)env;
	(void)id;
	return -EOPNOTSUPP;	/* a kernel server cannot be killed abruptly */
}

static int k_no_doomed_client(struct conf_env *env, const char *id,
			      unsigned int sleep_ms, unsigned int kill_after_ms)
{
	(void)env;
	(void)id;
	(void)sleep_ms;
	(void)kill_after_ms;
	return -EOPNOTSUPP;
}

struct k_thread {
	void (*fn)(void *arg, int i);
	void *arg;
	int i;
	struct completion done;
};

static int k_thread_main(void *data)
{
	struct k_thread *t = data;

	t->fn(t->arg, t->i);
	cse_kthread_complete_and_exit(&t->done, 0);
}

static int k_run_threads(int n, void (*fn)(void *arg, int i), void *arg)
{
	struct k_thread *t = kcalloc(n, sizeof(*t), GFP_KERNEL);
	struct task_struct *task;
	int i, started, ret = 0;

	if (!t)
		return -ENOMEM;
	for (started = 0; started < n; started++) {
		t[started].fn = fn;
		t[started].arg = arg;
		t[started].i = started;
		init_completion(&t[started].done);
		task = kthread_run(k_thread_main, &t[started], "cse-conf-%d", started);
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			break;
		}
	}
	for (i = 0; i < started; i++)
		wait_for_completion(&t[i].done);
	kfree(t);
	return ret;
}

static void k_log(const char *fmt, ...)
{
	struct va_format vaf;
	va_list ap;

	va_start(ap, fmt);
	vaf.fmt = fmt;
	vaf.va = &ap;
	pr_info("# %pV\n", &vaf);
	va_end(ap);
}

static void k_skip(const char *why)
{
	strscpy(skip_reason, why, sizeof(skip_reason));
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
		.run_threads = k_run_threads,
		.sleep_ms = k_sleep_ms,
		.now_ms = k_now_ms,
		.log = k_log,
		.skip = k_skip,
	};
	unsigned int i;
	int ret;

	conf_server_setup(&k_host);
	ret = cse_server_init();
	if (!ret)
		ret = cse_server_create(&inl, env.server_id, &conf_server_ops, &iopts);
	if (!ret)
		ret = cse_server_create(&wrk, env.worker_server_id, &conf_server_ops, &wopts);
	if (ret) {
		pr_err("cse_conformance: cannot start servers: %s\n", cse_strerror(ret));
		goto err;
	}
	if (!run_kk)
		return 0;

	pr_info("KTAP version 1\n");
	pr_info("1..%u\n", conf_nscenarios);
	for (i = 0; i < conf_nscenarios; i++) {
		const struct conf_scenario *s = &conf_scenarios[i];

		skip_reason[0] = '\0';
		ret = s->run(&env);
		if (ret == CONF_PASS)
			pr_info("ok %u %s\n", i + 1, s->name);
		else if (ret == CONF_SKIP)
			pr_info("ok %u %s # SKIP %s\n", i + 1, s->name, skip_reason);
		else
			pr_info("not ok %u %s\n", i + 1, s->name);
	}
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
MODULE_DESCRIPTION("CSE conformance scenarios, run in the kernel (K-K)");
