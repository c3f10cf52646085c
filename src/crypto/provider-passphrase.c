/*
 * provider-passphrase.c - the "passphrase" provider family: the
 * key-encryption key is derived from a passphrase with Argon2id
 * (libsodium's crypto_pwhash, ALG_ARGON2ID13).
 *
 * Where the salt lives (see keyring.h and docs/keys.md):
 *  - the KDF file (DATA_DIR/passphrase-<id>.kdf, mode 0600) holds the salt
 *    and cost used for new wraps, plus a check value that tells a wrong
 *    passphrase apart at start-up. It is one line of text:
 *      tresor-kdf-v1 argon2id13 ops=3 mem_kib=65536 salt=<b64> check=<b64>
 *    check = BLAKE2b-256 keyed with the derived key over
 *    "tresor-passphrase-check-v1" || provider id. Nothing in it is secret.
 *  - every wrapped key repeats salt and cost in its header, so a blob stays
 *    readable with the passphrase alone, even if the file is lost.
 *
 * The passphrase and derived keys live in guarded pages. Keys for salts
 * other than the current one are derived on demand and kept in a small
 * cache guarded by a mutex; the current key never changes after set-up,
 * so wraps need no lock.
 */
#include "keyring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "files.h"

#define PP_FORMAT 2
#define PP_SALT_BYTES crypto_pwhash_SALTBYTES
#define PP_KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define PP_HEADER_BYTES (1 + 4 + 4 + PP_SALT_BYTES)
#define PP_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define PP_SEALED_BYTES (DATA_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define PP_WRAPPED_BYTES (PP_HEADER_BYTES + PP_NONCE_BYTES + PP_SEALED_BYTES)
#define PP_AAD_MAX (PP_HEADER_BYTES + TR_PROVIDER_ID_MAX)
#define PP_CHECK_BYTES 32
#define PP_CHECK_LABEL "tresor-passphrase-check-v1"
#define PP_CACHE 4
#define PP_KDF_FILE_MAX 512

/* A derived key and what it was derived with. */
struct pp_key {
	unsigned char salt[PP_SALT_BYTES];
	uint32_t ops;
	uint32_t mem_kib;
	unsigned char *key; /* guarded, read-only; NULL: empty slot */
};

struct pp_ctx {
	char id[TR_PROVIDER_ID_MAX + 1];
	char *pass; /* guarded, read-only */
	size_t pass_len;
	struct pp_key current; /* wraps; never changes after set-up */
	pthread_mutex_t lock;  /* guards cache and next */
	struct pp_key cache[PP_CACHE];
	size_t next; /* the cache slot replaced next */
};

/* ---- derivation ---- */

static int params_valid(uint32_t ops, uint32_t mem_kib)
{
	return ops >= 1 && ops <= PASSPHRASE_OPS_MAX && mem_kib >= PASSPHRASE_MEM_KIB_MIN &&
	       mem_kib <= PASSPHRASE_MEM_KIB_MAX;
}

/* Derives k->key from the passphrase with k's salt and cost. */
static enum tr_status pp_derive(const struct pp_ctx *c, struct pp_key *k, struct tr_error *err)
{
	unsigned char *key = sodium_malloc(PP_KEY_BYTES);

	if (!key)
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for provider '%s'", c->id);
	if (crypto_pwhash(key, PP_KEY_BYTES, c->pass, c->pass_len, k->salt, k->ops, (size_t)k->mem_kib * 1024u,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_free(key);
		return tr_error_set(err, TR_EINTERNAL,
		                    "key derivation for provider '%s' failed (out of memory? it needs %u MiB)", c->id,
		                    (unsigned)(k->mem_kib / 1024u));
	}
	sodium_mprotect_readonly(key);
	k->key = key;
	return TR_OK;
}

static void pp_key_clear(struct pp_key *k)
{
	sodium_free(k->key);
	memset(k, 0, sizeof(*k));
}

static int pp_key_matches(const struct pp_key *k, const unsigned char *salt, uint32_t ops, uint32_t mem_kib)
{
	return k->key && k->ops == ops && k->mem_kib == mem_kib && sodium_memcmp(k->salt, salt, PP_SALT_BYTES) == 0;
}

/* The check value of a derived key (see the head comment). */
static void pp_check_value(const struct pp_ctx *c, const unsigned char *key, unsigned char out[PP_CHECK_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, PP_KEY_BYTES, PP_CHECK_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)PP_CHECK_LABEL, sizeof(PP_CHECK_LABEL) - 1);
	crypto_generichash_update(&st, (const unsigned char *)c->id, strlen(c->id));
	crypto_generichash_final(&st, out, PP_CHECK_BYTES);
}

