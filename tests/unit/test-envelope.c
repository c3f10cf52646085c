/*
 * test-envelope.c - unit tests for src/crypto/envelope.c, the barrier:
 * seal/open, the identity bound as AAD, tampering, unknown providers and
 * re-wrapping for key rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/envelope.h"

static const unsigned char plaintext[] = "hf_SuperSecretValue\0with a NUL and more bytes";
#define PT_LEN (sizeof(plaintext) - 1)

static const struct envelope_identity base_id = {
	.workspace = "default",
	.project = "proj",
	.cluster = "",
	.name = "hf-token",
	.type = "opaque",
	.version = 3,
};

static struct key_provider *new_sk(const char *id, unsigned char seed)
{
	unsigned char key[32];
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	memset(key, seed, sizeof(key));
	key[0] ^= 0x5a;
	assert_int_equal(provider_secret_key_new(id, key, sizeof(key), &p, &err), TR_OK);
	return p;
}

/* A keyring holding the listed providers (by seed), the first current. */
static struct keyring *new_keyring(const char *ids[], const unsigned char seeds[], size_t n)
{
	struct keyring *kr = NULL;
	struct tr_error err = {0};
	size_t i;

	assert_int_equal(keyring_new(&kr, &err), TR_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(keyring_add(kr, new_sk(ids[i], seeds[i]), &err), TR_OK);
	if (n > 0)
		assert_int_equal(keyring_set_current(kr, ids[0], &err), TR_OK);
	return kr;
}

static struct keyring *keyring_local(void)
{
	static const char *ids[] = {"local"};
	static const unsigned char seeds[] = {1};

	return new_keyring(ids, seeds, 1);
}

static void seal(const struct keyring *kr, const struct envelope_identity *id, struct envelope_sealed *s)
{
	struct tr_error err = {0};

	memset(s, 0, sizeof(*s));
	assert_int_equal(envelope_seal(kr, id, plaintext, PT_LEN, s, &err), TR_OK);
	assert_non_null(s->record);
	assert_non_null(s->wrapped_key);
}

static enum tr_status open_as(const struct keyring *kr, const struct envelope_identity *id, const char *provider,
                              const unsigned char *wk, size_t wk_len, const unsigned char *rec, size_t rec_len,
                              struct tr_error *err)
{
	struct secbuf out = {0};
	enum tr_status st;

