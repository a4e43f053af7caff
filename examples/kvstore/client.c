// SPDX-License-Identifier: MIT
/*
 * The kvstore client: the test script and the concurrency test, printed as
 * KTAP (kvclient.h), or the benchmark.  One source for the program and the
 * kernel module:
 *   kvstore-client [SERVER_ID [all|script|mixed|bench=N]]
 *   insmod kvstore_client.ko [server_id=ID] [options=all|script|mixed|bench=N]
 * It runs at start and is done: the program exits, the module stays loaded
 * until rmmod.  The server is "kvstore" by default, and is waited for up to
 * 10 s (it may be starting in the background).
 */
#include <cse/module.h>

#include "kvclient.h"

#define CONNECT_WAIT_MS 10000U

/* "bench=N": N, or 0 when @s is not that. */
static unsigned int bench_iters(const char *s)
{
	unsigned int n = 0;

	if (strncmp(s, "bench=", 6))
		return 0;
	for (s += 6; *s >= '0' && *s <= '9' && n < 100000000U; s++)
		n = n * 10U + (unsigned int)(*s - '0');
	return *s ? 0 : n;
}

static int kv_client_start(const char *server_id, const char *options)
{
	const char *id = server_id ? server_id : "kvstore";
	const char *what = options && options[0] ? options : "all";
	bool script = !strcmp(what, "all") || !strcmp(what, "script");
	bool mixed = !strcmp(what, "all") || !strcmp(what, "mixed");
	unsigned int iters = bench_iters(what);
	struct kv_report r = { 0 };
	struct kv_client kc;
	int ret;

	if (!script && !mixed && !iters) {
		cse_log(CSE_LOG_ERR, "kvstore-client: options are all, script, mixed or "
			"bench=N, not \"%s\"", what);
		return -EINVAL;
	}
	ret = kv_connect(&kc, id, CONNECT_WAIT_MS);
	if (ret) {
		cse_log(CSE_LOG_ERR, "kvstore-client: cannot reach %s: %s", id,
			cse_strerror(ret));
		return ret;
	}
	if (iters) {
		ret = kv_bench(&kc, iters);
		kv_disconnect(&kc);
		if (ret)
			cse_log(CSE_LOG_ERR, "kvstore-client: bench: %s", cse_strerror(ret));
		return ret ? ret : CSE_MODULE_DONE;
	}
	kv_ktap_plan(what, (script ? KV_SCRIPT_CASES : 0) + (mixed ? 1 : 0));
	if (script) {
		/*
		 * One client, one command at a time: run each on the server's
		 * reader, without a hop to its workers (the concurrency test
		 * uses those).
		 */
		kc.flags = CSE_EXEC_INLINE;
		kv_script(&kc, &r);
	}
	kv_disconnect(&kc);
	if (mixed)
		kv_mixed(id, &r);
	cse_log(CSE_LOG_INFO, "# kvstore client: %u of %u cases failed", r.failed, r.n);
	return CSE_MODULE_DONE;
}

static void kv_client_stop(void)
{
	/* Everything ended with the run itself. */
}

CSE_MODULE(kv_client_start, kv_client_stop,
	   "kvstore-client: the kvstore test script and concurrency test (KTAP), or its benchmark");
