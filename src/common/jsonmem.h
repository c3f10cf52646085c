/*
 * jsonmem.h - make jansson wipe what it frees.
 *
 * Request bodies and /access responses pass secret values through jansson
 * trees and strings. After jsonmem_init() every block jansson frees is
 * zeroed first, so those values do not linger in freed heap memory.
 */
#ifndef TRESOR_COMMON_JSONMEM_H
#define TRESOR_COMMON_JSONMEM_H

#include <jansson.h>
#include <stddef.h>

/* Installs the wiping allocator. Call once, before any jansson use. */
void jsonmem_init(void);

/* Compact JSON text of j in a fresh malloc'd, NUL-terminated buffer (not
 * jansson's allocator: free it with free()) with room for `spare` more
 * bytes after the text; *len gets the text's length. NULL on failure (for
 * instance a string that is not UTF-8). */
char *jsonmem_dump(const json_t *j, size_t spare, size_t *len);

#endif
