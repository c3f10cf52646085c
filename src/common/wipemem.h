/*
 * wipemem.h - a malloc/realloc/free triple that wipes every block before
 * releasing it, for the libraries whose buffers may hold values or tokens:
 * jansson (JSON trees, jsonmem_init) and libevent (request and reply
 * buffers, header lines; the server and the command line install it).
 */
#ifndef TRESOR_COMMON_WIPEMEM_H
#define TRESOR_COMMON_WIPEMEM_H

#include <stddef.h>

/* malloc itself (the size to wipe is the block's own, malloc_usable_size):
 * a block from here may be released with free(), unwiped. */
void *wipe_malloc(size_t size);

/* Moves the block to a new one (the old one is wiped and freed): nothing
 * is left behind where realloc would have grown the block in place. NULL
 * (and the block untouched) without memory. */
void *wipe_realloc(void *ptr, size_t size);

/* Wipes the whole block and frees it; NULL is allowed. For blocks from
 * wipe_malloc, wipe_realloc or malloc. */
void wipe_free(void *ptr);

#endif
