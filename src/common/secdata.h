/*
 * secdata.h - secret bytes and a secret's key/value data.
 *
 * struct secbuf is the one type for bytes that must not outlive their use:
 * decrypted values, plaintext records. It is wiped with sodium_memzero on
 * every free. struct secdata is the ordered set of a secret's keys and
 * values; its wire form (secdata_encode/decode) is what the envelope seals:
 *
 *   u32 count, then per item: u16 key_len, key bytes, u32 value_len, value
 *   bytes (all little-endian). Keys are unique; values may hold any byte.
 *
 * Long-lived key material does not use secbuf: it lives in sodium_malloc'd
 * guarded pages owned by the crypto layer.
 */
#ifndef TRESOR_COMMON_SECDATA_H
#define TRESOR_COMMON_SECDATA_H

#include <stddef.h>

#include "status.h"

struct secbuf {
	unsigned char *data; /* NUL-terminated for convenience (not counted in len) */
	size_t len;
};

/* Copies len bytes into a fresh buffer. */
enum tr_status secbuf_set(struct secbuf *buf, const void *data, size_t len);
/* Wipes and frees; leaves buf empty. Safe on an empty buffer. */
void secbuf_clear(struct secbuf *buf);

struct secdata_item {
	char *key;           /* key name (not secret) */
	struct secbuf value; /* the value */
};

struct secdata {
	struct secdata_item *items;
	size_t count;
};

/* Adds key=value; TR_ECONFLICT if the key exists already. */
enum tr_status secdata_add(struct secdata *d, const char *key, const void *value, size_t value_len);
/* The item with that key, or NULL. */
const struct secdata_item *secdata_find(const struct secdata *d, const char *key);
/* Sum of key and value lengths (the quantity TR_MAX_DATA limits). */
size_t secdata_size(const struct secdata *d);
/* Wipes every value and frees everything; leaves d empty. */
void secdata_clear(struct secdata *d);

/* Serialises d into out (a fresh secbuf). */
enum tr_status secdata_encode(const struct secdata *d, struct secbuf *out);
/* Parses the wire form into out (which must be empty). TR_ECRYPTO on
 * truncated or malformed input; out is left empty on failure. */
enum tr_status secdata_decode(const unsigned char *buf, size_t len, struct secdata *out);

#endif
