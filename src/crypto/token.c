/*
 * token.c - API bearer tokens: "trs_" + base64url (no padding) of 32 random
 * bytes. Only a token's BLAKE2b-256 hash is ever stored, and hashes are
 * compared in constant time. Public token ids are "tok_" + 16 hex chars.
 */
#include "token.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_ID_PREFIX "tok_"
#define TOKEN_ID_PREFIX_LEN (sizeof(TOKEN_ID_PREFIX) - 1)
#define TOKEN_ID_RANDOM_BYTES 8

/* libsodium must be initialised before drawing randomness. A failure here
 * means the system has no usable randomness; nothing can continue safely. */
static void ensure_sodium(void)
{
	if (sodium_init() < 0)
		abort();
}

static bool is_base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

enum tr_status token_generate(char text[TOKEN_TEXT_LEN + 1], unsigned char hash[TOKEN_HASH_BYTES])
{
	unsigned char raw[TOKEN_RANDOM_BYTES];

	if (!text || !hash)
		return TR_EINVAL;
	if (sodium_init() < 0)
		return TR_EINTERNAL;
	randombytes_buf(raw, sizeof(raw));
	memcpy(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	sodium_bin2base64(text + TOKEN_PREFIX_LEN, TOKEN_TEXT_LEN + 1 - TOKEN_PREFIX_LEN, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	token_hash(text, hash);
	return TR_OK;
}

void token_id_generate(char id[TOKEN_ID_LEN + 1])
{
	unsigned char raw[TOKEN_ID_RANDOM_BYTES];

	ensure_sodium();
	randombytes_buf(raw, sizeof(raw));
	memcpy(id, TOKEN_ID_PREFIX, TOKEN_ID_PREFIX_LEN);
	sodium_bin2hex(id + TOKEN_ID_PREFIX_LEN, TOKEN_ID_LEN + 1 - TOKEN_ID_PREFIX_LEN, raw, sizeof(raw));
}

bool token_well_formed(const char *text)
{
	size_t i;

	if (!text || strncmp(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	if (strnlen(text, TOKEN_TEXT_LEN + 1) != TOKEN_TEXT_LEN)
		return false;
	for (i = TOKEN_PREFIX_LEN; i < TOKEN_TEXT_LEN; i++) {
		if (!is_base64url_char(text[i]))
			return false;
	}
	return true;
}

void token_hash(const char *text, unsigned char hash[TOKEN_HASH_BYTES])
{
	const char *t = text ? text : "";

	ensure_sodium();
	crypto_generichash(hash, TOKEN_HASH_BYTES, (const unsigned char *)t, strlen(t), NULL, 0);
}

bool token_hash_equal(const unsigned char a[TOKEN_HASH_BYTES], const unsigned char b[TOKEN_HASH_BYTES])
{
	return sodium_memcmp(a, b, TOKEN_HASH_BYTES) == 0;
}
