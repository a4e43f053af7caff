// SPDX-License-Identifier: MIT
/*
 * Several clients at once: MIX_CLIENTS threads, each with its own
 * connection, issue MIX_COMMANDS mixed commands each (put, get, delete,
 * list, and puts to one key they all share), while the server runs them
 * on its worker pool.  Each client owns its keys, so it knows what every
 * answer must be and checks it; the shared key must end with one client's
 * last value.  At the end the whole store must be exactly what the clients
 * left.  Every count printed is the same in every run: each client's
 * commands come from its own seeded generator.
 */
#include "kvclient.h"

#define MIX_CLIENTS	8U
#define MIX_COMMANDS	1000U
#define MIX_KEYS	64U
#define MIX_PAGE	2048U
#define MIX_KEY_BUF	24U

struct mixer {
	const char *server_id;
	unsigned int t;
	__u32 rng;
	int version[MIX_KEYS];		/* 0: absent; else its value's version */
	unsigned int puts, gets, dels, shared_puts, lists;
	unsigned int wrong, errors;
	int first_error;
	char last_shared[MIX_KEY_BUF];
	char key[MIX_KEY_BUF];
	__u8 value[64], got[KV_VALUE_MAX];
	__u8 page[MIX_PAGE];
	struct kv_client kc;
};

