/*
 * jsonmem.h - make jansson wipe what it frees, and write compact JSON.
 *
 * Request bodies and /access responses pass secret values through jansson
 * trees and strings. After jsonmem_init() every block jansson frees is
 * zeroed first, so those values do not linger in freed heap memory. The
 * writers below wipe their text as it grows, for the same reason.
 */
#ifndef TRESOR_COMMON_JSONMEM_H
#define TRESOR_COMMON_JSONMEM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Installs the wiping allocator. Call once, before any jansson use. */
void jsonmem_init(void);

/* Compact JSON text of j in a fresh malloc'd, NUL-terminated buffer (not
 * jansson's allocator: free it with free()) with room for `spare` more
 * bytes after the text; *len gets the text's length. NULL on failure (for
 * instance a string that is not UTF-8). */
char *jsonmem_dump(const json_t *j, size_t spare, size_t *len);

/*
 * A document written in order, piece by piece, without a tree: the same
 * compact text jsonmem_dump makes of the tree it stands for. Separators
 * are the writer's. A call that fails (out of memory, a string that is not
 * UTF-8, nesting past JSONW_MAX_DEPTH, an end without a begin) makes every
 * later one do nothing, and jsonw_finish return NULL. The text is wiped
 * when it moves or is discarded.
 */
#define JSONW_MAX_DEPTH 32

struct jsonmem_buf { /* private */
	char *text;
	size_t len;
	size_t cap; /* bytes of text, the spare and the NUL included */
	size_t spare;
};

struct jsonw { /* private */
	struct jsonmem_buf buf;
	int depth;
	bool has_items[JSONW_MAX_DEPTH]; /* the container open at each depth has an item */
	bool after_key;
	bool failed;
};

/* Starts a document whose text will have room for `spare` more bytes. */
void jsonw_init(struct jsonw *w, size_t spare);
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* A member's key; its value is the next item written. */
void jsonw_key(struct jsonw *w, const char *key);
/* A string; NULL writes null. */
void jsonw_string(struct jsonw *w, const char *s);
/* A string; NULL or "" writes null. */
void jsonw_string_or_null(struct jsonw *w, const char *s);
/* A string of n bytes (it may hold NUL). */
void jsonw_stringn(struct jsonw *w, const char *s, size_t n);
void jsonw_integer(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A jansson value, as jsonmem_dump writes it. */
void jsonw_value(struct jsonw *w, const json_t *j);
/* The text (malloc'd, NUL-terminated, `spare` bytes of room after it;
 * free it with free()) and its length; NULL if a call failed or the
 * document is not whole. Either way w is done with. */
char *jsonw_finish(struct jsonw *w, size_t *len);
/* Drops the document, wiping its text. */
void jsonw_discard(struct jsonw *w);

#endif
