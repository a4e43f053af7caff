/* SPDX-License-Identifier: MIT */
/*
 * The store: keys kept sorted (so KV_LIST pages through them in order),
 * one mutex around each operation, so any number of threads may call in.
 * Every function returns an enum kv_status.  The caller has checked the
 * bounds of kvstore.h (lengths within KV_KEY_MAX, KV_VALUE_MAX), and
 * hands keys in its own memory: only a value may still be in memory a
 * peer can write, and is copied once.
 */
#pragma once

#include "kvstore.h"

struct kv_store;

int kv_store_create(struct kv_store **out, unsigned int capacity);
void kv_store_destroy(struct kv_store *s);
int kv_store_put(struct kv_store *s, const __u8 *key, size_t key_len,
		 const void *value, size_t value_len);
/* Copy the value to @out if it fits @cap (else KV_TOO_BIG); its length to *@len. */
int kv_store_get(struct kv_store *s, const __u8 *key, size_t key_len,
		 void *out, size_t cap, size_t *len);
int kv_store_del(struct kv_store *s, const __u8 *key, size_t key_len);
/* A KV_LIST page of the keys after @cursor into @out (@cap bytes). */
int kv_store_list(struct kv_store *s, const __u8 *cursor, size_t cursor_len,
		  void *out, size_t cap, size_t *len);
