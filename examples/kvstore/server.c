// SPDX-License-Identifier: MIT
/*
 * The kvstore server: CSE handlers over the store, and the module's entry
 * point.  kvstore-server [SERVER_ID] in user space, insmod kvstore.ko
 * [server_id=ID] in the kernel; "kvstore" by default.
 *
 * Its input is hostile: it lives in memory the client can still write (a
 * slot), and the client may be any process.  So each field is read once
 * into a local and checked before use, lengths are checked against the
 * bounds before any sum is formed (so nothing overflows), and keys are
 * copied out before the store compares them.
 */
#include <cse/module.h>

#include "store.h"

#define KV_WORKERS 4

static struct {
	struct cse_server *server;
	struct kv_store *store;
} kv;

/* The key of a GET, DEL or LIST input, copied out of the client's memory. */
static int take_key(const void *in, size_t in_len, __u8 *key, bool may_be_empty)
{
	if (in_len > KV_KEY_MAX)
		return KV_TOO_BIG;
	if (!in_len && !may_be_empty)
		return KV_BAD_INPUT;
	memcpy(key, in, in_len);
	return KV_OK;
}

static int kv_put(const __u8 *in, size_t in_len)
{
	struct kv_put_hdr h;
	__u8 key[KV_KEY_MAX];

	if (in_len < sizeof(h))
		return KV_BAD_INPUT;
	memcpy(&h, in, sizeof(h));		/* read once */
	if (!h.key_len || h.resv)
		return KV_BAD_INPUT;
	if (h.key_len > KV_KEY_MAX || h.value_len > KV_VALUE_MAX)
		return KV_TOO_BIG;
	/* Both bounded above: the sum cannot overflow. */
	if (in_len != sizeof(h) + h.key_len + h.value_len)
		return KV_BAD_INPUT;
	memcpy(key, in + sizeof(h), h.key_len);
	return kv_store_put(kv.store, key, h.key_len, in + sizeof(h) + h.key_len,
			    h.value_len);
}

static void kv_exec(struct cse_conn *conn, void *user_context, __u32 input_code,
		    const void *in, size_t in_len, void *out, size_t out_len,
		    size_t *out_len_actual, int *status)
{
	__u8 key[KV_KEY_MAX];
	int st;

	(void)conn;
	(void)user_context;
	*out_len_actual = 0;
	switch (input_code) {
	case KV_PUT:
		st = kv_put(in, in_len);
		break;
	case KV_GET:
		st = take_key(in, in_len, key, false);
		if (st == KV_OK)
			st = kv_store_get(kv.store, key, in_len, out, out_len, out_len_actual);
		break;
	case KV_DEL:
		st = take_key(in, in_len, key, false);
		if (st == KV_OK)
			st = kv_store_del(kv.store, key, in_len);
		break;
	case KV_LIST:
		st = take_key(in, in_len, key, true);
		if (st == KV_OK)
			st = kv_store_list(kv.store, key, in_len, out, out_len, out_len_actual);
		break;
	default:
		st = KV_UNKNOWN;
		break;
	}
	*status = st;
}

static const struct cse_server_ops kv_ops = {
	.exec_handler = kv_exec,
};

static int kv_start(const char *server_id, const char *options)
{
	/* Commands run on the worker pool: several clients at once. */
	struct cse_server_opts opts = {
		.default_exec = CSE_EXEC_WORKER,
		.nworkers = KV_WORKERS,
	};
	const char *id = server_id ? server_id : "kvstore";
	int ret;

	if (options && options[0]) {
		cse_log(CSE_LOG_ERR, "kvstore: no options are known (got \"%s\")", options);
		return -EINVAL;
	}
	ret = kv_store_create(&kv.store, KV_CAPACITY);
	if (ret)
		return ret;
	ret = cse_server_init();
	if (ret)
		goto err_store;
	ret = cse_server_create(&kv.server, id, &kv_ops, &opts);
	if (ret)
		goto err_init;
	cse_log(CSE_LOG_INFO, "kvstore: serving %s (%u keys of up to %u bytes, values up to %u)",
		id, KV_CAPACITY, KV_KEY_MAX, KV_VALUE_MAX);
	return 0;
err_init:
	cse_server_deinit();
err_store:
	kv_store_destroy(kv.store);
	cse_log(CSE_LOG_ERR, "kvstore: cannot serve %s: %s", id, cse_strerror(ret));
	return ret;
}

static void kv_stop(void)
{
	/* Returns once no handler runs: only then may the store go. */
	cse_server_destroy(kv.server);
	cse_server_deinit();
	kv_store_destroy(kv.store);
	cse_log(CSE_LOG_INFO, "kvstore: stopped");
}

CSE_MODULE(kv_start, kv_stop, "kvstore: an in-memory key-value store served over CSE");
