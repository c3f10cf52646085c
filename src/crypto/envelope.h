/*
 * envelope.h - the barrier: the only place where secret data is sealed and
 * opened (SPEC §7). Storage only ever sees what this produces.
 *
 * Every sealed version gets its own random 256-bit data key; the data is
 * sealed with XChaCha20-Poly1305 under that key, and the key is wrapped by
 * the keyring's current provider. The AAD binds the record to its identity
 * (workspace, project, cluster, name, version, type), so a record copied to
 * another secret, scope or version, or relabelled with another type, fails
 * to open.
 *
 * Record format (version 1):
 *   byte 0      : 0x01 (format version)
 *   bytes 1..24 : nonce
 *   rest        : ciphertext || 16-byte tag
 * AAD: "tresor-envelope-v1" then each identity field as u32 length (LE) +
 * bytes, in the order workspace, project, cluster, name, type, then the
 * version as 8 bytes LE.
 */
#ifndef TRESOR_CRYPTO_ENVELOPE_H
#define TRESOR_CRYPTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/secdata.h"
#include "common/status.h"
#include "crypto/keyring.h"

struct envelope_identity {
	const char *workspace;
	const char *project; /* "" or NULL: none */
	const char *cluster; /* "" or NULL: none */
	const char *name;
	const char *type;
	int64_t version;
};

struct envelope_sealed {
	char provider[TR_PROVIDER_ID_MAX + 1];
	unsigned char *wrapped_key; /* heap */
	size_t wrapped_key_len;
	unsigned char *record; /* heap */
	size_t record_len;
};

/* Seals plaintext for id under a fresh data key wrapped by the keyring's
 * current provider. *out is filled only on success. */
enum tr_status envelope_seal(const struct keyring *kr, const struct envelope_identity *id,
                             const unsigned char *plaintext, size_t len, struct envelope_sealed *out,
                             struct tr_error *err);

/* Opens a record. TR_EUNAVAIL if the provider is not in the keyring;
 * TR_ECRYPTO if the wrapped key or the record fails authentication (wrong
 * identity, tampering). *out (a secbuf) is filled only on success. */
enum tr_status envelope_open(const struct keyring *kr, const struct envelope_identity *id,
                             const char *provider, const unsigned char *wrapped_key, size_t wrapped_key_len,
                             const unsigned char *record, size_t record_len, struct secbuf *out,
                             struct tr_error *err);

/* Unwraps a data key with `provider` and wraps it again with the current
 * provider (rotation). Fills only out->provider and out->wrapped_key; the
 * record is untouched, so out->record stays NULL. */
enum tr_status envelope_rewrap(const struct keyring *kr, const char *provider, const unsigned char *wrapped_key,
                               size_t wrapped_key_len, struct envelope_sealed *out, struct tr_error *err);

/*
 * Guarded memory for data keys, for callers that handle many records in a
 * row (rotation): one sodium_malloc'd page for the whole run, wiped after
 * every use. One per thread: not safe to share. (Single operations use a
 * page of their thread's own, kept for the life of the thread.)
 */
struct envelope_scratch;

enum tr_status envelope_scratch_new(struct envelope_scratch **out, struct tr_error *err);
/* NULL is fine. */
void envelope_scratch_free(struct envelope_scratch *s);

/* envelope_rewrap with the data key held in scratch (NULL: a fresh page). */
enum tr_status envelope_rewrap_with(const struct keyring *kr, struct envelope_scratch *scratch, const char *provider,
                                    const unsigned char *wrapped_key, size_t wrapped_key_len,
                                    struct envelope_sealed *out, struct tr_error *err);

/* Re-encryption (rotation with reencrypt): opens the record as
 * envelope_open does, then seals the same plaintext for the same identity
 * under a fresh data key wrapped by the current provider. The plaintext
 * never leaves this module and is wiped; data keys are held in scratch
 * (NULL: fresh pages). *out is filled only on success. */
enum tr_status envelope_reseal(const struct keyring *kr, struct envelope_scratch *scratch,
                               const struct envelope_identity *id, const char *provider,
                               const unsigned char *wrapped_key, size_t wrapped_key_len, const unsigned char *record,
                               size_t record_len, struct envelope_sealed *out, struct tr_error *err);

/* Checks that `provider` is configured and unwraps wrapped_key (start-up
 * check of stored data); the data key is wiped at once. TR_EUNAVAIL when
 * the provider is missing or not working, TR_ECRYPTO when it cannot unwrap
 * this key. */
enum tr_status envelope_check_key(const struct keyring *kr, const char *provider, const unsigned char *wrapped_key,
                                  size_t wrapped_key_len, struct tr_error *err);

/* Health check of the current provider: wraps a throwaway random data key
 * and unwraps it again. TR_EUNAVAIL (or the provider's status) if either
 * fails. */
enum tr_status envelope_check_current(const struct keyring *kr, struct tr_error *err);

/* Frees the heap members; safe on a zeroed struct. */
void envelope_sealed_clear(struct envelope_sealed *s);

#endif
