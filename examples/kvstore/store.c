// SPDX-License-Identifier: MIT
/*
 * The store as a sorted array of entries: lookups are a binary search,
 * a new key moves the tail up by one pointer (at most KV_CAPACITY of them:
 * 96 KiB, a few microseconds), and a list page is a walk from the search
 * position.  Simple enough to be obviously right, fast enough here.
 * Entries are allocated and freed outside the lock.
 */
#include "store.h"

struct kv_entry {
	__u16 value_len;
	__u8 key_len;
	__u8 data[];		/* the key, then the value */
};

struct kv_store {
	struct cse_mutex *lock;
	unsigned int capacity;
	unsigned int count;
	struct kv_entry **entries;	/* sorted by key */
};

int kv_store_create(struct kv_store **out, unsigned int capacity)
{
	struct kv_store *s = cse_zalloc(sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->capacity = capacity;
	s->entries = cse_zalloc(capacity * sizeof(*s->entries));
	if (!s->entries) {
		ret = -ENOMEM;
		goto err;
	}
	ret = cse_mutex_create(&s->lock);
	if (ret)
		goto err;
	*out = s;
	return 0;
err:
	cse_free(s->entries);
	cse_free(s);
	return ret;
}

void kv_store_destroy(struct kv_store *s)
{
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < s->count; i++)
		cse_free(s->entries[i]);
	cse_free(s->entries);
	cse_mutex_destroy(s->lock);
	cse_free(s);
}

static int key_cmp(const __u8 *a, size_t a_len, const __u8 *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

	if (c)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

/*
 * Where @key is (true) or would go (false) in the sorted array: *@pos is
 * its index, or that of the first key after it.  Under the lock.
 */
static bool find(const struct kv_store *s, const __u8 *key, size_t key_len,
		 unsigned int *pos)
{
	unsigned int lo = 0, hi = s->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct kv_entry *e = s->entries[mid];
		int c = key_cmp(e->data, e->key_len, key, key_len);

		if (!c) {
			*pos = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return false;
}

int kv_store_put(struct kv_store *s, const __u8 *key, size_t key_len,
		 const void *value, size_t value_len)
{
	struct kv_entry *e, *old = NULL;
	unsigned int pos;
	int status = KV_OK;

	e = cse_alloc(sizeof(*e) + key_len + value_len);
	if (!e)
		return KV_FULL;		/* out of memory: full, as the client sees it */
	e->key_len = (__u8)key_len;
	e->value_len = (__u16)value_len;
	memcpy(e->data, key, key_len);
	memcpy(e->data + key_len, value, value_len);

	cse_mutex_lock(s->lock);
	if (find(s, key, key_len, &pos)) {
		old = s->entries[pos];
		s->entries[pos] = e;
	} else if (s->count == s->capacity) {
		old = e;		/* not stored: freed below */
		status = KV_FULL;
	} else {
		memmove(&s->entries[pos + 1], &s->entries[pos],
			(s->count - pos) * sizeof(*s->entries));
		s->entries[pos] = e;
		s->count++;
	}
	cse_mutex_unlock(s->lock);
	cse_free(old);
	return status;
}

int kv_store_get(struct kv_store *s, const __u8 *key, size_t key_len,
		 void *out, size_t cap, size_t *len)
{
	const struct kv_entry *e;
	unsigned int pos;
	int status = KV_NOT_FOUND;

	*len = 0;
	cse_mutex_lock(s->lock);
	if (find(s, key, key_len, &pos)) {
		e = s->entries[pos];
		status = e->value_len <= cap ? KV_OK : KV_TOO_BIG;
		if (status == KV_OK) {
			memcpy(out, e->data + e->key_len, e->value_len);
			*len = e->value_len;
		}
	}
	cse_mutex_unlock(s->lock);
	return status;
}

int kv_store_del(struct kv_store *s, const __u8 *key, size_t key_len)
{
	struct kv_entry *old = NULL;
	unsigned int pos;

	cse_mutex_lock(s->lock);
	if (find(s, key, key_len, &pos)) {
		old = s->entries[pos];
		s->count--;
		memmove(&s->entries[pos], &s->entries[pos + 1],
			(s->count - pos) * sizeof(*s->entries));
	}
	cse_mutex_unlock(s->lock);
	cse_free(old);
	return old ? KV_OK : KV_NOT_FOUND;
}

int kv_store_list(struct kv_store *s, const __u8 *cursor, size_t cursor_len,
		  void *out, size_t cap, size_t *len)
{
	struct kv_list_hdr hdr = { 0 };
	__u8 *p = out;
	size_t used = sizeof(hdr);
	unsigned int pos;
	int status = KV_OK;

	*len = 0;
	if (cap < sizeof(hdr))
		return KV_TOO_BIG;
	cse_mutex_lock(s->lock);
	/* The first key after the cursor: past it when it is itself a key. */
	if (find(s, cursor, cursor_len, &pos))
		pos++;
	for (; pos < s->count; pos++) {
		const struct kv_entry *e = s->entries[pos];

		if (cap - used < 1U + e->key_len)
			break;
		p[used] = e->key_len;
		memcpy(p + used + 1, e->data, e->key_len);
		used += 1U + e->key_len;
		hdr.count++;
	}
	/* Keys remain but not one fits: the client's buffer is too small. */
	if (!hdr.count && pos < s->count)
		status = KV_TOO_BIG;
	cse_mutex_unlock(s->lock);
	memcpy(p, &hdr, sizeof(hdr));
	*len = used;
	return status;
}
