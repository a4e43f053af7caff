// SPDX-License-Identifier: MIT
/*
 * The conformance server: handlers that make the runtime's promises
 * observable to a client (callback order, open before exec, close once and
 * only after running execs finish).  cse.h and env.h only.
 */
#include "conformance.h"

/*
 * Contexts are never reused (a late close must still find its own), so
 * this bounds the connections a server accepts in its life: make stress's
 * hostile client is dropped and reconnects over 1,000 times a minute.
 */
#define CONF_MAX_CONNS	16384U
#define CONF_CTX_MAGIC	0x43544f4eU

struct conf_ctx {
	__u32 magic;
	__u32 running;
	__u32 closed;
};

static struct conf_ctx ctxs[CONF_MAX_CONNS];
static __u32 next_ctx;
static struct conf_stats stats;

static void stat_inc(__u32 *field)
{
	cse_fetch_add(field, 1);
}

static int conf_open(struct cse_conn *conn, void **user_context)
{
	__u32 i = cse_fetch_add(&next_ctx, 1);

	(void)conn;
	if (i >= CONF_MAX_CONNS)
		return -ENOMEM;
	ctxs[i].magic = CONF_CTX_MAGIC;
	*user_context = &ctxs[i];
	stat_inc(&stats.opens);
	return 0;
}

static void conf_close(struct cse_conn *conn, void *user_context)
{
	struct conf_ctx *ctx = user_context;

	(void)conn;
	if (cse_xchg(&ctx->closed, 1))
		stat_inc(&stats.double_close);
	if (cse_load(&ctx->running))
		stat_inc(&stats.close_while_running);
	stat_inc(&stats.closes);
}

static void put_u32(void *out, __u32 v)
{
	memcpy(out, &v, sizeof(v));
}

static __u32 get_u32(const void *in)
{
	__u32 v;

	memcpy(&v, in, sizeof(v));
	return v;
}

static int conf_order(const void *in, size_t in_len, void *out,
		      size_t out_len, size_t *actual)
{
	if (in_len < 4 || out_len < 8)
		return CONF_STATUS_BAD_INPUT;
	if (get_u32(in) != CONF_MARK_IN || get_u32(out) != CONF_MARK_OUT)
		return CONF_STATUS_BAD_ORDER;
	put_u32(out, CONF_MARK_EXEC);
	put_u32((char *)out + 4, get_u32(in));
	*actual = 8;
	return CONF_STATUS_OK;
}

void conf_server_stats(struct conf_stats *out)
{
	struct conf_stats s;

	s.opens = cse_load(&stats.opens);
	s.closes = cse_load(&stats.closes);
	s.execs_started = cse_load(&stats.execs_started);
	s.execs_finished = cse_load(&stats.execs_finished);
	s.close_while_running = cse_load(&stats.close_while_running);
	s.double_close = cse_load(&stats.double_close);
	s.exec_after_close = cse_load(&stats.exec_after_close);
	s.resv = 0;
	*out = s;
}

static void conf_stats_out(void *out, size_t out_len, size_t *actual)
{
	struct conf_stats s;

	if (out_len < sizeof(s))
		return;
	conf_server_stats(&s);
	memcpy(out, &s, sizeof(s));
	*actual = sizeof(s);
}

static void conf_exec(struct cse_conn *conn, void *user_context,
		      __u32 input_code, const void *in, size_t in_len,
		      void *out, size_t out_len, size_t *out_len_actual,
		      int *status)
{
	struct conf_ctx *ctx = user_context;
	__u64 tid;
	size_t i;

	(void)conn;
	if (!ctx || ctx->magic != CONF_CTX_MAGIC) {
		*status = CONF_STATUS_NO_OPEN;
		return;
	}
	if (cse_load(&ctx->closed))
		stat_inc(&stats.exec_after_close);
	cse_fetch_add(&ctx->running, 1);
	stat_inc(&stats.execs_started);

	*status = CONF_STATUS_OK;
	switch (input_code) {
	case CONF_ECHO:
		*out_len_actual = in_len < out_len ? in_len : out_len;
		memcpy(out, in, *out_len_actual);
		break;
	case CONF_ORDER:
		*status = conf_order(in, in_len, out, out_len, out_len_actual);
		break;
	case CONF_SLEEP:
		if (in_len < 4 || out_len < 4) {
			*status = CONF_STATUS_BAD_INPUT;
			break;
		}
		cse_sleep_ms(get_u32(in));
		put_u32(out, get_u32(in));
		*out_len_actual = 4;
		break;
	case CONF_STATS:
		conf_stats_out(out, out_len, out_len_actual);
		break;
	case CONF_THREAD:
		if (out_len < sizeof(tid)) {
			*status = CONF_STATUS_BAD_INPUT;
			break;
		}
		tid = cse_thread_id();
		memcpy(out, &tid, sizeof(tid));
		*out_len_actual = sizeof(tid);
		break;
	case CONF_FILL:
		for (i = 0; i < out_len; i++)
			((__u8 *)out)[i] = conf_pattern(input_code, (__u32)i);
		*out_len_actual = out_len;
		break;
	default:
		*status = CONF_STATUS_UNKNOWN;
		break;
	}
	stat_inc(&stats.execs_finished);
	cse_fetch_add(&ctx->running, (__u32)-1);
}

const struct cse_server_ops conf_server_ops = {
	.open_handler = conf_open,
	.exec_handler = conf_exec,
	.close_handler = conf_close,
};
