/*
 * strcopy.h - a bounded string copy for fixed-size name fields.
 */
#ifndef TRESOR_COMMON_STRCOPY_H
#define TRESOR_COMMON_STRCOPY_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst, which holds size bytes (size >= 1), cutting it
 * short as snprintf(dst, size, "%s", src) would, without formatting.
 * True if all of src fit. */
bool str_copy(char *dst, size_t size, const char *src);

#endif
