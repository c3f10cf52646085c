/*
 * jsonmem.c - a size-prefixed malloc/free pair for jansson that wipes
 * each block before releasing it.
 */
#include "common/jsonmem.h"

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>

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

/* Most documents fit this; larger ones are dumped a second time. */
#define DUMP_FIRST_TRY 2048

char *jsonmem_dump(const json_t *j, size_t spare, size_t *len)
{
	char *text = malloc(DUMP_FIRST_TRY + spare + 1);
	size_t need;

	if (!text)
		return NULL;
	need = json_dumpb(j, text, DUMP_FIRST_TRY, JSON_COMPACT);
	if (need == 0 || need > DUMP_FIRST_TRY) {
		/* Too big (or failed): start over with the exact size. The first
		 * attempt may hold part of a value: wipe it. */
		sodium_memzero(text, DUMP_FIRST_TRY);
		free(text);
		text = need ? malloc(need + spare + 1) : NULL;
		if (!text)
			return NULL;
		need = json_dumpb(j, text, need, JSON_COMPACT);
	}
	*len = need;
	text[need] = '\0';
	return text;
}
