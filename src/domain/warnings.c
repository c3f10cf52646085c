/*
 * warnings.c - collecting warnings for a response.
 */
#include "domain/warnings.h"

#include <stdarg.h>
#include <stdio.h>

void warnings_add(struct warnings *w, const char *fmt, ...)
{
	va_list ap;

	if (!w || w->count >= WARNINGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(w->items[w->count], WARNING_LEN, fmt, ap);
	va_end(ap);
	w->count++;
}
