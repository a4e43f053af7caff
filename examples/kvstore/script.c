// SPDX-License-Identifier: MIT
/*
 * The kvstore test script: the same commands, checks and transcript in
 * every direction (U-U, U-K, K-K, K-U).  Every line it prints is
 * deterministic (counts and statuses, no times, no ids), so transcripts
 * from different directions must be identical, byte for byte.
 *
 * The store must be empty at the start; the script leaves it empty.
 */
#include "kvclient.h"

#define NKEYS		10000U
#define PAGE		2048U	/* a KV_LIST page: fits a slot */
#define KEY_BUF		(KV_KEY_MAX + 8U)

/* Scratch for one script run (a kernel stack is too small for it). */
struct script {
	struct kv_client *kc;
	char key[KEY_BUF];
	__u8 value[KV_VALUE_MAX + 1];
	__u8 got[KV_VALUE_MAX + 1];
	__u8 page[PAGE];
	__u8 big[65536];
};

static size_t key_of(char *buf, const char *prefix, unsigned int i)
{
	return (size_t)cse_snprintf(buf, KEY_BUF, "%s-%05u", prefix, i);
}

/* Key i's value: 0..300 bytes of a pattern, different for every key. */
static size_t value_of(__u8 *buf, unsigned int i)
{
	size_t n = (i * 37U) % 301U, j;

	for (j = 0; j < n; j++)
		buf[j] = (__u8)(i * 31U + j * 7U + 1U);
	return n;
}

/* Count one request's outcome: runtime errors count as a status of their own. */
struct tally {
	unsigned int n[KV_BAD_INPUT + 1];
	unsigned int errors, mismatches;
	int first_error;
};

static void count(struct tally *t, int ret, int status)
{
	if (ret) {
		if (!t->errors++)
			t->first_error = ret;
	} else if (status >= 0 && status <= KV_BAD_INPUT) {
		t->n[status]++;
	} else {
		t->errors++;
	}
}

static void diag_errors(const struct tally *t)
{
	if (t->errors)
		kv_diag("%u requests failed, the first with %s", t->errors,
			cse_strerror(t->first_error));
}

/* Page through the whole store; count the keys and check their order. */
static bool list_all(struct script *s, unsigned int *nkeys, unsigned int *pages,
		     bool *sorted, char *first, char *last)
{
	__u8 cursor[KV_KEY_MAX];
	size_t cursor_len = 0, len, off;
	struct kv_list_hdr h;
	unsigned int i;
	int ret, status;

	*nkeys = *pages = 0;
	*sorted = true;
	first[0] = last[0] = '\0';
	for (;;) {
		ret = kv_list(s->kc, cursor, cursor_len, s->page, PAGE, &len, &status);
		if (ret || status != KV_OK || len < sizeof(h)) {
			kv_diag("list: %s, status %s", cse_strerror(ret), kv_status_name(status));
			return false;
		}
		memcpy(&h, s->page, sizeof(h));
		if (!h.count)
			return true;
		(*pages)++;
		for (i = 0, off = sizeof(h); i < h.count; i++) {
			size_t klen = off < len ? s->page[off] : 0;
			int c;

			if (!klen || klen > KV_KEY_MAX || off + 1 + klen > len) {
				kv_diag("list: a malformed page");
				return false;
			}
			/* After the one before (the cursor: empty at first). */
			c = memcmp(cursor, s->page + off + 1,
				   cursor_len < klen ? cursor_len : klen);
			if (c > 0 || (!c && cursor_len >= klen))
				*sorted = false;
			memcpy(cursor, s->page + off + 1, klen);
			cursor_len = klen;
			if (!*nkeys)
				cse_snprintf(first, KEY_BUF, "%.*s", (int)klen, (char *)cursor);
			(*nkeys)++;
			off += 1 + klen;
		}
		cse_snprintf(last, KEY_BUF, "%.*s", (int)cursor_len, (char *)cursor);
	}
}

static bool case_empty(struct script *s)
{
	char first[KEY_BUF], last[KEY_BUF];
	unsigned int n, pages;
	bool sorted;

	if (!list_all(s, &n, &pages, &sorted, first, last))
		return false;
	kv_diag("the store holds %u keys", n);
	return n == 0;
}

