/*
 * sbuf.c - the inject layer's growable buffer: every old or freed block is
 * wiped first (sodium_memzero), never realloc'd in place.
 */
#include "inject/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define SBUF_FIRST_CAP 64

/* Makes room for need more bytes plus the NUL. */
static enum tr_status sbuf_reserve(struct sbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : SBUF_FIRST_CAP;
	char *data;

	if (need > (size_t)-1 / 2 - b->len)
		return TR_EINTERNAL;
	if (b->len + need + 1 <= b->cap)
		return TR_OK;
	while (cap < b->len + need + 1)
		cap *= 2;
	data = malloc(cap);
	if (!data)
		return TR_EINTERNAL;
	if (b->data) {
		memcpy(data, b->data, b->len);
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = data;
	b->cap = cap;
	b->data[b->len] = '\0';
	return TR_OK;
}

enum tr_status sbuf_add(struct sbuf *b, const void *data, size_t len)
{
	if (sbuf_reserve(b, len) != TR_OK)
		return TR_EINTERNAL;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return TR_OK;
}

enum tr_status sbuf_adds(struct sbuf *b, const char *s)
{
	return sbuf_add(b, s, strlen(s));
}

enum tr_status sbuf_addc(struct sbuf *b, char c)
{
	return sbuf_add(b, &c, 1);
}

enum tr_status sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		return TR_EINTERNAL;
	return sbuf_add(b, text, (size_t)n);
}

char *sbuf_take(struct sbuf *b)
{
	char *s;

	if (!b->data && sbuf_reserve(b, 0) != TR_OK)
		return NULL;
	s = b->data;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return s;
}

void sbuf_clear(struct sbuf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void inject_wipe_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