static __u32 next_rand(__u32 *x)
{
	/* xorshift32: the same sequence in both worlds. */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static size_t mix_key(char *buf, unsigned int t, unsigned int k)
{
	return (size_t)cse_snprintf(buf, MIX_KEY_BUF, "m%u-%02u", t, k);
}

static size_t mix_value(__u8 *buf, unsigned int t, unsigned int k, int version)
{
	size_t n = (t * 7U + k + (unsigned int)version) % 48U + 1U, j;

	for (j = 0; j < n; j++)
		buf[j] = (__u8)(t * 13U + k * 5U + (unsigned int)version * 3U + j);
	return n;
}

static void mix_error(struct mixer *m, int ret)
{
	if (!m->errors++)
		m->first_error = ret;
}

/* A page from the cursor "m<t>-": this client's keys must be its model's. */
static void mix_list(struct mixer *m)
{
	char prefix[MIX_KEY_BUF];
	size_t plen = (size_t)cse_snprintf(prefix, sizeof(prefix), "m%u-", m->t);
	size_t len, off, klen;
	unsigned int i, k = 0, count;
	int ret, status;

	ret = kv_list(&m->kc, prefix, plen, m->page, MIX_PAGE, &len, &status);
	if (ret) {
		mix_error(m, ret);
		return;
	}
	m->lists++;
	if (status != KV_OK || len < sizeof(struct kv_list_hdr)) {
		m->wrong++;
		return;
	}
	memcpy(&count, m->page, sizeof(__u32));
	off = sizeof(struct kv_list_hdr);
	for (i = 0; i < count && off < len; i++, off += 1 + klen) {
		klen = m->page[off];
		if (off + 1 + klen > len || klen < plen ||
		    memcmp(m->page + off + 1, prefix, plen))
			break;		/* past this client's keys */
		while (k < MIX_KEYS && !m->version[k])
			k++;
		if (k == MIX_KEYS || klen != mix_key(m->key, m->t, k) ||
		    memcmp(m->page + off + 1, m->key, klen)) {
			m->wrong++;
			return;
		}
		k++;
	}
	while (k < MIX_KEYS && !m->version[k])
		k++;
	if (k != MIX_KEYS)
		m->wrong++;	/* a key of ours is missing */
}

static void mix_one(struct mixer *m, unsigned int i)
{
	__u32 r = next_rand(&m->rng);
	unsigned int k = (r >> 8) % MIX_KEYS, op = r % 100U;
	size_t klen = mix_key(m->key, m->t, k), vlen, len;
	int ret, status = -1;

	if (op < 40) {
		int v = (int)i + 1;

		vlen = mix_value(m->value, m->t, k, v);
		ret = kv_put(&m->kc, m->key, klen, m->value, vlen, &status);
		m->puts++;
		if (!ret && status == KV_OK)
			m->version[k] = v;
		else if (!ret)
			m->wrong++;
	} else if (op < 70) {
		ret = kv_get(&m->kc, m->key, klen, m->got, sizeof(m->got), &len, &status);
		m->gets++;
		if (!ret && !m->version[k] && status != KV_NOT_FOUND)
			m->wrong++;
		if (!ret && m->version[k]) {
			vlen = mix_value(m->value, m->t, k, m->version[k]);
			if (status != KV_OK || len != vlen || memcmp(m->got, m->value, len))
				m->wrong++;
		}
	} else if (op < 90) {
		ret = kv_del(&m->kc, m->key, klen, &status);
		m->dels++;
		if (!ret && status != (m->version[k] ? KV_OK : KV_NOT_FOUND))
			m->wrong++;
		if (!ret)
			m->version[k] = 0;
	} else if (op < 95) {
		vlen = (size_t)cse_snprintf((char *)m->value, sizeof(m->value), "t%u-%u",
					    m->t, i);
		ret = kv_put(&m->kc, "shared", 6, m->value, vlen, &status);
		m->shared_puts++;
		if (!ret && status == KV_OK)
			memcpy(m->last_shared, m->value, vlen + 1);
		else if (!ret)
			m->wrong++;
	} else {
		mix_list(m);
		return;
	}
	if (ret)
		mix_error(m, ret);
}

static void mix_thread(void *arg)
{
	struct mixer *m = arg;
	unsigned int i;
	int ret;

	ret = kv_connect(&m->kc, m->server_id, 10000);
	if (ret) {
		mix_error(m, ret);
		return;
	}
	for (i = 0; i < MIX_COMMANDS; i++)
		mix_one(m, i);
	kv_disconnect(&m->kc);
}

/* After the clients: every key as its owner left it, "shared" one's last. */
static bool mix_final(struct mixer *m, struct kv_client *kc, unsigned int *held)
{
	unsigned int t, k, wrong = 0;
	size_t len, vlen;
	int ret, status;
	bool shared_ok = false;

	*held = 0;
	for (t = 0; t < MIX_CLIENTS; t++) {
		for (k = 0; k < MIX_KEYS; k++) {
			size_t klen = mix_key(m->key, t, k);

			ret = kv_get(kc, m->key, klen, m->got, sizeof(m->got), &len, &status);
			if (ret) {
				wrong++;
				continue;
			}
			if (!m[t].version[k]) {
				wrong += status != KV_NOT_FOUND;
				continue;
			}
			vlen = mix_value(m->value, t, k, m[t].version[k]);
			wrong += status != KV_OK || len != vlen || memcmp(m->got, m->value, len);
			(*held)++;
			/* Clean up as we go: the store must end empty. */
			kv_del(kc, m->key, klen, &status);
		}
	}
	ret = kv_get(kc, "shared", 6, m->got, sizeof(m->got), &len, &status);
	for (t = 0; !ret && status == KV_OK && t < MIX_CLIENTS; t++)
		shared_ok |= len == strlen(m[t].last_shared) &&
			     !memcmp(m->got, m[t].last_shared, len);
	if (!ret && status == KV_OK)
		(*held)++;
	kv_del(kc, "shared", 6, &status);
	kv_diag("final contents: %u keys, %u wrong; \"shared\" holds %s", *held, wrong,
		shared_ok ? "one client's last value" : "something else");
	return !wrong && shared_ok;
}

void kv_mixed(const char *server_id, struct kv_report *r)
{
	struct mixer *m = cse_zalloc(MIX_CLIENTS * sizeof(*m));
	struct cse_thread *th[MIX_CLIENTS];
	unsigned int t, started = 0, held = 0;
	unsigned int puts = 0, gets = 0, dels = 0, shared = 0, lists = 0;
	unsigned int wrong = 0, errors = 0;
	struct kv_client kc = { 0 };
	bool ok = false;
	int ret = -ENOMEM;

	if (!m)
		goto out;
	for (t = 0; t < MIX_CLIENTS; t++) {
		m[t].server_id = server_id;
		m[t].t = t;
		m[t].rng = 2463534242U + t;	/* nonzero seeds */
	}
	for (; started < MIX_CLIENTS; started++) {
		ret = cse_thread_start(&th[started], "kv-mixed", mix_thread, &m[started]);
		if (ret)
			break;
	}
	for (t = 0; t < started; t++)
		cse_thread_join(th[t]);
	if (ret)
		goto out;
	for (t = 0; t < MIX_CLIENTS; t++) {
		puts += m[t].puts;
		gets += m[t].gets;
		dels += m[t].dels;
		shared += m[t].shared_puts;
		lists += m[t].lists;
		wrong += m[t].wrong;
		errors += m[t].errors;
		if (m[t].errors)
			kv_diag("client %u: %u requests failed, the first with %s", t,
				m[t].errors, cse_strerror(m[t].first_error));
	}
	kv_diag("%u clients x %u commands: %u puts, %u gets, %u deletes, %u puts of "
		"\"shared\", %u lists; %u wrong answers", MIX_CLIENTS, MIX_COMMANDS, puts,
		gets, dels, shared, lists, wrong);
	ret = kv_connect(&kc, server_id, 10000);
	if (ret)
		goto out;
	ok = mix_final(m, &kc, &held) && !wrong && !errors;
	kv_disconnect(&kc);
out:
	if (ret)
		kv_diag("mixed: %s", cse_strerror(ret));
	kv_ktap_result(r, ok, "mixed_8x1000");
	cse_free(m);
}
