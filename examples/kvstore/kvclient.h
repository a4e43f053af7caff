/* SPDX-License-Identifier: MIT */
/*
 * The client side of the kvstore protocol, and what the client's tests
 * share.  Each request returns 0 with the server's status in *@status, or
 * the runtime's -errno (no status then).
 */
#pragma once

#include "kvstore.h"

/* The largest input a request builds: an oversized value, by the backup path. */
#define KV_REQ_MAX (sizeof(struct kv_put_hdr) + KV_KEY_MAX + 65536U)

struct kv_client {
	struct cse_client *c;
	__u32 flags;		/* each command's CSE_EXEC_* (0: the server's default) */
	__u8 *req;		/* KV_REQ_MAX bytes: a PUT's header, key and value */
};

/* Connect to @server_id, waiting up to @wait_ms for it to appear. */
int kv_connect(struct kv_client *kc, const char *server_id, unsigned int wait_ms);
void kv_disconnect(struct kv_client *kc);

int kv_put(struct kv_client *kc, const void *key, size_t key_len,
	   const void *value, size_t value_len, int *status);
int kv_get(struct kv_client *kc, const void *key, size_t key_len,
	   void *value, size_t cap, size_t *len, int *status);
int kv_del(struct kv_client *kc, const void *key, size_t key_len, int *status);
int kv_list(struct kv_client *kc, const void *cursor, size_t cursor_len,
	    void *page, size_t cap, size_t *len, int *status);
/* Any command with any input: for the malformed ones. */
int kv_raw(struct kv_client *kc, __u32 code, const void *in, size_t in_len,
	   void *out, size_t cap, size_t *len, int *status);

/* "OK", "NOT_FOUND", ... for a transcript. */
const char *kv_status_name(int status);

/* KTAP, through the module log: the same lines in both worlds. */
#define kv_diag(fmt, ...) cse_log(CSE_LOG_INFO, "# " fmt, ##__VA_ARGS__)

struct kv_report {
	unsigned int n;
	unsigned int failed;
};

void kv_ktap_plan(const char *what, unsigned int planned);
/* One case's result line; returns @ok. */
bool kv_ktap_result(struct kv_report *r, bool ok, const char *name);

/* The test parts (script.c, mixed.c, bench.c). */
#define KV_SCRIPT_CASES 14
void kv_script(struct kv_client *kc, struct kv_report *r);
void kv_mixed(const char *server_id, struct kv_report *r);
int kv_bench(struct kv_client *kc, unsigned int iters);
