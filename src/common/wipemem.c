/*
 * wipemem.c - blocks that are wiped when freed (wipemem.h).
 *
 * The size to wipe is the block's own, as the allocator reports it
 * (malloc_usable_size): no header in front, so requests keep their sizes
 * and glibc serves the small ones from its per-thread cache as before (a
 * header would push libevent's 1,024-byte buffers past that cache's limit).
 */
#include "common/wipemem.h"

#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void *wipe_malloc(size_t size)
{
	return malloc(size);
}

void wipe_free(void *ptr)
{
	if (!ptr)
		return;
	sodium_memzero(ptr, malloc_usable_size(ptr));
	free(ptr);
}

void *wipe_realloc(void *ptr, size_t size)
{
	size_t old;
	void *moved;

	if (!ptr)
		return malloc(size);
	old = malloc_usable_size(ptr);
	moved = malloc(size);
	if (!moved)
		return NULL;
	memcpy(moved, ptr, old < size ? old : size);
	wipe_free(ptr);
	return moved;
}