	st = envelope_open(kr, id, provider, wk, wk_len, rec, rec_len, &out, err);
	if (st == TR_OK) {
		assert_int_equal(out.len, PT_LEN);
		assert_memory_equal(out.data, plaintext, PT_LEN);
		assert_int_equal(out.data[out.len], '\0');
	} else {
		assert_null(out.data);
		assert_int_equal(out.len, 0);
		assert_int_equal(err->status, st);
		/* No plaintext bytes in the message. */
		assert_null(strstr(err->message, "SuperSecret"));
	}
	secbuf_clear(&out);
	return st;
}

static enum tr_status open_sealed(const struct keyring *kr, const struct envelope_identity *id,
                                  const struct envelope_sealed *s, struct tr_error *err)
{
	return open_as(kr, id, s->provider, s->wrapped_key, s->wrapped_key_len, s->record, s->record_len, err);
}

/* ---- tests ---- */

static void test_seal_open_round_trip(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s;
	struct tr_error err = {0};

	(void)state;
	seal(kr, &base_id, &s);
	assert_string_equal(s.provider, "local");
	assert_int_equal(s.record_len, 1 + 24 + PT_LEN + 16);
	assert_int_equal(s.record[0], 1);
	assert_int_equal(open_sealed(kr, &base_id, &s, &err), TR_OK);
	envelope_sealed_clear(&s);
	assert_null(s.record);
	assert_null(s.wrapped_key);
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_empty_plaintext(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s = {0};
	struct secbuf out = {0};
	struct tr_error err = {0};

	(void)state;
	assert_int_equal(envelope_seal(kr, &base_id, NULL, 0, &s, &err), TR_OK);
	assert_int_equal(s.record_len, 1 + 24 + 16);
	assert_int_equal(envelope_open(kr, &base_id, s.provider, s.wrapped_key, s.wrapped_key_len, s.record,
	                               s.record_len, &out, &err),
	                 TR_OK);
	assert_int_equal(out.len, 0);
	assert_non_null(out.data);
	secbuf_clear(&out);
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_null_scope_equals_empty(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_identity id = base_id, id_null;
	struct envelope_sealed s;
	struct tr_error err = {0};

	(void)state;
	id.project = "";
	id_null = id;
	id_null.project = NULL;
	id_null.cluster = NULL;
	seal(kr, &id, &s);
	assert_int_equal(open_sealed(kr, &id_null, &s, &err), TR_OK);
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void expect_identity_mismatch(const struct keyring *kr, const struct envelope_sealed *s,
                                     const struct envelope_identity *id)
{
	struct tr_error err = {0};
	char expect[128];

	assert_int_equal(open_sealed(kr, id, s, &err), TR_ECRYPTO);
	snprintf(expect, sizeof(expect), "record authentication failed for secret '%s/%s'", id->workspace,
	         id->name);
	assert_string_equal(err.message, expect);
}

static void test_identity_fields_bound(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s;
	struct envelope_identity id;

	(void)state;
	seal(kr, &base_id, &s);

	id = base_id;
	id.workspace = "other";
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.project = "proj2";
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.project = NULL;
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.cluster = "gpu-a";
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.name = "hf-token2";
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.type = "container_registry";
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.version = 4;
	expect_identity_mismatch(kr, &s, &id);
	id = base_id;
	id.version = 3 + ((int64_t)1 << 32); /* all 8 version bytes count */
	expect_identity_mismatch(kr, &s, &id);
	/* Length prefixes stop fields sliding into each other. */
	id = base_id;
	id.workspace = "defaultp";
	id.project = "roj";
	expect_identity_mismatch(kr, &s, &id);

	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_tampering_detected(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s;
	struct tr_error err = {0};
	size_t i;

	(void)state;
	seal(kr, &base_id, &s);
	for (i = 0; i < s.record_len; i++) {
		s.record[i] ^= 0x01;
		assert_int_equal(open_sealed(kr, &base_id, &s, &err), TR_ECRYPTO);
		s.record[i] ^= 0x01;
	}
	for (i = 0; i < s.wrapped_key_len; i++) {
		s.wrapped_key[i] ^= 0x80;
		assert_int_equal(open_sealed(kr, &base_id, &s, &err), TR_ECRYPTO);
		assert_non_null(strstr(err.message, "'default/hf-token'"));
		s.wrapped_key[i] ^= 0x80;
	}
	/* Truncated records, down to nothing. */
	for (i = 0; i < s.record_len; i++)
		assert_int_equal(open_as(kr, &base_id, s.provider, s.wrapped_key, s.wrapped_key_len, s.record, i,
		                         &err),
		                 TR_ECRYPTO);
	assert_int_equal(open_as(kr, &base_id, s.provider, s.wrapped_key, s.wrapped_key_len, NULL, 0, &err),
	                 TR_ECRYPTO);
	/* Untouched, it still opens. */
	assert_int_equal(open_sealed(kr, &base_id, &s, &err), TR_OK);
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_swapped_wrapped_keys(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed a, b;
	struct tr_error err = {0};

	(void)state;
	seal(kr, &base_id, &a);
	seal(kr, &base_id, &b);
	assert_int_equal(open_as(kr, &base_id, a.provider, b.wrapped_key, b.wrapped_key_len, a.record, a.record_len,
	                         &err),
	                 TR_ECRYPTO);
	envelope_sealed_clear(&a);
	envelope_sealed_clear(&b);
	keyring_free(kr);
}

static void test_unknown_provider(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s;
	struct tr_error err = {0};

	(void)state;
	seal(kr, &base_id, &s);
	assert_int_equal(open_as(kr, &base_id, "hsm", s.wrapped_key, s.wrapped_key_len, s.record, s.record_len,
	                         &err),
	                 TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "'hsm'"));
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_no_current_provider(void **state)
{
	struct keyring *kr = new_keyring(NULL, NULL, 0);
	struct envelope_sealed s = {0};
	struct tr_error err = {0};

	(void)state;
	assert_int_equal(envelope_seal(kr, &base_id, plaintext, PT_LEN, &s, &err), TR_EUNAVAIL);
	assert_null(s.record);
	assert_null(s.wrapped_key);
	keyring_free(kr);
}

static void test_seals_differ(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed a, b;

	(void)state;
	seal(kr, &base_id, &a);
	seal(kr, &base_id, &b);
	assert_int_equal(a.record_len, b.record_len);
	assert_memory_not_equal(a.record, b.record, a.record_len);
	assert_memory_not_equal(a.record + 1, b.record + 1, 24); /* nonces */
	assert_memory_not_equal(a.wrapped_key, b.wrapped_key, a.wrapped_key_len);
	envelope_sealed_clear(&a);
	envelope_sealed_clear(&b);
	keyring_free(kr);
}

static void test_plaintext_not_in_record(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_sealed s;

	(void)state;
	seal(kr, &base_id, &s);
	assert_null(memmem(s.record, s.record_len, "SuperSecret", 11));
	assert_null(memmem(s.record, s.record_len, plaintext, 8));
	assert_null(memmem(s.wrapped_key, s.wrapped_key_len, "SuperSecret", 11));
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_rewrap_rotation(void **state)
{
	static const char *both_ids[] = {"local_v1", "local_v2"};
	static const unsigned char both_seeds[] = {1, 2};
	static const char *new_ids[] = {"local_v2"};
	static const unsigned char new_seeds[] = {2};
	struct keyring *kr = new_keyring(both_ids, both_seeds, 2);
	struct keyring *kr_new = new_keyring(new_ids, new_seeds, 1);
	struct envelope_sealed old, re = {0};
	struct tr_error err = {0};

	(void)state;
	seal(kr, &base_id, &old);
	assert_string_equal(old.provider, "local_v1");

	/* Rotate: make v2 current and re-wrap. */
	assert_int_equal(keyring_set_current(kr, "local_v2", &err), TR_OK);
	assert_int_equal(envelope_rewrap(kr, old.provider, old.wrapped_key, old.wrapped_key_len, &re, &err), TR_OK);
	assert_string_equal(re.provider, "local_v2");
	assert_non_null(re.wrapped_key);
	assert_null(re.record);

	/* The untouched record opens with the new wrapped key under v2 ... */
	assert_int_equal(open_as(kr, &base_id, re.provider, re.wrapped_key, re.wrapped_key_len, old.record,
	                         old.record_len, &err),
	                 TR_OK);
	/* ... also in a keyring that has only v2. */
	assert_int_equal(open_as(kr_new, &base_id, re.provider, re.wrapped_key, re.wrapped_key_len, old.record,
	                         old.record_len, &err),
	                 TR_OK);
	/* The old blob is useless without v1. */
	assert_int_equal(open_sealed(kr_new, &base_id, &old, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "'local_v1'"));
	assert_int_equal(open_as(kr_new, &base_id, "local_v2", old.wrapped_key, old.wrapped_key_len, old.record,
	                         old.record_len, &err),
	                 TR_ECRYPTO);
	/* The old pair still opens where v1 is configured. */
	assert_int_equal(open_sealed(kr, &base_id, &old, &err), TR_OK);

	envelope_sealed_clear(&re);
	/* Re-wrapping needs the old provider. */
	assert_int_equal(envelope_rewrap(kr_new, old.provider, old.wrapped_key, old.wrapped_key_len, &re, &err),
	                 TR_EUNAVAIL);
	assert_null(re.wrapped_key);
	/* And fails cleanly on a tampered blob. */
	old.wrapped_key[5] ^= 1;
	assert_int_equal(envelope_rewrap(kr, old.provider, old.wrapped_key, old.wrapped_key_len, &re, &err),
	                 TR_ECRYPTO);
	assert_null(re.wrapped_key);

	envelope_sealed_clear(&old);
	keyring_free(kr);
	keyring_free(kr_new);
}

static unsigned char *put_field(unsigned char *p, const char *s)
{
	size_t len = strlen(s);

	p[0] = (unsigned char)len;
	p[1] = (unsigned char)(len >> 8);
	p[2] = (unsigned char)(len >> 16);
	p[3] = (unsigned char)(len >> 24);
	memcpy(p + 4, s, len);
	return p + 4 + len;
}

/* Rebuilds the AAD exactly as envelope.h documents it and opens the record
 * with libsodium directly: the wire format is pinned, not just round-trips. */
static void test_record_format_matches_spec(void **state)
{
	struct keyring *kr = keyring_local();
	const struct key_provider *p = keyring_get(kr, "local");
	struct envelope_identity id = base_id;
	struct envelope_sealed s;
	struct tr_error err = {0};
	unsigned char aad[256], *a = aad;
	unsigned char *dk, *pt;
	unsigned long long pt_len;
	int i;

	(void)state;
	id.version = 0x0102030405060708LL;
	seal(kr, &id, &s);

	memcpy(a, "tresor-envelope-v1", 18);
	a += 18;
	a = put_field(a, id.workspace);
	a = put_field(a, id.project);
	a = put_field(a, id.cluster);
	a = put_field(a, id.name);
	a = put_field(a, id.type);
	for (i = 0; i < 8; i++)
		*a++ = (unsigned char)((uint64_t)id.version >> (8 * i));

	dk = sodium_malloc(DATA_KEY_BYTES);
	assert_non_null(dk);
	assert_int_equal(p->ops->unwrap(p->ctx, "local", s.wrapped_key, s.wrapped_key_len, dk, &err), TR_OK);
	pt = malloc(s.record_len);
	assert_non_null(pt);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, s.record + 25,
	                                                             s.record_len - 25, aad, (size_t)(a - aad),
	                                                             s.record + 1, dk),
	                 0);
	assert_int_equal(pt_len, PT_LEN);
	assert_memory_equal(pt, plaintext, PT_LEN);
	/* One AAD byte off (the version's top byte) and it fails. */
	a[-1] ^= 1;
	assert_int_not_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, s.record + 25,
	                                                                 s.record_len - 25, aad, (size_t)(a - aad),
	                                                                 s.record + 1, dk),
	                     0);
	sodium_memzero(pt, s.record_len);
	free(pt);
	sodium_free(dk);
	envelope_sealed_clear(&s);
	keyring_free(kr);
}

static void test_identity_required(void **state)
{
	struct keyring *kr = keyring_local();
	struct envelope_identity id = base_id;
	struct envelope_sealed s = {0};
	struct tr_error err = {0};

	(void)state;
	id.name = NULL;
	assert_int_equal(envelope_seal(kr, &id, plaintext, PT_LEN, &s, &err), TR_EINVAL);
	assert_null(s.record);
	keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_round_trip),
		cmocka_unit_test(test_empty_plaintext),
		cmocka_unit_test(test_null_scope_equals_empty),
		cmocka_unit_test(test_identity_fields_bound),
		cmocka_unit_test(test_tampering_detected),
		cmocka_unit_test(test_swapped_wrapped_keys),
		cmocka_unit_test(test_unknown_provider),
		cmocka_unit_test(test_no_current_provider),
		cmocka_unit_test(test_seals_differ),
		cmocka_unit_test(test_plaintext_not_in_record),
		cmocka_unit_test(test_rewrap_rotation),
		cmocka_unit_test(test_record_format_matches_spec),
		cmocka_unit_test(test_identity_required),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
