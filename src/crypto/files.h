/*
 * files.h - the small files the crypto layer reads and writes: key files,
 * passphrase files, passphrase KDF state. Internal to src/crypto.
 *
 * Files that hold key material must be regular files that give nothing to
 * group or others; their bytes go straight into guarded memory.
 */
#ifndef TRESOR_CRYPTO_FILES_H
#define TRESOR_CRYPTO_FILES_H

#include <stddef.h>

#include "common/status.h"

/*
 * Reads all of path (at most max bytes) into fresh guarded memory *out
 * (sodium_malloc'd, NUL-terminated, free with sodium_free), length *len.
 * TR_ENOTFOUND if the file does not exist, TR_EUNAVAIL if it is not a
 * regular file, is accessible by group or others ("run chmod 600 on it"),
 * is larger than max or cannot be read. `what` names the file in messages
 * ("key file"). *out is set only on success.
 */
enum tr_status crypto_file_read_secret(const char *path, const char *what, size_t max, unsigned char **out,
                                       size_t *len, struct tr_error *err);

/*
 * Creates path with mode 0600 holding len bytes of data, durably (the file
 * and its directory are fsynced). TR_ECONFLICT (no message) if it exists
 * already; TR_EUNAVAIL on any other failure, after removing what it made.
 */
enum tr_status crypto_file_create(const char *path, const void *data, size_t len, struct tr_error *err);

#endif
