/*
 * token.h - API bearer tokens.
 *
 * A token is "trs_" followed by 43 base64url characters (32 random bytes),
 * so secret scanners can recognise a leaked one by its prefix. tresor keeps
 * only its BLAKE2b-256 hash; comparisons of hashes are constant-time.
 */
#ifndef TRESOR_CRYPTO_TOKEN_H
#define TRESOR_CRYPTO_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"

#define TOKEN_PREFIX "trs_"
#define TOKEN_TEXT_LEN 47 /* 4 + 43, without the NUL */
#define TOKEN_HASH_BYTES 32
#define TOKEN_ID_LEN 20 /* "tok_" + 16 hex chars, without the NUL */

/* Makes a new token text (NUL-terminated) and its hash. */
enum tr_status token_generate(char text[TOKEN_TEXT_LEN + 1], unsigned char hash[TOKEN_HASH_BYTES]);
/* Makes a new public token id ("tok_" + 16 hex). */
void token_id_generate(char id[TOKEN_ID_LEN + 1]);
/* True when text has the shape of a token (prefix, length, alphabet). */
bool token_well_formed(const char *text);
/* Hashes any text (callers check well-formedness first). */
void token_hash(const char *text, unsigned char hash[TOKEN_HASH_BYTES]);
/* Constant-time equality of two hashes. */
bool token_hash_equal(const unsigned char a[TOKEN_HASH_BYTES], const unsigned char b[TOKEN_HASH_BYTES]);

#endif