static bool case_put(struct script *s)
{
	struct tally t = { 0 };
	unsigned int i, k;
	int ret, status;

	/* In a scrambled order (7919 is prime to NKEYS): inserts land everywhere. */
	for (i = 0; i < NKEYS; i++) {
		k = (i * 7919U) % NKEYS;
		ret = kv_put(s->kc, s->key, key_of(s->key, "key", k), s->value,
			     value_of(s->value, k), &status);
		count(&t, ret, status);
	}
	diag_errors(&t);
	kv_diag("%u puts: %u OK", NKEYS, t.n[KV_OK]);
	return t.n[KV_OK] == NKEYS;
}

static bool case_get(struct script *s)
{
	struct tally t = { 0 };
	unsigned int i;
	size_t len, want;
	int ret, status;

	for (i = 0; i < NKEYS; i++) {
		want = value_of(s->value, i);
		ret = kv_get(s->kc, s->key, key_of(s->key, "key", i), s->got,
			     KV_VALUE_MAX, &len, &status);
		count(&t, ret, status);
		if (!ret && status == KV_OK && (len != want || memcmp(s->got, s->value, len)))
			t.mismatches++;
	}
	diag_errors(&t);
	kv_diag("%u gets: %u OK, %u values differ", NKEYS, t.n[KV_OK], t.mismatches);
	return t.n[KV_OK] == NKEYS && !t.mismatches;
}

static bool case_replace(struct script *s)
{
	static const char repl[] = "a new value";
	size_t klen = key_of(s->key, "key", 42), len = 0;
	int r1, r2, r3, st1 = -1, st2 = -1, st3 = -1;
	bool same;

	r1 = kv_put(s->kc, s->key, klen, repl, sizeof(repl), &st1);
	r2 = kv_get(s->kc, s->key, klen, s->got, KV_VALUE_MAX, &len, &st2);
	same = !r2 && len == sizeof(repl) && !memcmp(s->got, repl, len);
	r3 = kv_put(s->kc, s->key, klen, s->value, value_of(s->value, 42), &st3);
	kv_diag("replace key-00042: put %s, get %s (%s), put back %s",
		r1 ? cse_strerror(r1) : kv_status_name(st1),
		r2 ? cse_strerror(r2) : kv_status_name(st2),
		same ? "the new value" : "another value",
		r3 ? cse_strerror(r3) : kv_status_name(st3));
	return !r1 && !r3 && st1 == KV_OK && st2 == KV_OK && same && st3 == KV_OK;
}

static bool case_delete_half(struct script *s)
{
	struct tally t = { 0 };
	unsigned int i;
	int ret, status = -1;

	for (i = 0; i < NKEYS; i += 2) {
		ret = kv_del(s->kc, s->key, key_of(s->key, "key", i), &status);
		count(&t, ret, status);
	}
	diag_errors(&t);
	ret = kv_del(s->kc, s->key, key_of(s->key, "key", 0), &status);
	kv_diag("%u deletes: %u OK; key-00000 again: %s", NKEYS / 2, t.n[KV_OK],
		ret ? cse_strerror(ret) : kv_status_name(status));
	return t.n[KV_OK] == NKEYS / 2 && !ret && status == KV_NOT_FOUND;
}

static bool case_get_after_delete(struct script *s)
{
	struct tally even = { 0 }, odd = { 0 };
	unsigned int i;
	size_t len, want;
	int ret, status;

	for (i = 0; i < NKEYS; i++) {
		struct tally *t = i % 2 ? &odd : &even;

		want = value_of(s->value, i);
		ret = kv_get(s->kc, s->key, key_of(s->key, "key", i), s->got,
			     KV_VALUE_MAX, &len, &status);
		count(t, ret, status);
		if (!ret && status == KV_OK && (len != want || memcmp(s->got, s->value, len)))
			t->mismatches++;
	}
	diag_errors(&even);
	diag_errors(&odd);
	kv_diag("deleted keys: %u NOT_FOUND; kept keys: %u OK, %u values differ",
		even.n[KV_NOT_FOUND], odd.n[KV_OK], odd.mismatches);
	return even.n[KV_NOT_FOUND] == NKEYS / 2 && odd.n[KV_OK] == NKEYS / 2 &&
	       !odd.mismatches;
}

