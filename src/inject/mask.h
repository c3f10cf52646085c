/*
 * mask.h - the masking stream filter of `tresor run`: every occurrence of
 * an injected value in the child's output becomes "***".
 *
 * A struct mask is the set of byte strings to hide. mask_add_value adds a
 * value together with the forms it takes in logs:
 *
 *   - the value itself, and with "\n" as "\r\n" (what a terminal makes of it)
 *   - JSON-escaped: minimal escapes with UTF-8 kept, with "\/", and ASCII-only
 *     (\uXXXX in lower- and upper-case hex)
 *   - URL-encoded: RFC 3986 (upper- and lower-case hex), form encoding
 *     (space as '+'), and the sets JavaScript and Python leave unescaped
 *   - base64 and base64url: the whole value with and without padding, and
 *     the characters that the value alone decides wherever it starts inside
 *     a longer base64 text (its bytes from offset 0, 1 and 2, whole 3-byte
 *     groups, when that is at least MASK_MIN_LEN bytes)
 *
 * Values shorter than MASK_MIN_LEN bytes are not masked: they would hide
 * ordinary words and numbers, and masking them hides little.
 *
 * A struct mask_stream filters one output stream. It writes the filtered
 * bytes to a sink as soon as they are decided: bytes that could still be
 * the start of a hidden string are held back until the next write (or the
 * end of the stream) decides them, so a value split across writes is
 * masked too. Overlapping occurrences are masked as one run. Binary data is
 * fine: the filter works on bytes.
 */
#ifndef TRESOR_INJECT_MASK_H
#define TRESOR_INJECT_MASK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"

#define MASK_MIN_LEN     6
#define MASK_REPLACEMENT "***"

struct mask;
struct mask_stream;

/* An empty set; NULL when out of memory. */
struct mask *mask_new(void);
/* Wipes every string and frees the set; NULL is fine. */
void mask_free(struct mask *m);

/* Adds value (len bytes) and its derived forms; nothing when len is below
 * MASK_MIN_LEN. TR_EINTERNAL when out of memory. */
enum tr_status mask_add_value(struct mask *m, const void *value, size_t len);
/* Adds exactly these bytes (no derived forms), at least MASK_MIN_LEN of them. */
enum tr_status mask_add_exact(struct mask *m, const void *bytes, size_t len);
/* The number of distinct strings held. */
size_t mask_count(const struct mask *m);

/* Receives filtered output; returns 0, or -1 to stop the stream (an error). */
typedef int mask_sink_fn(void *ctx, const void *data, size_t len);

/* A stream over m (which must outlive it) writing to sink. NULL when out of memory. */
struct mask_stream *mask_stream_new(const struct mask *m, mask_sink_fn *sink, void *ctx);
/* Filters len more bytes. Returns 0, or -1 when the sink failed. */
int mask_stream_write(struct mask_stream *s, const void *data, size_t len);
/* Ends the stream: decides and writes whatever was held back. 0 or -1. */
int mask_stream_finish(struct mask_stream *s);
/* Bytes held back right now (for tests). */
size_t mask_stream_pending(const struct mask_stream *s);
/* Wipes what is held back and frees; NULL is fine. */
void mask_stream_free(struct mask_stream *s);

#endif