/* ---- the KDF file ---- */

struct kdf_state {
	struct pp_key k; /* salt and cost; key not derived yet */
	unsigned char check[PP_CHECK_BYTES];
};

static int b64_decode_exact(const char *text, unsigned char *out, size_t want)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, want, text, strlen(text), NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return got == want && end && *end == '\0' ? 0 : -1;
}

/* Parses the one line of a KDF file into *s. */
static enum tr_status kdf_parse(const char *text, const char *path, struct kdf_state *s, struct tr_error *err)
{
	char salt[64], check[64];
	unsigned ops, mem;
	int used = 0;

	if (sscanf(text, "tresor-kdf-v1 argon2id13 ops=%u mem_kib=%u salt=%63s check=%63s%n", &ops, &mem, salt, check,
	           &used) != 4 ||
	    strspn(text + used, "\r\n ") != strlen(text + used) || !params_valid(ops, mem) ||
	    b64_decode_exact(salt, s->k.salt, PP_SALT_BYTES) != 0 ||
	    b64_decode_exact(check, s->check, PP_CHECK_BYTES) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "passphrase KDF file '%s' is damaged (expected one line "
		                                      "'tresor-kdf-v1 argon2id13 ops=N mem_kib=N salt=... check=...')",
		                    path);
	s->k.ops = ops;
	s->k.mem_kib = mem;
	return TR_OK;
}

/* Reads and parses path. TR_ENOTFOUND (message set) if it does not exist. */
static enum tr_status kdf_read(const char *path, struct kdf_state *s, struct tr_error *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	enum tr_status st;

	st = crypto_file_read_secret(path, "passphrase KDF file", PP_KDF_FILE_MAX, &text, &len, err);
	if (st != TR_OK)
		return st;
	st = kdf_parse((const char *)text, path, s, err);
	sodium_free(text);
	return st;
}

