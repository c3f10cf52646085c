/*
 * provider-key-file.c - the embedded default provider: a 32-byte random key
 * in a file of mode 0600, created on first start when asked to.
 *
 * The file rules (regular file, nothing for group or others, bytes only in
 * guarded memory, durable creation) are files.c's; this adds the size and
 * turns the bytes into a "secret_key" provider.
 */
#include "keyring.h"

#include <sodium.h>
#include <string.h>

#include "crypto/files.h"

#define KEY_FILE_BYTES 32
#define KEY_FILE_READ_MAX 4096 /* read more, so a wrong size is named as such */

/* Creates path with fresh random key bytes. A file that appeared meanwhile
 * (another process won the race) is not an error: the caller reads it. */
static enum tr_status key_file_create(const char *path, struct tr_error *err)
{
	unsigned char *key = sodium_malloc(KEY_FILE_BYTES);
	enum tr_status st;

	if (!key)
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for key file '%s'", path);
	randombytes_buf(key, KEY_FILE_BYTES);
	st = crypto_file_create(path, key, KEY_FILE_BYTES, err);
	sodium_free(key);
	return st == TR_ECONFLICT ? TR_OK : st;
}

enum tr_status provider_key_file_open(const char *id, const char *path, int create,
                                      struct key_provider **out, struct tr_error *err)
{
	unsigned char *key = NULL;
	size_t len = 0;
	enum tr_status st;

	if (!id || !path || !out)
		return tr_error_set(err, TR_EINVAL, "provider_key_file_open needs an id, a path and an output");
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");
	st = crypto_file_read_secret(path, "key file", KEY_FILE_READ_MAX, &key, &len, err);
	if (st == TR_ENOTFOUND && create && (st = key_file_create(path, err)) == TR_OK)
		st = crypto_file_read_secret(path, "key file", KEY_FILE_READ_MAX, &key, &len, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_EUNAVAIL, "key file '%s' does not exist", path);
	if (st != TR_OK)
		return st;
	if (len != KEY_FILE_BYTES)
		st = tr_error_set(err, TR_EUNAVAIL, "key file '%s' must be %d bytes", path, KEY_FILE_BYTES);
	else
		st = provider_secret_key_new(id, key, KEY_FILE_BYTES, out, err);
	sodium_free(key);
	return st;
}
