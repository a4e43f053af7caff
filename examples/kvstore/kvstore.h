/* SPDX-License-Identifier: MIT */
/*
 * kvstore: an in-memory key-value store served over CSE, and its protocol.
 * One source builds a user program (kvstore-server) and a kernel module
 * (kvstore.ko); the client (kvstore-client, kvstore_client.ko) likewise.
 * Plain C on <cse/cse.h> and <cse/env.h>: no OS header, no #if.
 *
 * Commands (struct cse_exec.input_code), each answered with a status
 * (output_status_code, enum kv_status):
 *   KV_PUT   input: struct kv_put_hdr, the key, the value.  Adds the key
 *            or replaces its value.
 *   KV_GET   input: the key.  Output: the value.
 *   KV_DEL   input: the key.
 *   KV_LIST  input: a cursor key (empty: from the start).  Output: a page
 *            of the keys after the cursor, in memcmp order (a shorter key
 *            first when one is a prefix of the other): a __u32 count, then
 *            per key one byte of length and the key.  A page holds what fits
 *            the output buffer; an empty page is the end.
 * Keys are 1..KV_KEY_MAX bytes of anything, values 0..KV_VALUE_MAX bytes;
 * the store holds at most KV_CAPACITY keys.  Fields are in the host's byte
 * order: CSE's memory never leaves the machine.
 */
#pragma once

#include <cse/cse.h>
#include <cse/env.h>

#define KV_PUT		1U
#define KV_GET		2U
#define KV_DEL		3U
#define KV_LIST		4U

#define KV_KEY_MAX	64U
#define KV_VALUE_MAX	1024U
#define KV_CAPACITY	12000U

enum kv_status {
	KV_OK = 0,
	KV_NOT_FOUND = 1,	/* no such key */
	KV_TOO_BIG = 2,		/* a key or value over its bound, or no room for the answer */
	KV_FULL = 3,		/* KV_CAPACITY keys held: a new key does not fit */
	KV_UNKNOWN = 4,		/* unknown command */
	KV_BAD_INPUT = 5,	/* malformed: lengths that disagree, an empty key */
};

struct kv_put_hdr {
	__u16 key_len;
	__u16 resv;		/* must be zero */
	__u32 value_len;
};

/* The KV_LIST page header; entries follow it. */
struct kv_list_hdr {
	__u32 count;
};