/* Writes a new KDF file for c->current; TR_ECONFLICT if one appeared meanwhile. */
static enum tr_status kdf_write(const struct pp_ctx *c, const char *path, struct tr_error *err)
{
	unsigned char check[PP_CHECK_BYTES];
	char salt_b64[sodium_base64_ENCODED_LEN(PP_SALT_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char check_b64[sodium_base64_ENCODED_LEN(PP_CHECK_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char line[PP_KDF_FILE_MAX];
	int n;

	pp_check_value(c, c->current.key, check);
	sodium_bin2base64(salt_b64, sizeof(salt_b64), c->current.salt, PP_SALT_BYTES, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(check_b64, sizeof(check_b64), check, PP_CHECK_BYTES, sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(line, sizeof(line), "tresor-kdf-v1 argon2id13 ops=%u mem_kib=%u salt=%s check=%s\n",
	             (unsigned)c->current.ops, (unsigned)c->current.mem_kib, salt_b64, check_b64);
	if (n < 0 || (size_t)n >= sizeof(line))
		return tr_error_set(err, TR_EINTERNAL, "passphrase KDF line too long");
	return crypto_file_create(path, line, (size_t)n, err);
}

/* Derives the current key from an existing KDF file and checks it. */
static enum tr_status current_from_file(struct pp_ctx *c, const struct kdf_state *s, const char *path,
                                        struct tr_error *err)
{
	unsigned char check[PP_CHECK_BYTES];
	enum tr_status st;

	c->current = s->k;
	c->current.key = NULL;
	if ((st = pp_derive(c, &c->current, err)) != TR_OK)
		return st;
	pp_check_value(c, c->current.key, check);
	if (sodium_memcmp(check, s->check, PP_CHECK_BYTES) != 0)
		return tr_error_set(err, TR_ECRYPTO, "wrong passphrase for key provider '%s' (it does not match '%s')",
		                    c->id, path);
	return TR_OK;
}

/* Sets up c->current from kdf_path, creating the file (fresh salt, the
 * given cost) when it does not exist. */
static enum tr_status current_setup(struct pp_ctx *c, const struct passphrase_params *params, const char *path,
                                    struct tr_error *err)
{
	struct kdf_state s;
	enum tr_status st;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		memset(&s, 0, sizeof(s));
		st = kdf_read(path, &s, err);
		if (st == TR_OK)
			return current_from_file(c, &s, path, err);
		if (st != TR_ENOTFOUND)
			return st;
		pp_key_clear(&c->current);
		randombytes_buf(c->current.salt, PP_SALT_BYTES);
		c->current.ops = params->ops_limit;
		c->current.mem_kib = params->mem_kib;
		if ((st = pp_derive(c, &c->current, err)) != TR_OK)
			return st;
		st = kdf_write(c, path, err);
		if (st != TR_ECONFLICT) /* created, or failed: either way done */
			return st;
		/* Another process made the file first: use its salt. */
	}
	return tr_error_set(err, TR_EUNAVAIL, "passphrase KDF file '%s' keeps changing", path);
}

/* ---- wrap / unwrap ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The AAD of a blob: its header, then the provider id. */
static size_t pp_aad(const unsigned char *header, const char *provider_id, unsigned char aad[PP_AAD_MAX])
{
	size_t id_len = strnlen(provider_id, TR_PROVIDER_ID_MAX);

	memcpy(aad, header, PP_HEADER_BYTES);
	memcpy(aad + PP_HEADER_BYTES, provider_id, id_len);
	return PP_HEADER_BYTES + id_len;
}

static enum tr_status pp_wrap(void *ctx, const char *provider_id, const unsigned char dk[DATA_KEY_BYTES],
                              unsigned char **out, size_t *out_len, struct tr_error *err)
{
	const struct pp_ctx *c = ctx;
	unsigned char aad[PP_AAD_MAX];
	unsigned char *blob;
	unsigned long long sealed_len;
	size_t aad_len;

	if (!(blob = malloc(PP_WRAPPED_BYTES)))
		return tr_error_set(err, TR_EINTERNAL, "out of memory wrapping data key");
	blob[0] = PP_FORMAT;
	put_u32(blob + 1, c->current.ops);
	put_u32(blob + 5, c->current.mem_kib);
	memcpy(blob + 9, c->current.salt, PP_SALT_BYTES);
	randombytes_buf(blob + PP_HEADER_BYTES, PP_NONCE_BYTES);
	aad_len = pp_aad(blob, provider_id, aad);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(blob + PP_HEADER_BYTES + PP_NONCE_BYTES, &sealed_len, dk,
	                                               DATA_KEY_BYTES, aad, aad_len, NULL, blob + PP_HEADER_BYTES,
	                                               c->current.key) != 0 ||
	    sealed_len != PP_SEALED_BYTES) {
		free(blob);
		return tr_error_set(err, TR_EINTERNAL, "data key wrap failed for provider '%s'", provider_id);
	}
	*out = blob;
	*out_len = PP_WRAPPED_BYTES;
	return TR_OK;
}

static int pp_open(const unsigned char *key, const char *provider_id, const unsigned char *in,
                   unsigned char dk[DATA_KEY_BYTES])
{
	unsigned char aad[PP_AAD_MAX];
	unsigned long long dk_len;
	size_t aad_len = pp_aad(in, provider_id, aad);

	return crypto_aead_xchacha20poly1305_ietf_decrypt(dk, &dk_len, NULL, in + PP_HEADER_BYTES + PP_NONCE_BYTES,
	                                                  PP_SEALED_BYTES, aad, aad_len, in + PP_HEADER_BYTES,
	                                                  key) == 0 &&
	               dk_len == DATA_KEY_BYTES
	           ? 0
	           : -1;
}

/* Unwraps a blob made with another salt or cost: the key comes from the
 * cache, derived now if it is not there. Runs under c->lock. */
static enum tr_status pp_open_cached(struct pp_ctx *c, const char *provider_id, const unsigned char *in,
                                     unsigned char dk[DATA_KEY_BYTES], struct tr_error *err)
{
	uint32_t ops = get_u32(in + 1), mem = get_u32(in + 5);
	const unsigned char *salt = in + 9;
	struct pp_key *slot = NULL;
	enum tr_status st;

	if (!params_valid(ops, mem))
		return TR_ECRYPTO;
	for (size_t i = 0; i < PP_CACHE && !slot; i++)
		if (pp_key_matches(&c->cache[i], salt, ops, mem))
			slot = &c->cache[i];
	if (!slot) {
		slot = &c->cache[c->next];
		c->next = (c->next + 1) % PP_CACHE;
		pp_key_clear(slot);
		memcpy(slot->salt, salt, PP_SALT_BYTES);
		slot->ops = ops;
		slot->mem_kib = mem;
		if ((st = pp_derive(c, slot, err)) != TR_OK) {
			pp_key_clear(slot);
			return st;
		}
	}
	return pp_open(slot->key, provider_id, in, dk) == 0 ? TR_OK : TR_ECRYPTO;
}

static enum tr_status pp_unwrap(void *ctx, const char *provider_id, const unsigned char *in, size_t in_len,
                                unsigned char dk[DATA_KEY_BYTES], struct tr_error *err)
{
	struct pp_ctx *c = ctx;
	enum tr_status st = TR_ECRYPTO;

	if (!in || in_len != PP_WRAPPED_BYTES || in[0] != PP_FORMAT)
		goto fail;
	if (pp_key_matches(&c->current, in + 9, get_u32(in + 1), get_u32(in + 5))) {
		st = pp_open(c->current.key, provider_id, in, dk) == 0 ? TR_OK : TR_ECRYPTO;
	} else {
		pthread_mutex_lock(&c->lock);
		st = pp_open_cached(c, provider_id, in, dk, err);
		pthread_mutex_unlock(&c->lock);
	}
	if (st == TR_OK)
		return TR_OK;
fail:
	sodium_memzero(dk, DATA_KEY_BYTES);
	if (st != TR_ECRYPTO)
		return st; /* err already says why */
	return tr_error_set(err, TR_ECRYPTO, "data key unwrap failed for provider '%s'", provider_id);
}

static void pp_destroy(void *ctx)
{
	struct pp_ctx *c = ctx;

	if (!c)
		return;
	pp_key_clear(&c->current);
	for (size_t i = 0; i < PP_CACHE; i++)
		pp_key_clear(&c->cache[i]);
	sodium_free(c->pass);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct key_provider_ops passphrase_ops = {
	.family = "passphrase",
	.wrap = pp_wrap,
	.unwrap = pp_unwrap,
	.destroy = pp_destroy,
};

/* ---- construction ---- */

static enum tr_status pp_check_args(const char *id, const char *pass, size_t len,
                                    const struct passphrase_params *params, const char *kdf_path,
                                    struct key_provider **out, struct tr_error *err)
{
	if (!id || !pass || !kdf_path || !out)
		return tr_error_set(err, TR_EINVAL,
		                    "provider_passphrase_new needs an id, a passphrase, a path and an output");
	if (!keyring_id_valid(id))
		return tr_error_set(err, TR_EINVAL, "key provider id must be 1 to %d letters, digits, '_', '-' or '.'",
		                    TR_PROVIDER_ID_MAX);
	if (len < PASSPHRASE_MIN_LEN || len > PASSPHRASE_MAX_LEN)
		return tr_error_set(err, TR_EINVAL, "passphrase for provider '%s' must be %d to %d bytes", id,
		                    PASSPHRASE_MIN_LEN, PASSPHRASE_MAX_LEN);
	if (!params_valid(params->ops_limit, params->mem_kib))
		return tr_error_set(err, TR_EINVAL,
		                    "passphrase cost for provider '%s': ops_limit must be 1 to %u and memory %u KiB to "
		                    "%u KiB",
		                    id, PASSPHRASE_OPS_MAX, PASSPHRASE_MEM_KIB_MIN, PASSPHRASE_MEM_KIB_MAX);
	return TR_OK;
}

static struct pp_ctx *pp_ctx_new(const char *id, const char *pass, size_t len)
{
	struct pp_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (!(c->pass = sodium_malloc(len))) {
		free(c);
		return NULL;
	}
	memcpy(c->pass, pass, len);
	sodium_mprotect_readonly(c->pass);
	c->pass_len = len;
	snprintf(c->id, sizeof(c->id), "%s", id);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

enum tr_status provider_passphrase_new(const char *id, const char *passphrase, size_t len,
                                       const struct passphrase_params *params, const char *kdf_path,
                                       struct key_provider **out, struct tr_error *err)
{
	static const struct passphrase_params defaults = {PASSPHRASE_OPS_DEFAULT, PASSPHRASE_MEM_KIB_DEFAULT};
	struct key_provider *p;
	struct pp_ctx *c;
	enum tr_status st;

	if (!params)
		params = &defaults;
	if ((st = pp_check_args(id, passphrase, len, params, kdf_path, out, err)) != TR_OK)
		return st;
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");
	p = calloc(1, sizeof(*p));
	c = pp_ctx_new(id, passphrase, len);
	if (!p || !c) {
		free(p);
		pp_destroy(c);
		return tr_error_set(err, TR_EINTERNAL, "out of memory creating provider '%s'", id);
	}
	if ((st = current_setup(c, params, kdf_path, err)) != TR_OK) {
		free(p);
		pp_destroy(c);
		return st;
	}
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->ops = &passphrase_ops;
	p->ctx = c;
	*out = p;
	return TR_OK;
}
