/*
 * provider-secret-key.c - the "secret_key" provider family: data keys are
 * wrapped with XChaCha20-Poly1305 under a raw 32-byte key-encryption key.
 *
 * Wrapped form: 1 byte format (1) || 24-byte random nonce || sealed data key
 * (32 bytes + 16-byte tag), with the provider id as AAD so a blob wrapped
 * for one provider id cannot be presented as another's. The key lives in a
 * sodium_malloc'd page that is read-only after loading and is the
 * provider's ctx; nothing else holds a copy.
 */
#include "keyring.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define SK_FORMAT 1
#define SK_KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define SK_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SK_SEALED_BYTES (DATA_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define SK_WRAPPED_BYTES (1 + SK_NONCE_BYTES + SK_SEALED_BYTES)

static enum tr_status sk_wrap(void *ctx, const char *provider_id, const unsigned char dk[DATA_KEY_BYTES],
                              unsigned char **out, size_t *out_len, struct tr_error *err)
{
	const unsigned char *key = ctx;
	unsigned char *blob;
	unsigned long long sealed_len;

	blob = malloc(SK_WRAPPED_BYTES);
	if (!blob)
		return tr_error_set(err, TR_EINTERNAL, "out of memory wrapping data key");
	blob[0] = SK_FORMAT;
	randombytes_buf(blob + 1, SK_NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 1 + SK_NONCE_BYTES, &sealed_len, dk,
	                                               DATA_KEY_BYTES, (const unsigned char *)provider_id,
	                                               strlen(provider_id), NULL, blob + 1, key) != 0 ||
	    sealed_len != SK_SEALED_BYTES) {
		free(blob);
		return tr_error_set(err, TR_EINTERNAL, "data key wrap failed for provider '%s'", provider_id);
	}
	*out = blob;
	*out_len = SK_WRAPPED_BYTES;
	return TR_OK;
}

static enum tr_status sk_unwrap(void *ctx, const char *provider_id, const unsigned char *in, size_t in_len,
                                unsigned char dk[DATA_KEY_BYTES], struct tr_error *err)
{
	const unsigned char *key = ctx;
	unsigned long long dk_len;

	if (!in || in_len != SK_WRAPPED_BYTES || in[0] != SK_FORMAT)
		goto fail;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dk, &dk_len, NULL, in + 1 + SK_NONCE_BYTES,
	                                               SK_SEALED_BYTES, (const unsigned char *)provider_id,
	                                               strlen(provider_id), in + 1, key) != 0 ||
	    dk_len != DATA_KEY_BYTES)
		goto fail;
	return TR_OK;

fail:
	sodium_memzero(dk, DATA_KEY_BYTES);
	return tr_error_set(err, TR_ECRYPTO, "data key unwrap failed for provider '%s'", provider_id);
}

static void sk_destroy(void *ctx)
{
	sodium_free(ctx); /* makes the page writable, wipes it, unmaps it */
}

static const struct key_provider_ops secret_key_ops = {
	.family = "secret_key",
	.wrap = sk_wrap,
	.unwrap = sk_unwrap,
	.destroy = sk_destroy,
};

/* Copies (or hashes down) the raw key into a fresh guarded, read-only page. */
static unsigned char *sk_load_key(const unsigned char *key, size_t key_len)
{
	unsigned char *k = sodium_malloc(SK_KEY_BYTES);

	if (!k)
		return NULL;
	if (key_len == SK_KEY_BYTES)
		memcpy(k, key, SK_KEY_BYTES);
	else if (crypto_generichash(k, SK_KEY_BYTES, key, key_len, NULL, 0) != 0)
		goto fail;
	if (sodium_mprotect_readonly(k) != 0)
		goto fail;
	return k;

fail:
	sodium_free(k);
	return NULL;
}

enum tr_status provider_secret_key_new(const char *id, const unsigned char *key, size_t key_len,
                                       struct key_provider **out, struct tr_error *err)
{
	struct key_provider *p;
	size_t id_len;

	if (!id || !out || (!key && key_len > 0))
		return tr_error_set(err, TR_EINVAL, "provider_secret_key_new needs an id, a key and an output");
	id_len = strlen(id);
	if (id_len == 0 || id_len > TR_PROVIDER_ID_MAX)
		return tr_error_set(err, TR_EINVAL, "key provider id must be 1 to %d bytes", TR_PROVIDER_ID_MAX);
	if (key_len < SK_KEY_BYTES)
		return tr_error_set(err, TR_EINVAL, "key for provider '%s' must be at least %u bytes", id,
		                    (unsigned)SK_KEY_BYTES);
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");

	p = calloc(1, sizeof(*p));
	if (!p)
		return tr_error_set(err, TR_EINTERNAL, "out of memory creating provider '%s'", id);
	p->ctx = sk_load_key(key, key_len);
	if (!p->ctx) {
		free(p);
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for provider '%s'", id);
	}
	memcpy(p->id, id, id_len + 1);
	p->ops = &secret_key_ops;
	*out = p;
	return TR_OK;
}