static bool case_list_sorted(struct script *s)
{
	char first[KEY_BUF], last[KEY_BUF];
	unsigned int n, pages;
	bool sorted;

	if (!list_all(s, &n, &pages, &sorted, first, last))
		return false;
	kv_diag("list: %u keys in %u pages of %u bytes, %s, first %s, last %s", n,
		pages, PAGE, sorted ? "in order" : "OUT OF ORDER", first, last);
	return n == NKEYS / 2 && sorted && !strcmp(first, "key-00001") &&
	       !strcmp(last, "key-09999");
}

static const char *outcome(int ret, int status)
{
	return ret ? cse_strerror(ret) : kv_status_name(status);
}

static bool case_oversized_key(struct script *s)
{
	int r1, r2, r3, st1 = -1, st2 = -1, st3 = -1;
	size_t len;

	memset(s->key, 'k', KV_KEY_MAX + 1);
	r1 = kv_put(s->kc, s->key, KV_KEY_MAX + 1, "v", 1, &st1);
	r2 = kv_get(s->kc, s->key, KV_KEY_MAX + 1, s->got, KV_VALUE_MAX, &len, &st2);
	r3 = kv_del(s->kc, s->key, KV_KEY_MAX + 1, &st3);
	kv_diag("a %u-byte key: put %s, get %s, delete %s", KV_KEY_MAX + 1,
		outcome(r1, st1), outcome(r2, st2), outcome(r3, st3));
	return !r1 && !r2 && !r3 && st1 == KV_TOO_BIG && st2 == KV_TOO_BIG &&
	       st3 == KV_TOO_BIG;
}

static bool case_oversized_value(struct script *s)
{
	size_t klen = key_of(s->key, "big", 0);
	int r1, r2, r3, st1 = -1, st2 = -1, st3 = -1;
	size_t len;

	memset(s->big, 'v', sizeof(s->big));
	r1 = kv_put(s->kc, s->key, klen, s->big, KV_VALUE_MAX + 1, &st1);
	/* Larger than a slot: this one travels by the backup path. */
	r2 = kv_put(s->kc, s->key, klen, s->big, sizeof(s->big), &st2);
	r3 = kv_get(s->kc, s->key, klen, s->got, KV_VALUE_MAX, &len, &st3);
	kv_diag("a %u-byte value: %s; a %zu-byte value: %s; the key then: %s",
		KV_VALUE_MAX + 1, outcome(r1, st1), sizeof(s->big), outcome(r2, st2),
		outcome(r3, st3));
	return !r1 && !r2 && !r3 && st1 == KV_TOO_BIG && st2 == KV_TOO_BIG &&
	       st3 == KV_NOT_FOUND;
}

static bool case_unknown_command(struct script *s)
{
	int ret, status = -1;

	ret = kv_raw(s->kc, 99, "x", 1, s->got, 16, NULL, &status);
	kv_diag("command 99: %s", outcome(ret, status));
	return !ret && status == KV_UNKNOWN;
}

static bool case_malformed(struct script *s)
{
	struct kv_put_hdr h = { .key_len = 3, .value_len = 10 };
	int r[5], st[5] = { -1, -1, -1, -1, -1 };
	size_t len;

	/* A PUT whose header promises more than it carries. */
	memcpy(s->big, &h, sizeof(h));
	memcpy(s->big + sizeof(h), "abc0123", 7);
	r[0] = kv_raw(s->kc, KV_PUT, s->big, sizeof(h) + 7, NULL, 0, NULL, &st[0]);
	/* Shorter than a header; a reserved field set; an empty key. */
	r[1] = kv_raw(s->kc, KV_PUT, s->big, 3, NULL, 0, NULL, &st[1]);
	h.resv = 1;
	h.value_len = 4;
	memcpy(s->big, &h, sizeof(h));
	r[2] = kv_raw(s->kc, KV_PUT, s->big, sizeof(h) + 7, NULL, 0, NULL, &st[2]);
	r[3] = kv_get(s->kc, "", 0, s->got, KV_VALUE_MAX, &len, &st[3]);
	/* A list cursor longer than any key. */
	memset(s->big, 'c', KV_KEY_MAX + 1);
	r[4] = kv_list(s->kc, s->big, KV_KEY_MAX + 1, s->page, PAGE, &len, &st[4]);
	kv_diag("short put: %s; 3-byte put: %s; reserved field set: %s; empty key: %s; "
		"long cursor: %s", outcome(r[0], st[0]), outcome(r[1], st[1]),
		outcome(r[2], st[2]), outcome(r[3], st[3]), outcome(r[4], st[4]));
	return !r[0] && !r[1] && !r[2] && !r[3] && !r[4] && st[0] == KV_BAD_INPUT &&
	       st[1] == KV_BAD_INPUT && st[2] == KV_BAD_INPUT && st[3] == KV_BAD_INPUT &&
	       st[4] == KV_TOO_BIG;
}

