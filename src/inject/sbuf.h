/*
 * sbuf.h - a growable byte buffer for the inject layer, wiped when it
 * grows and when it is freed, since what it holds (expanded arguments,
 * .env lines, manifests) may carry secret values.
 *
 * The bytes are always followed by a NUL that len does not count, so a
 * buffer holding text can be used as a C string.
 */
#ifndef TRESOR_INJECT_SBUF_H
#define TRESOR_INJECT_SBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/status.h"

struct sbuf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes held, not counting the NUL */
	size_t cap; /* bytes allocated */
};

/* Appends len bytes. TR_EINTERNAL when out of memory (b is unchanged). */
enum tr_status sbuf_add(struct sbuf *b, const void *data, size_t len);
/* Appends a NUL-terminated string. */
enum tr_status sbuf_adds(struct sbuf *b, const char *s);
/* Appends one byte. */
enum tr_status sbuf_addc(struct sbuf *b, char c);
/* Appends printf-style text (up to 511 bytes; not for secret values). */
enum tr_status sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (a malloc'd, NUL-terminated string, "" when
 * empty) and leaves b empty; NULL when out of memory. */
char *sbuf_take(struct sbuf *b);
/* Wipes and frees; leaves b empty. */
void sbuf_clear(struct sbuf *b);

/* Wipes and frees a NUL-terminated string; NULL is fine. */
void inject_wipe_free(char *s);

#endif
