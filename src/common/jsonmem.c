/*
 * jsonmem.c - jansson's allocator (wipemem: each block wiped before it is
 * released), and the compact JSON writers every reply goes through:
 * jsonmem_dump for a jansson tree, jsonw for a document written piece by
 * piece.
 */
#include "common/jsonmem.h"

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wipemem.h"

void jsonmem_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

/* Most replies fit; glibc serves a block this small from its per-thread
 * cache (larger ones take the arena's lock and may consolidate it). */
#define DUMP_FIRST_CAP 1000

static int dump_grow(struct jsonmem_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : DUMP_FIRST_CAP;
	char *text;

	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	if (!(text = malloc(cap)))
		return -1;
	if (b->text) {
		memcpy(text, b->text, b->len);
		sodium_memzero(b->text, b->len);
		free(b->text);
	}
	b->text = text;
	b->cap = cap;
	return 0;
}

/* Appends size bytes. */
static int put(struct jsonmem_buf *b, const char *piece, size_t size)
{
	size_t need = b->len + size + b->spare + 1;

	if (need < b->len || (need > b->cap && dump_grow(b, need) != 0))
		return -1;
	memcpy(b->text + b->len, piece, size);
	b->len += size;
	return 0;
}

/* The length of the UTF-8 sequence at p (2 to 4 bytes; p[0] >= 0x80), or
 * 0 if it is not one: overlong forms, surrogates and code points past
 * U+10FFFF are not, as for jansson. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* The escape jansson writes for c (a quote, a backslash or a control
 * character) into out; its length. */
static size_t escape_of(unsigned char c, char out[7])
{
	static const char hex[] = "0123456789ABCDEF";
	const char *named = NULL;

	switch (c) {
	case '"': named = "\\\""; break;
	case '\\': named = "\\\\"; break;
	case '\b': named = "\\b"; break;
	case '\f': named = "\\f"; break;
	case '\n': named = "\\n"; break;
	case '\r': named = "\\r"; break;
	case '\t': named = "\\t"; break;
	default: break;
	}
	if (named) {
		memcpy(out, named, 2);
		return 2;
	}
	memcpy(out, "\\u00", 4);
	out[4] = hex[c >> 4];
	out[5] = hex[c & 0xF];
	return 6;
}

/* Appends s[0..n) as a JSON string: runs of plain bytes in one piece. */
static int put_string(struct jsonmem_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0, i = 0;
	char esc[7];

	if (put(b, "\"", 1) != 0)
		return -1;
	while (i < n) {
		size_t seq;

		if (u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\') {
			i++;
			continue;
		}
		if (u[i] >= 0x80) {
			if (!(seq = utf8_sequence(u + i, n - i)))
				return -1;
			i += seq;
			continue;
		}
		if (put(b, s + run, i - run) != 0 || put(b, esc, escape_of(u[i], esc)) != 0)
			return -1;
		run = ++i;
	}
	return put(b, s + run, n - run) == 0 && put(b, "\"", 1) == 0 ? 0 : -1;
}

static int put_integer(struct jsonmem_buf *b, json_int_t v)
{
	char digits[24];
	size_t at = sizeof(digits);
	unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		digits[--at] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		digits[--at] = '-';
	return put(b, digits + at, sizeof(digits) - at);
}

/* Reals are rare here: jansson writes them, so they read the same. */
static int put_real(struct jsonmem_buf *b, const json_t *j)
{
	char text[64];
	size_t n = json_dumpb(j, text, sizeof(text), JSON_ENCODE_ANY | JSON_COMPACT);

	return n == 0 || n > sizeof(text) ? -1 : put(b, text, n);
}

/* Trees are built or parsed here, never cyclic; parsing stops deeper. */
#define DUMP_MAX_DEPTH 2048

static int put_value(struct jsonmem_buf *b, const json_t *j, int depth);

static int put_object(struct jsonmem_buf *b, const json_t *obj, int depth)
{
	const char *sep = "{";

	for (void *it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it)) {
		if (put(b, sep, 1) != 0 || put_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) != 0 ||
		    put(b, ":", 1) != 0 || put_value(b, json_object_iter_value(it), depth + 1) != 0)
			return -1;
		sep = ",";
	}
	return *sep == '{' ? put(b, "{}", 2) : put(b, "}", 1);
}

static int put_array(struct jsonmem_buf *b, const json_t *arr, int depth)
{
	size_t n = json_array_size(arr);

	if (put(b, "[", 1) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && put(b, ",", 1) != 0) || put_value(b, json_array_get(arr, i), depth + 1) != 0)
			return -1;
	return put(b, "]", 1);
}

