// SPDX-License-Identifier: MIT
/* The kvstore requests over cse_execute(), and the client's KTAP lines. */
#include "kvclient.h"

int kv_connect(struct kv_client *kc, const char *server_id, unsigned int wait_ms)
{
	__u64 deadline = cse_now_ms() + wait_ms;
	int ret;

	kc->flags = 0;
	kc->req = cse_alloc(KV_REQ_MAX);
	if (!kc->req)
		return -ENOMEM;
	/* The server may still be starting (a process, a module being loaded). */
	while ((ret = cse_client_init(&kc->c, server_id, NULL)) == -ENOENT &&
	       cse_now_ms() < deadline)
		cse_sleep_ms(10);
	if (ret) {
		cse_free(kc->req);
		kc->req = NULL;
	}
	return ret;
}

void kv_disconnect(struct kv_client *kc)
{
	cse_client_deinit(kc->c);
	cse_free(kc->req);
	kc->req = NULL;
}

int kv_raw(struct kv_client *kc, __u32 code, const void *in, size_t in_len,
	   void *out, size_t cap, size_t *len, int *status)
{
	struct cse_exec x = {
		.input_code = code,
		.flags = kc->flags,
		.input_buffer_base = in,
		.input_buffer_len = in_len,
		.output_buffer_base = out,
		.output_buffer_len = cap,
	};			/* no completion: synchronous */
	int ret = cse_execute(kc->c, &x);

	if (ret)
		return ret;
	if (len)
		*len = x.output_buffer_len_actual;
	*status = x.output_status_code;
	return 0;
}

int kv_put(struct kv_client *kc, const void *key, size_t key_len,
	   const void *value, size_t value_len, int *status)
{
	struct kv_put_hdr h = {
		.key_len = (__u16)key_len,
		.value_len = (__u32)value_len,
	};

	/*
	 * The client's own bounds are the buffer's, not the protocol's: the
	 * tests send oversized keys and values on purpose.
	 */
	if (key_len > 0xffffU || sizeof(h) + key_len + value_len > KV_REQ_MAX)
		return -EMSGSIZE;
	memcpy(kc->req, &h, sizeof(h));
	memcpy(kc->req + sizeof(h), key, key_len);
	memcpy(kc->req + sizeof(h) + key_len, value, value_len);
	return kv_raw(kc, KV_PUT, kc->req, sizeof(h) + key_len + value_len, NULL, 0,
		      NULL, status);
}

int kv_get(struct kv_client *kc, const void *key, size_t key_len,
	   void *value, size_t cap, size_t *len, int *status)
{
	return kv_raw(kc, KV_GET, key, key_len, value, cap, len, status);
}

int kv_del(struct kv_client *kc, const void *key, size_t key_len, int *status)
{
	return kv_raw(kc, KV_DEL, key, key_len, NULL, 0, NULL, status);
}

int kv_list(struct kv_client *kc, const void *cursor, size_t cursor_len,
	    void *page, size_t cap, size_t *len, int *status)
{
	return kv_raw(kc, KV_LIST, cursor, cursor_len, page, cap, len, status);
}

const char *kv_status_name(int status)
{
	static const char *const names[] = {
		[KV_OK] = "OK",
		[KV_NOT_FOUND] = "NOT_FOUND",
		[KV_TOO_BIG] = "TOO_BIG",
		[KV_FULL] = "FULL",
		[KV_UNKNOWN] = "UNKNOWN",
		[KV_BAD_INPUT] = "BAD_INPUT",
	};

	if (status < 0 || status >= (int)CSE_ARRAY_SIZE(names))
		return "?";
	return names[status];
}

void kv_ktap_plan(const char *what, unsigned int planned)
{
	cse_log(CSE_LOG_INFO, "KTAP version 1");
	cse_log(CSE_LOG_INFO, "# kvstore client: %s", what);
	cse_log(CSE_LOG_INFO, "1..%u", planned);
}

bool kv_ktap_result(struct kv_report *r, bool ok, const char *name)
{
	r->n++;
	if (!ok)
		r->failed++;
	cse_log(CSE_LOG_INFO, "%s %u %s", ok ? "ok" : "not ok", r->n, name);
	return ok;
}
