/*
 * strcopy.c - a bounded string copy (strcopy.h).
 */
#include "common/strcopy.h"

#include <string.h>

bool str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size);
	bool fits = n < size;

	if (!fits)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return fits;
}
