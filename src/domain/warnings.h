/*
 * warnings.h - non-fatal remarks on a request ("name is not DNS-portable"),
 * returned to the client in a "warnings" array. Never holds a value.
 */
#ifndef TRESOR_DOMAIN_WARNINGS_H
#define TRESOR_DOMAIN_WARNINGS_H

#include <stddef.h>

#define WARNINGS_MAX 8
#define WARNING_LEN 192

struct warnings {
	size_t count;
	char items[WARNINGS_MAX][WARNING_LEN];
};

/* Appends a warning; extra warnings beyond WARNINGS_MAX are dropped. NULL w is fine. */
void warnings_add(struct warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
