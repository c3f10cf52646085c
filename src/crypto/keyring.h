/*
 * keyring.h - key-encryption-key providers and the keyring that holds them.
 *
 * A provider wraps and unwraps 32-byte data keys; it never sees a secret's
 * value. Providers sit behind one ops table (families "secret_key",
 * "passphrase" and "exec") so the envelope never knows which kind it talks
 * to. The keyring maps provider ids to providers and names the current
 * one, which wraps every new write; the others still unwrap, so a rotation
 * can add a provider without making old records unreadable. Building a
 * keyring from the YAML config is keyring-config.h's job.
 *
 * Key material lives in sodium_malloc'd guarded pages, read-only once
 * loaded, wiped on free. A keyring is immutable after set-up and may then
 * be shared by all threads: every provider's wrap and unwrap may be called
 * from any thread at once (a provider with mutable state locks inside).
 */
#ifndef TRESOR_CRYPTO_KEYRING_H
#define TRESOR_CRYPTO_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"

#define DATA_KEY_BYTES 32

struct key_provider_ops {
	const char *family; /* "secret_key", "passphrase" or "exec" */
	/* Wraps dk into a fresh heap buffer *out (free with free()).
	 * TR_EUNAVAIL when the provider cannot work right now (a plugin that
	 * crashed or hung). */
	enum tr_status (*wrap)(void *ctx, const char *provider_id, const unsigned char dk[DATA_KEY_BYTES],
	                       unsigned char **out, size_t *out_len, struct tr_error *err);
	/* Unwraps into dk (caller's guarded memory). TR_ECRYPTO if the blob was
	 * not made by this provider's key or was altered, TR_EUNAVAIL if the
	 * provider cannot work right now; dk is wiped on any failure. */
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
/* How many providers the keyring holds, and the i-th (in the order they
 * were added; NULL when i is out of range). */
size_t keyring_count(const struct keyring *kr);
const struct key_provider *keyring_at(const struct keyring *kr, size_t i);

/* A provider id: 1 to TR_PROVIDER_ID_MAX letters, digits, '_', '-' or '.'. */
int keyring_id_valid(const char *id);

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

/*
 * The "passphrase" family: the key-encryption key is derived from a
 * passphrase with Argon2id (crypto_pwhash). The salt and the cost are
 * chosen once and kept in kdf_path (a small text file, mode 0600, created
 * when missing) together with a check value, so a wrong passphrase is
 * refused here (TR_ECRYPTO, "wrong passphrase") instead of at the first
 * unwrap. Every wrapped key also carries its salt and cost in its header,
 * so the database plus the passphrase are enough to recover: a blob with
 * another salt (the file was lost and made again) is still unwrapped, by
 * deriving that key once and caching it.
 *
 * Wrapped form: 1 byte format (2) || u32 ops_limit (LE) || u32 mem_kib (LE)
 * || 16-byte salt || 24-byte nonce || sealed dk (48 bytes); AAD: the 25
 * header bytes, then the provider id.
 *
 * The passphrase must be PASSPHRASE_MIN_LEN to PASSPHRASE_MAX_LEN bytes;
 * params (NULL: the defaults) are used only when kdf_path is created.
 */
#define PASSPHRASE_MIN_LEN 8
#define PASSPHRASE_MAX_LEN 1024
#define PASSPHRASE_OPS_DEFAULT 3u
#define PASSPHRASE_OPS_MAX 10u
#define PASSPHRASE_MEM_KIB_DEFAULT (64u * 1024u)
#define PASSPHRASE_MEM_KIB_MIN 8u
#define PASSPHRASE_MEM_KIB_MAX (1024u * 1024u)

struct passphrase_params {
	uint32_t ops_limit; /* Argon2id passes, 1..PASSPHRASE_OPS_MAX */
	uint32_t mem_kib;   /* memory in KiB, PASSPHRASE_MEM_KIB_MIN..MAX */
};

enum tr_status provider_passphrase_new(const char *id, const char *passphrase, size_t len,
                                       const struct passphrase_params *params, const char *kdf_path,
                                       struct key_provider **out, struct tr_error *err);

/*
 * The "exec" family: an external KMS plugin, a program tresor starts and
 * talks to over its stdin/stdout with the line protocol of
 * docs/kms-plugin.md. The wrapped form is whatever the plugin returns.
 *
 * argv[0] is the program's path (no PATH search); env holds the only
 * variables it gets ("NAME=value"; NULL: none but a default PATH). Key
 * material crosses only the plugin's stdin/stdout. The plugin is started
 * and greeted here (a plugin that cannot start or answers wrongly is an
 * error now, not at the first write); after a crash, a timeout or a
 * garbled answer it is killed, the request fails with TR_EUNAVAIL, and the
 * next request starts it again. Each request must be answered within
 * timeout_ms. Requests are serialised (one at a time per provider).
 */
#define EXEC_TIMEOUT_MS_DEFAULT 5000
#define EXEC_TIMEOUT_MS_MAX 120000
#define EXEC_ARGS_MAX 32

struct exec_params {
	const char *const *argv; /* NULL-terminated, argv[0] an absolute or relative path */
	const char *const *env;  /* NULL-terminated "NAME=value" strings, or NULL */
	int timeout_ms;          /* per request; 0: EXEC_TIMEOUT_MS_DEFAULT */
};

enum tr_status provider_exec_new(const char *id, const struct exec_params *params, struct key_provider **out,
                                 struct tr_error *err);

#endif
