/*
 * test-token.c - unit tests for src/crypto/token.c: token shape, hashing,
 * constant-time comparison and public token ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/token.h"

static void make_token(char text[TOKEN_TEXT_LEN + 1], unsigned char hash[TOKEN_HASH_BYTES])
{
	memset(text, 'X', TOKEN_TEXT_LEN + 1);
	assert_int_equal(token_generate(text, hash), TR_OK);
}

static void test_generate_shape(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES];
	unsigned char raw[64];
	size_t raw_len;

	(void)state;
	make_token(text, hash);
	assert_int_equal(strlen(text), TOKEN_TEXT_LEN);
	assert_int_equal(strncmp(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX)), 0);
	assert_null(strchr(text, '='));
	/* The body decodes back to exactly 32 bytes of base64url. */
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), text + 4, TOKEN_TEXT_LEN - 4, NULL, &raw_len, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	assert_int_equal(raw_len, 32);
}

static void test_generate_returns_its_hash(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES], again[TOKEN_HASH_BYTES];

	(void)state;
	make_token(text, hash);
	token_hash(text, again);
	assert_true(token_hash_equal(hash, again));
}

static void test_two_tokens_differ(void **state)
{
	char a[TOKEN_TEXT_LEN + 1], b[TOKEN_TEXT_LEN + 1];
	unsigned char ha[TOKEN_HASH_BYTES], hb[TOKEN_HASH_BYTES];

	(void)state;
	make_token(a, ha);
	make_token(b, hb);
	assert_string_not_equal(a, b);
	assert_false(token_hash_equal(ha, hb));
}

static void test_well_formed_accepts_generated(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		make_token(text, hash);
		assert_true(token_well_formed(text));
	}
}

static void test_well_formed_rejects(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	char buf[TOKEN_TEXT_LEN + 2];
	unsigned char hash[TOKEN_HASH_BYTES];
	static const char bad_chars[] = {'+', '/', '=', '.', ' ', '~', '\n'};
	size_t i;

	(void)state;
	make_token(text, hash);

	assert_false(token_well_formed(NULL));
	assert_false(token_well_formed(""));
	assert_false(token_well_formed("trs_"));

	/* Wrong prefix. */
	memcpy(buf, text, sizeof(text));
	memcpy(buf, "tok_", 4);
	assert_false(token_well_formed(buf));
	memcpy(buf, "TRS_", 4);
	assert_false(token_well_formed(buf));

	/* One short, one long. */
	memcpy(buf, text, sizeof(text));
	buf[TOKEN_TEXT_LEN - 1] = '\0';
	assert_false(token_well_formed(buf));
	memcpy(buf, text, TOKEN_TEXT_LEN);
	buf[TOKEN_TEXT_LEN] = 'A';
	buf[TOKEN_TEXT_LEN + 1] = '\0';
	assert_false(token_well_formed(buf));

	/* Characters outside base64url, at the start and the end of the body. */
	for (i = 0; i < sizeof(bad_chars); i++) {
		memcpy(buf, text, sizeof(text));
		buf[4] = bad_chars[i];
		assert_false(token_well_formed(buf));
		memcpy(buf, text, sizeof(text));
		buf[TOKEN_TEXT_LEN - 1] = bad_chars[i];
		assert_false(token_well_formed(buf));
	}
}

static void test_hash_deterministic(void **state)
{
	unsigned char a[TOKEN_HASH_BYTES], b[TOKEN_HASH_BYTES], c[TOKEN_HASH_BYTES];
	unsigned char expect[TOKEN_HASH_BYTES];
	static const char text[] = "trs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	(void)state;
	token_hash(text, a);
	token_hash(text, b);
	assert_memory_equal(a, b, TOKEN_HASH_BYTES);
	/* Unkeyed BLAKE2b-256 of the text. */
	assert_int_equal(crypto_generichash(expect, sizeof(expect), (const unsigned char *)text, strlen(text), NULL, 0),
	                 0);
	assert_memory_equal(a, expect, TOKEN_HASH_BYTES);
	token_hash("trs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", c);
	assert_memory_not_equal(a, c, TOKEN_HASH_BYTES);
}

static void test_hash_equal(void **state)
{
	unsigned char a[TOKEN_HASH_BYTES], b[TOKEN_HASH_BYTES];

	(void)state;
	token_hash("trs_one", a);
	memcpy(b, a, sizeof(b));
	assert_true(token_hash_equal(a, b));
	b[TOKEN_HASH_BYTES - 1] ^= 1;
	assert_false(token_hash_equal(a, b));
	b[TOKEN_HASH_BYTES - 1] ^= 1;
	b[0] ^= 0x80;
	assert_false(token_hash_equal(a, b));
}

static void test_id_format(void **state)
{
	char a[TOKEN_ID_LEN + 1], b[TOKEN_ID_LEN + 1];
	size_t i;

	(void)state;
	memset(a, 'X', sizeof(a));
	token_id_generate(a);
	token_id_generate(b);
	assert_int_equal(strlen(a), TOKEN_ID_LEN);
	assert_int_equal(strncmp(a, "tok_", 4), 0);
	for (i = 4; i < TOKEN_ID_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
	assert_false(token_well_formed(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_shape),
		cmocka_unit_test(test_generate_returns_its_hash),
		cmocka_unit_test(test_two_tokens_differ),
		cmocka_unit_test(test_well_formed_accepts_generated),
		cmocka_unit_test(test_well_formed_rejects),
		cmocka_unit_test(test_hash_deterministic),
		cmocka_unit_test(test_hash_equal),
		cmocka_unit_test(test_id_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
