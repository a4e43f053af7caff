/* SPDX-License-Identifier: MIT */
/*
 * Conformance suite: scenarios written once against cse.h and env.h, like
 * any CSE module, and run in every direction (U-U, U-K, K-U, K-K) and on
 * every backend; it compiles unchanged as a kernel module source.  What
 * stays with each world's starter (tests/conformance/uu_main.c,
 * kernel/linux/conformance_main.c) is only what one world cannot do the
 * way the other does: starting and killing peers (processes, or nothing
 * at all in the kernel), and printing KTAP.  That comes through
 * struct conf_env.
 */
#ifndef CSE_CONFORMANCE_H
#define CSE_CONFORMANCE_H

#include <cse/cse.h>
#include <cse/env.h>

/* Input codes of the conformance server. */
#define CONF_ECHO	1U	/* output = input */
#define CONF_ORDER	2U	/* checks prepare markers, writes CONF_MARK_EXEC */
#define CONF_SLEEP	3U	/* input: __u32 milliseconds; output: echo of it */
#define CONF_STATS	4U	/* output: struct conf_stats */
#define CONF_THREAD	5U	/* output: __u64 id of the thread running exec */
#define CONF_FILL	6U	/* output: output_len bytes of conf_pattern() */

/* Status codes the conformance server reports. */
#define CONF_STATUS_OK		0
#define CONF_STATUS_UNKNOWN	1001	/* unknown input_code */
#define CONF_STATUS_BAD_ORDER	1002	/* prepare callbacks did not run first */
#define CONF_STATUS_NO_OPEN	1003	/* exec without a successful open */
#define CONF_STATUS_BAD_INPUT	1004

#define CONF_MARK_IN	0x4e495f43U	/* "C_IN" written by input_prepare */
#define CONF_MARK_OUT	0x54554f43U	/* "COUT" written by output_prepare */
#define CONF_MARK_EXEC	0x43455843U	/* "CXEC" written by exec */

struct conf_stats {
	__u32 opens;
	__u32 closes;
	__u32 execs_started;
	__u32 execs_finished;
	__u32 close_while_running;	/* close_handler ran with an exec in progress */
	__u32 double_close;		/* close_handler ran twice for one connection */
	__u32 exec_after_close;
	__u32 resv;
};

extern const struct cse_server_ops conf_server_ops;
/* The counts of every conformance server of this process (or module). */
void conf_server_stats(struct conf_stats *out);

static inline __u8 conf_pattern(__u32 seed, __u32 i)
{
	return (__u8)(seed * 131U + i * 7U + (i >> 8));
}

/*
 * What a scenario may ask of the world it runs in: the servers to use, and
 * the peers only a world's starter can start and kill.
 */
struct conf_env {
	const char *server_id;		/* conformance server, inline by default */
	const char *worker_server_id;	/* conformance server, worker by default */
	const char *spare_server_id;	/* unused and unique to this run, for spawn_server */
	/* Start a private conformance server as a separate peer that can die. */
	int (*spawn_server)(struct conf_env *env, const char *id);
	/* Kill it abruptly (SIGKILL), without any cleanup of its own. */
	int (*kill_server)(struct conf_env *env, const char *id);
	/*
	 * Start a peer that connects to @server_id with @submit (enum
	 * cse_submit), issues a synchronous CONF_SLEEP of @sleep_ms and is
	 * killed abruptly @kill_after_ms later.
	 */
	int (*spawn_doomed_client)(struct conf_env *env, const char *server_id,
				   __u32 submit, unsigned int sleep_ms,
				   unsigned int kill_after_ms);
	/*
	 * The struct cse_exec.backup a synchronous backup command must report:
	 * CSE_BACKUP_CALL when the servers are in the kernel, else
	 * CSE_BACKUP_MSG.  (Asynchronous ones always report CSE_BACKUP_MSG.)
	 */
	int sync_backup;
	/* Why the scenario returned CONF_SKIP (conf_skip()), for the starter. */
	char skip_reason[128];
	void *priv;
};

/*
 * A diagnostic line of the running case: KTAP's "# ..." in the kernel log,
 * or on stderr, which the user-space starter sends to its KTAP output.
 */
#define conf_log(fmt, ...) cse_log(CSE_LOG_INFO, "# " fmt, ##__VA_ARGS__)

static inline void conf_skip(struct conf_env *env, const char *why)
{
	cse_snprintf(env->skip_reason, sizeof(env->skip_reason), "%s", why);
}

#define CONF_PASS	0
#define CONF_FAIL	1
#define CONF_SKIP	4

struct conf_scenario {
	const char *name;
	int (*run)(struct conf_env *env);
	unsigned int timeout_s;
};

extern const struct conf_scenario conf_scenarios[];

/*
 * @x as a command of @code with 4 bytes each way, *@in to *@out; @done
 * NULL makes it synchronous.  Everything else in @x is cleared.
 */
static inline void conf_exec4(struct cse_exec *x, __u32 code, __u32 *in, __u32 *out,
			      cse_completion_fn done, void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->input_code = code;
	x->input_buffer_base = in;
	x->input_buffer_len = 4;
	x->output_buffer_base = out;
	x->output_buffer_len = 4;
	x->completion = done;
	x->completion_context = ctx;
}

/* Connect, waiting for a server that another peer is still starting. */
int conf_connect(const char *id, const struct cse_client_opts *opts,
		 struct cse_client **c);

/* cse_execute_batch() (batch_scenarios.c). */
int scen_batch(struct conf_env *env);

/* The module environment's own checks (env_scenarios.c), in the table too. */
int env_memory(struct conf_env *env);
int env_mutex(struct conf_env *env);
int env_event(struct conf_env *env);
int env_threads(struct conf_env *env);
int env_pool(struct conf_env *env);
int env_clock_sleep(struct conf_env *env);
int env_format(struct conf_env *env);
extern const unsigned int conf_nscenarios;

/* In a scenario: log where and why @cond failed, then fail the scenario. */
#define CONF_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			conf_log("%s:%d: check failed: %s", __FILE__,	\
				 __LINE__, #cond);			\
			conf_log(__VA_ARGS__);				\
			return CONF_FAIL;				\
		}							\
	} while (0)

#endif /* CSE_CONFORMANCE_H */
