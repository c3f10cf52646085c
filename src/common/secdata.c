/*
 * secdata.c - secret bytes (struct secbuf) and a secret's key/value data
 * (struct secdata), with the wire form the envelope seals.
 *
 * Every byte of a value is wiped with sodium_memzero before it is freed, on
 * success and failure paths alike. secdata_decode parses bytes that came
 * out of a decryption and treats them as untrusted: every length is
 * bounds-checked, counts are capped, duplicate keys and trailing bytes are
 * refused.
 */
#include "secdata.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Upper bound on items in a decoded record, so garbage cannot make us
 * allocate without limit (TR_MAX_KEYS is far lower; this is a backstop). */
#define SECDATA_DECODE_COUNT_MAX 65536u

/* Smallest encoded item: u16 key_len + u32 value_len, both empty. */
#define SECDATA_ITEM_MIN_BYTES 6u

enum tr_status secbuf_set(struct secbuf *buf, const void *data, size_t len)
{
	unsigned char *p;

	if (!buf || (!data && len > 0))
		return TR_EINVAL;
	if (len == SIZE_MAX)
		return TR_ETOOLARGE;
	p = malloc(len + 1);
	if (!p)
		return TR_EINTERNAL;
	if (len > 0)
		memcpy(p, data, len);
	p[len] = '\0';
	/* Copy first, then release: data may point into buf itself. */
	secbuf_clear(buf);
	buf->data = p;
	buf->len = len;
	return TR_OK;
}

void secbuf_clear(struct secbuf *buf)
{
	if (!buf)
		return;
	if (buf->data) {
		sodium_memzero(buf->data, buf->len + 1);
		free(buf->data);
	}
	buf->data = NULL;
	buf->len = 0;
}

const struct secdata_item *secdata_find(const struct secdata *d, const char *key)
{
	size_t i;

	if (!d || !key)
		return NULL;
	for (i = 0; i < d->count; i++) {
		if (strcmp(d->items[i].key, key) == 0)
			return &d->items[i];
	}
	return NULL;
}

enum tr_status secdata_add(struct secdata *d, const char *key, const void *value, size_t value_len)
{
	struct secdata_item item = {0};
	struct secdata_item *grown;
	enum tr_status st;

	if (!d || !key || (!value && value_len > 0))
		return TR_EINVAL;
	if (strlen(key) > UINT16_MAX || value_len > UINT32_MAX)
		return TR_ETOOLARGE;
	if (secdata_find(d, key))
		return TR_ECONFLICT;

	item.key = strdup(key);
	if (!item.key)
		return TR_EINTERNAL;
	st = secbuf_set(&item.value, value, value_len);
	if (st != TR_OK)
		goto fail;
	grown = realloc(d->items, (d->count + 1) * sizeof(*grown));
	if (!grown) {
		st = TR_EINTERNAL;
		goto fail;
	}
	d->items = grown;
	d->items[d->count++] = item;
	return TR_OK;

fail:
	secbuf_clear(&item.value);
	free(item.key);
	return st;
}

size_t secdata_size(const struct secdata *d)
{
	size_t i, total = 0;

	if (!d)
		return 0;
	for (i = 0; i < d->count; i++)
		total += strlen(d->items[i].key) + d->items[i].value.len;
	return total;
}

void secdata_clear(struct secdata *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->count; i++) {
		secbuf_clear(&d->items[i].value);
		free(d->items[i].key);
	}
	free(d->items);
	d->items = NULL;
	d->count = 0;
}

/* ---- encoding ---- */

static unsigned char *put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
	p[2] = (unsigned char)((v >> 16) & 0xff);
	p[3] = (unsigned char)(v >> 24);
	return p + 4;
}

static unsigned char *put_bytes(unsigned char *p, const void *src, size_t len)
{
	if (len > 0)
		memcpy(p, src, len);
	return p + len;
}

/* The encoded size of d, checking every field fits its wire width. */
static enum tr_status encoded_size(const struct secdata *d, size_t *out)
{
	size_t i, total = 4;

	if (d->count > UINT32_MAX)
		return TR_ETOOLARGE;
	for (i = 0; i < d->count; i++) {
		size_t klen = strlen(d->items[i].key);
		size_t vlen = d->items[i].value.len;

		if (klen > UINT16_MAX || vlen > UINT32_MAX)
			return TR_ETOOLARGE;
		if (SIZE_MAX - total < SECDATA_ITEM_MIN_BYTES + klen + vlen)
			return TR_ETOOLARGE;
		total += SECDATA_ITEM_MIN_BYTES + klen + vlen;
	}
	*out = total;
	return TR_OK;
}

