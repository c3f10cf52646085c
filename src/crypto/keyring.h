/*
 * keyring.h - key-encryption-key providers and the keyring that holds them.
 *
 * A provider wraps and unwraps 32-byte data keys; it never sees a secret's
 * value. Providers sit behind one ops table (families: "secret_key" now;
 * "passphrase" and "exec" later) so the envelope never knows which kind it
 * talks to. The keyring maps provider ids to providers and names the
 * current one, which wraps every new write; the others still unwrap, so a
 * rotation can add a provider without making old records unreadable.
 *
 * Key material lives in sodium_malloc'd guarded pages, read-only once
 * loaded, wiped on free. A keyring is immutable after set-up and may then
 * be shared by all threads.
 */
#ifndef TRESOR_CRYPTO_KEYRING_H
#define TRESOR_CRYPTO_KEYRING_H

#include <stddef.h>

#include "common/limits.h"
#include "common/status.h"

#define DATA_KEY_BYTES 32

struct key_provider_ops {
	const char *family; /* "secret_key" */
	/* Wraps dk into a fresh heap buffer *out (free with free()). */
	enum tr_status (*wrap)(void *ctx, const char *provider_id, const unsigned char dk[DATA_KEY_BYTES],
	                       unsigned char **out, size_t *out_len, struct tr_error *err);
	/* Unwraps into dk (caller's guarded memory). TR_ECRYPTO if the blob was
	 * not made by this provider's key or was altered; dk is wiped then. */
	enum tr_status (*unwrap)(void *ctx, const char *provider_id, const unsigned char *in, size_t in_len,
	                         unsigned char dk[DATA_KEY_BYTES], struct tr_error *err);
	void (*destroy)(void *ctx);
};

struct key_provider {
	char id[TR_PROVIDER_ID_MAX + 1]; /* e.g. "local" or "local_v2" */
	const struct key_provider_ops *ops;
	void *ctx;
};

struct keyring;

enum tr_status keyring_new(struct keyring **out, struct tr_error *err);
/* Destroys every provider; NULL is fine. */
void keyring_free(struct keyring *kr);
/* Takes ownership of p (even on failure). TR_ECONFLICT on a duplicate id. */
enum tr_status keyring_add(struct keyring *kr, struct key_provider *p, struct tr_error *err);
/* TR_ENOTFOUND if no provider has that id. */
enum tr_status keyring_set_current(struct keyring *kr, const char *id, struct tr_error *err);
/* The provider with that id, or NULL. */
const struct key_provider *keyring_get(const struct keyring *kr, const char *id);
/* The current provider, or NULL if none is set. */
const struct key_provider *keyring_current(const struct keyring *kr);

/*
 * The "secret_key" family: a raw key of >= 32 bytes. A 32-byte key is used
 * as the XChaCha20-Poly1305 key as it is; a longer one is hashed down to 32
 * bytes with BLAKE2b. Wrapped form: 1 byte format (1) || 24-byte nonce || sealed dk,
 * with the provider id as AAD.
 */
enum tr_status provider_secret_key_new(const char *id, const unsigned char *key, size_t key_len,
                                       struct key_provider **out, struct tr_error *err);

/*
 * The embedded default: a 32-byte random key in a file (mode 0600), created
 * if missing and create is non-zero. Refuses a file that is readable by
 * group or others, or that is not exactly 32 bytes.
 */
enum tr_status provider_key_file_open(const char *id, const char *path, int create,
                                      struct key_provider **out, struct tr_error *err);

#endif