static bool case_full(struct script *s)
{
	struct tally t = { 0 };
	unsigned int i, added = 0;
	int r1, r2, st1 = -1, st2 = -1;
	size_t len;

	/*
	 * New keys until the store says it is full (a bound keeps a broken
	 * server from making this endless).
	 */
	for (i = 0; i <= KV_CAPACITY; i++) {
		int ret, status = -1;

		ret = kv_put(s->kc, s->key, key_of(s->key, "fill", i), "f", 1, &status);
		count(&t, ret, status);
		if (ret || status != KV_OK)
			break;
		added++;
	}
	diag_errors(&t);
	/* Replacing a key needs no room; reading works as ever. */
	r1 = kv_put(s->kc, s->key, key_of(s->key, "key", 1), s->value,
		    value_of(s->value, 1), &st1);
	r2 = kv_get(s->kc, s->key, key_of(s->key, "key", 1), s->got, KV_VALUE_MAX,
		    &len, &st2);
	kv_diag("full after %u new keys (%u held before, capacity %u): %s; "
		"replacing a key: %s; reading one: %s", added, NKEYS / 2, KV_CAPACITY,
		t.n[KV_FULL] ? "FULL" : "never full", outcome(r1, st1), outcome(r2, st2));
	return added == KV_CAPACITY - NKEYS / 2 && t.n[KV_FULL] == 1 && !r1 && !r2 &&
	       st1 == KV_OK && st2 == KV_OK;
}

static bool case_delete_all(struct script *s)
{
	char first[KEY_BUF], last[KEY_BUF];
	struct tally t = { 0 };
	unsigned int i, n, pages;
	bool sorted;
	int ret, status = -1;

	for (i = 1; i < NKEYS; i += 2) {
		ret = kv_del(s->kc, s->key, key_of(s->key, "key", i), &status);
		count(&t, ret, status);
	}
	for (i = 0; i < KV_CAPACITY - NKEYS / 2; i++) {
		ret = kv_del(s->kc, s->key, key_of(s->key, "fill", i), &status);
		count(&t, ret, status);
	}
	diag_errors(&t);
	if (!list_all(s, &n, &pages, &sorted, first, last))
		return false;
	kv_diag("%u deletes: %u OK; the store then holds %u keys", KV_CAPACITY,
		t.n[KV_OK], n);
	return t.n[KV_OK] == KV_CAPACITY && n == 0;
}

#define HOSTILE_REQUESTS 2000U