enum tr_status secdata_encode(const struct secdata *d, struct secbuf *out)
{
	unsigned char *buf, *p;
	enum tr_status st;
	size_t total, i;

	if (!d || !out)
		return TR_EINVAL;
	st = encoded_size(d, &total);
	if (st != TR_OK)
		return st;
	if (total == SIZE_MAX)
		return TR_ETOOLARGE;
	buf = malloc(total + 1);
	if (!buf)
		return TR_EINTERNAL;

	p = put_u32(buf, (uint32_t)d->count);
	for (i = 0; i < d->count; i++) {
		const struct secdata_item *it = &d->items[i];
		size_t klen = strlen(it->key);

		p = put_u16(p, (uint16_t)klen);
		p = put_bytes(p, it->key, klen);
		p = put_u32(p, (uint32_t)it->value.len);
		p = put_bytes(p, it->value.data, it->value.len);
	}
	buf[total] = '\0';
	out->data = buf;
	out->len = total;
	return TR_OK;
}

/* ---- decoding ---- */

/* A cursor over untrusted input; every read checks what is left. */
struct reader {
	const unsigned char *p;
	size_t left;
};

static bool get_u16(struct reader *r, uint16_t *v)
{
	if (r->left < 2)
		return false;
	*v = (uint16_t)(r->p[0] | (r->p[1] << 8));
	r->p += 2;
	r->left -= 2;
	return true;
}

static bool get_u32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = (uint32_t)r->p[0] | ((uint32_t)r->p[1] << 8) | ((uint32_t)r->p[2] << 16) |
	     ((uint32_t)r->p[3] << 24);
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool get_bytes(struct reader *r, size_t len, const unsigned char **out)
{
	if (r->left < len)
		return false;
	*out = r->p;
	r->p += len;
	r->left -= len;
	return true;
}

/* Reads one item into it. TR_ECRYPTO on malformed input. */
static enum tr_status decode_item(struct reader *r, struct secdata_item *it)
{
	const unsigned char *key, *value;
	uint16_t klen;
	uint32_t vlen;

	if (!get_u16(r, &klen) || !get_bytes(r, klen, &key))
		return TR_ECRYPTO;
	if (klen > 0 && memchr(key, '\0', klen))
		return TR_ECRYPTO; /* keys are C strings */
	if (!get_u32(r, &vlen) || !get_bytes(r, vlen, &value))
		return TR_ECRYPTO;

	it->key = malloc((size_t)klen + 1);
	if (!it->key)
		return TR_EINTERNAL;
	if (klen > 0)
		memcpy(it->key, key, klen);
	it->key[klen] = '\0';
	if (secbuf_set(&it->value, value, vlen) != TR_OK) {
		free(it->key);
		it->key = NULL;
		return TR_EINTERNAL;
	}
	return TR_OK;
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* TR_ECRYPTO if two items share a key; sorts a copy of the key pointers so
 * that garbage with many items cannot cost quadratic time. */
static enum tr_status check_unique_keys(const struct secdata *d)
{
	enum tr_status st = TR_OK;
	char **keys;
	size_t i;

	if (d->count < 2)
		return TR_OK;
	keys = malloc(d->count * sizeof(*keys));
	if (!keys)
		return TR_EINTERNAL;
	for (i = 0; i < d->count; i++)
		keys[i] = d->items[i].key;
	qsort(keys, d->count, sizeof(*keys), compare_keys);
	for (i = 1; i < d->count; i++) {
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			st = TR_ECRYPTO;
			break;
		}
	}
	free(keys);
	return st;
}

enum tr_status secdata_decode(const unsigned char *buf, size_t len, struct secdata *out)
{
	struct secdata d = {0};
	struct reader r = {buf, len};
	enum tr_status st;
	uint32_t count, i;

	if (!out || out->items || out->count)
		return TR_EINVAL;
	if (!buf && len > 0)
		return TR_EINVAL;
	if (!get_u32(&r, &count))
		return TR_ECRYPTO;
	if (count > SECDATA_DECODE_COUNT_MAX || count > r.left / SECDATA_ITEM_MIN_BYTES)
		return TR_ECRYPTO;
	if (count > 0) {
		d.items = calloc(count, sizeof(*d.items));
		if (!d.items)
			return TR_EINTERNAL;
	}
	for (i = 0; i < count; i++) {
		st = decode_item(&r, &d.items[i]);
		if (st != TR_OK)
			goto fail;
		d.count++;
	}
	if (r.left != 0) {
		st = TR_ECRYPTO;
		goto fail;
	}
	st = check_unique_keys(&d);
	if (st != TR_OK)
		goto fail;
	*out = d;
	return TR_OK;

fail:
	secdata_clear(&d);
	return st;
}