static int put_value(struct jsonmem_buf *b, const json_t *j, int depth)
{
	if (!j || depth > DUMP_MAX_DEPTH)
		return -1;
	switch (json_typeof(j)) {
	case JSON_OBJECT: return put_object(b, j, depth);
	case JSON_ARRAY: return put_array(b, j, depth);
	case JSON_STRING: return put_string(b, json_string_value(j), json_string_length(j));
	case JSON_INTEGER: return put_integer(b, json_integer_value(j));
	case JSON_REAL: return put_real(b, j);
	case JSON_TRUE: return put(b, "true", 4);
	case JSON_FALSE: return put(b, "false", 5);
	case JSON_NULL: return put(b, "null", 4);
	}
	return -1;
}

/*
 * Writes what json_dumps(j, JSON_COMPACT) would, byte for byte, without
 * its per-call costs: a loop check that formats each container's address
 * into a hash table, a callback per piece and a UTF-8 decode of every
 * character (here only bytes from 0x80 up are checked).
 */
char *jsonmem_dump(const json_t *j, size_t spare, size_t *len)
{
	struct jsonw w;

	jsonw_init(&w, spare);
	jsonw_value(&w, j);
	return jsonw_finish(&w, len);
}

/* --- the writer ------------------------------------------------------------ */

void jsonw_init(struct jsonw *w, size_t spare)
{
	memset(w, 0, sizeof(*w));
	w->buf.spare = spare;
	w->failed = dump_grow(&w->buf, spare + 1) != 0;
}

static void wrote(struct jsonw *w, int rc)
{
	if (rc != 0)
		w->failed = true;
}

/* The comma before an item of the open container (none after a key). */
static void before_item(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0 && w->has_items[w->depth - 1])
		wrote(w, put(&w->buf, ",", 1));
	if (w->depth > 0)
		w->has_items[w->depth - 1] = true;
}

/* Whether w may go on; if so, an item follows (before_item). */
static bool next_item(struct jsonw *w)
{
	if (w->failed)
		return false;
	before_item(w);
	return true;
}

static void open_container(struct jsonw *w, const char *bracket)
{
	if (!next_item(w))
		return;
	if (w->depth == JSONW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	wrote(w, put(&w->buf, bracket, 1));
	w->has_items[w->depth++] = false;
}

static void close_container(struct jsonw *w, const char *bracket)
{
	if (w->failed)
		return;
	if (w->depth == 0 || w->after_key) {
		w->failed = true;
		return;
	}
	w->depth--;
	wrote(w, put(&w->buf, bracket, 1));
}

void jsonw_object_begin(struct jsonw *w)
{
	open_container(w, "{");
}

void jsonw_object_end(struct jsonw *w)
{
	close_container(w, "}");
}

void jsonw_array_begin(struct jsonw *w)
{
	open_container(w, "[");
}

void jsonw_array_end(struct jsonw *w)
{
	close_container(w, "]");
}

void jsonw_key(struct jsonw *w, const char *key)
{
	if (!next_item(w))
		return;
	wrote(w, put_string(&w->buf, key, strlen(key)));
	wrote(w, put(&w->buf, ":", 1));
	w->after_key = true;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	jsonw_stringn(w, s, strlen(s));
}

void jsonw_string_or_null(struct jsonw *w, const char *s)
{
	jsonw_string(w, s && *s ? s : NULL);
}

void jsonw_stringn(struct jsonw *w, const char *s, size_t n)
{
	if (next_item(w))
		wrote(w, put_string(&w->buf, s, n));
}

void jsonw_integer(struct jsonw *w, int64_t v)
{
	if (next_item(w))
		wrote(w, put_integer(&w->buf, (json_int_t)v));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (next_item(w))
		wrote(w, v ? put(&w->buf, "true", 4) : put(&w->buf, "false", 5));
}

void jsonw_null(struct jsonw *w)
{
	if (next_item(w))
		wrote(w, put(&w->buf, "null", 4));
}

void jsonw_value(struct jsonw *w, const json_t *j)
{
	if (next_item(w))
		wrote(w, put_value(&w->buf, j, w->depth));
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
	char *text = w->buf.text;

	if (w->failed || w->depth != 0 || w->after_key || w->buf.len == 0) {
		jsonw_discard(w);
		return NULL;
	}
	text[w->buf.len] = '\0';
	*len = w->buf.len;
	w->buf.text = NULL;
	return text;
}

void jsonw_discard(struct jsonw *w)
{
	if (w->buf.text) {
		sodium_memzero(w->buf.text, w->buf.len);
		free(w->buf.text);
	}
	memset(w, 0, sizeof(*w));
}
