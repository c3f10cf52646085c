/*
 * wipemem.c - blocks that are wiped when freed (wipemem.h).
 */
#include "common/wipemem.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header keeps the block's size and preserves malloc's alignment. */
union block_header {
	size_t size;
	max_align_t align;
};

void *wipe_malloc(size_t size)
{
	union block_header *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	return h + 1;
}

void wipe_free(void *ptr)
{
	union block_header *h;

	if (!ptr)
		return;
	h = (union block_header *)ptr - 1;
	sodium_memzero(ptr, h->size);
	free(h);
}

void *wipe_realloc(void *ptr, size_t size)
{
	union block_header *h;
	void *moved;

	if (!ptr)
		return wipe_malloc(size);
	h = (union block_header *)ptr - 1;
	moved = wipe_malloc(size);
	if (!moved)
		return NULL;
	memcpy(moved, ptr, h->size < size ? h->size : size);
	wipe_free(ptr);
	return moved;
}