static __u32 next_rand(__u32 *x)
{
	/* xorshift32: the same sequence in both worlds. */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/*
 * One request of garbage, or of nearly right input: random bytes, PUT
 * headers whose lengths lie (too long, too short, huge), keys of every
 * length around the bound.  Returns the input's length, built in s->big.
 */
static size_t hostile_input(struct script *s, __u32 *rng, __u32 r)
{
	struct kv_put_hdr h;
	size_t len, i;

	switch ((r >> 8) % 4U) {
	case 0:		/* random bytes */
		len = next_rand(rng) % 300U;
		break;
	case 1:		/* a PUT header whose lengths need not add up */
		h.key_len = (__u16)(next_rand(rng) % (KV_KEY_MAX + 8U));
		h.resv = (__u16)(next_rand(rng) % 8U == 0);
		h.value_len = next_rand(rng) % 4U ? next_rand(rng) % (KV_VALUE_MAX + 80U) :
			      next_rand(rng);
		len = sizeof(h) + h.key_len + (h.value_len & 0x3ffU);
		/* One byte short, right, or one over. */
		len += next_rand(rng) % 3U;
		len = len ? len - 1 : 0;
		if (len > sizeof(s->big))
			len = sizeof(s->big);
		memset(s->big, 'h', len);
		memcpy(s->big, &h, len < sizeof(h) ? len : sizeof(h));
		return len;
	default:	/* a key of any length around the bound */
		len = next_rand(rng) % (KV_KEY_MAX + 8U);
		break;
	}
	for (i = 0; i < len; i++)
		s->big[i] = (__u8)next_rand(rng);
	return len;
}

/* A put, a get of it and its delete work. */
static bool roundtrip(struct script *s)
{
	size_t klen = key_of(s->key, "key", 7), vlen = value_of(s->value, 7), len = 0;
	int st[3] = { -1, -1, -1 };

	return !kv_put(s->kc, s->key, klen, s->value, vlen, &st[0]) &&
	       !kv_get(s->kc, s->key, klen, s->got, KV_VALUE_MAX, &len, &st[1]) &&
	       !kv_del(s->kc, s->key, klen, &st[2]) && st[0] == KV_OK && st[1] == KV_OK &&
	       st[2] == KV_OK && len == vlen && !memcmp(s->got, s->value, len);
}

static bool case_hostile(struct script *s)
{
	char first[KEY_BUF], last[KEY_BUF];
	struct tally t = { 0 };
	__u32 rng = 0x2545f491U, r;
	unsigned int i, n, pages, deleted = 0;
	size_t len, klen, off;
	bool sorted, works;
	int ret, status;

	for (i = 0; i < HOSTILE_REQUESTS; i++) {
		r = next_rand(&rng);
		len = hostile_input(s, &rng, r);
		status = -1;
		ret = kv_raw(s->kc, r % 6U, s->big, len, s->page, PAGE, NULL, &status);
		count(&t, ret, status);
	}
	diag_errors(&t);
	/* What the well-formed ones stored goes again, page by page. */
	for (;;) {
		ret = kv_list(s->kc, "", 0, s->page, PAGE, &len, &status);
		memcpy(&n, s->page, sizeof(n));
		if (ret || status != KV_OK || !n)
			break;
		for (off = sizeof(struct kv_list_hdr); n-- && off < len; off += 1 + klen) {
			klen = s->page[off];
			memcpy(s->key, s->page + off + 1, klen);
			if (!kv_del(s->kc, s->key, klen, &status) && status == KV_OK)
				deleted++;
		}
	}
	works = roundtrip(s) && list_all(s, &n, &pages, &sorted, first, last) && !n;
	kv_diag("%u hostile requests: %u OK, %u NOT_FOUND, %u TOO_BIG, %u FULL, %u UNKNOWN, "
		"%u BAD_INPUT, %u failed; %u keys they stored deleted; the store then %s",
		HOSTILE_REQUESTS, t.n[KV_OK], t.n[KV_NOT_FOUND], t.n[KV_TOO_BIG], t.n[KV_FULL],
		t.n[KV_UNKNOWN], t.n[KV_BAD_INPUT], t.errors, deleted,
		works ? "works and is empty" : "FAILS");
	return !t.errors && works;
}

static const struct {
	const char *name;
	bool (*run)(struct script *s);
} cases[KV_SCRIPT_CASES] = {
	{ "empty_at_start", case_empty },
	{ "put_10000", case_put },
	{ "get_10000", case_get },
	{ "replace", case_replace },
	{ "delete_half", case_delete_half },
	{ "get_after_delete", case_get_after_delete },
	{ "list_sorted", case_list_sorted },
	{ "oversized_key", case_oversized_key },
	{ "oversized_value", case_oversized_value },
	{ "unknown_command", case_unknown_command },
	{ "malformed_input", case_malformed },
	{ "full_store", case_full },
	{ "delete_all", case_delete_all },
	{ "hostile_input", case_hostile },
};

void kv_script(struct kv_client *kc, struct kv_report *r)
{
	struct script *s = cse_zalloc(sizeof(*s));
	unsigned int i;

	for (i = 0; i < KV_SCRIPT_CASES; i++) {
		if (s)
			s->kc = kc;
		kv_ktap_result(r, s && cases[i].run(s), cases[i].name);
	}
	if (!s)
		kv_diag("no memory for the script");
	cse_free(s);
}
