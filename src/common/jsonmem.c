/*
 * jsonmem.c - a size-prefixed malloc/free pair for jansson that wipes
 * each block before releasing it.
 */
#include "common/jsonmem.h"

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header keeps the block's size and preserves malloc's alignment. */
union block_header {
	size_t size;
	max_align_t align;
};

static void *wiping_malloc(size_t size)
{
	union block_header *h = malloc(sizeof(*h) + size);

	if (!h)
		return NULL;
	h->size = size;
	return h + 1;
}

static void wiping_free(void *ptr)
{
	union block_header *h;

	if (!ptr)
		return;
	h = (union block_header *)ptr - 1;
	sodium_memzero(ptr, h->size);
	free(h);
}

void jsonmem_init(void)
{
	json_set_alloc_funcs(wiping_malloc, wiping_free);
}

/* A dump under way: text grows by doubling; what it held is wiped when
 * it moves, since a document may hold values. */
struct dump_buf {
	char *text;
	size_t len;
	size_t cap; /* bytes of text, the spare and the NUL included */
	size_t spare;
};

#define DUMP_FIRST_CAP 2048

static int dump_grow(struct dump_buf *b, size_t need)
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

/* jansson's output callback: appends one piece. */
static int dump_append(const char *piece, size_t size, void *data)
{
	struct dump_buf *b = data;
	size_t need = b->len + size + b->spare + 1;

	if (need < b->len || (need > b->cap && dump_grow(b, need) != 0))
		return -1;
	memcpy(b->text + b->len, piece, size);
	b->len += size;
	return 0;
}

char *jsonmem_dump(const json_t *j, size_t spare, size_t *len)
{
	struct dump_buf b = {.spare = spare};

	if (dump_grow(&b, spare + 1) != 0)
		return NULL;
	if (json_dump_callback(j, dump_append, &b, JSON_COMPACT) != 0) {
		sodium_memzero(b.text, b.len);
		free(b.text);
		return NULL;
	}
	*len = b.len;
	b.text[b.len] = '\0';
	return b.text;
}
