/*
 * provider-key-file.c - the embedded default provider: a 32-byte random key
 * in a file of mode 0600, created on first start when asked to.
 *
 * The file is checked through the descriptor it is read from (no window
 * between check and read): it must be a regular file, give nothing to group
 * or others, and hold exactly 32 bytes. The bytes pass through a guarded
 * buffer only, which is wiped before this returns, and become a
 * "secret_key" provider.
 */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define KEY_FILE_BYTES 32

/* Writes all of buf; -1 with errno on failure. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until len bytes or end of file; the count read, or -1 with errno. */
static ssize_t read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* fsyncs the directory holding path, so a new file's name is durable. */
static int fsync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd, rc;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		len = slash == path ? 1 : (size_t)(slash - path);
		if (len >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, len);
		dir[len] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Creates path with fresh random key bytes. EEXIST (another process won the
 * race) is not an error: the caller reads whatever is there. */
static enum tr_status key_file_create(const char *path, struct tr_error *err)
{
	unsigned char *key;
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return TR_OK;
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot create key file '%s': %s", path, strerror(errno));
	key = sodium_malloc(KEY_FILE_BYTES);
	if (!key) {
		saved = ENOMEM;
		goto fail;
	}
	randombytes_buf(key, KEY_FILE_BYTES);
	if (fchmod(fd, 0600) != 0 || write_all(fd, key, KEY_FILE_BYTES) != 0 || fsync(fd) != 0) {
		saved = errno;
		goto fail;
	}
	sodium_free(key);
	if (close(fd) != 0 || fsync_parent_dir(path) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot write key file '%s': %s", path, strerror(errno));
	return TR_OK;

fail:
	sodium_free(key);
	close(fd);
	unlink(path); /* ours: O_EXCL made it */
	return tr_error_set(err, TR_EUNAVAIL, "cannot write key file '%s': %s", path, strerror(saved));
}

/* Checks the open key file's type and mode before anything is read. */
static enum tr_status key_file_check(int fd, const char *path, struct tr_error *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot stat key file '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tr_error_set(err, TR_EUNAVAIL, "key file '%s' is not a regular file", path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return tr_error_set(err, TR_EUNAVAIL,
		                    "key file '%s' is accessible by group or others; run chmod 600 on it", path);
	if (st.st_size != KEY_FILE_BYTES)
		return tr_error_set(err, TR_EUNAVAIL, "key file '%s' must be %d bytes", path, KEY_FILE_BYTES);
	return TR_OK;
}

/* Reads exactly KEY_FILE_BYTES into key (a guarded buffer of one more byte,
 * so a file that grew since fstat is caught). */
static enum tr_status key_file_read(int fd, const char *path, unsigned char *key, struct tr_error *err)
{
	ssize_t n = read_full(fd, key, KEY_FILE_BYTES + 1);

	if (n < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot read key file '%s': %s", path, strerror(errno));
	if (n != KEY_FILE_BYTES)
		return tr_error_set(err, TR_EUNAVAIL, "key file '%s' must be %d bytes", path, KEY_FILE_BYTES);
	return TR_OK;
}

/* Opens path for reading, creating it first when missing and allowed. */
static enum tr_status key_file_open_fd(const char *path, int create, int *fd, struct tr_error *err)
{
	enum tr_status st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && errno == ENOENT && create) {
		st = key_file_create(path, err);
		if (st != TR_OK)
			return st;
		*fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (*fd >= 0)
		return TR_OK;
	if (errno == ENOENT)
		return tr_error_set(err, TR_EUNAVAIL, "key file '%s' does not exist", path);
	return tr_error_set(err, TR_EUNAVAIL, "cannot open key file '%s': %s", path, strerror(errno));
}

enum tr_status provider_key_file_open(const char *id, const char *path, int create,
                                      struct key_provider **out, struct tr_error *err)
{
	unsigned char *key = NULL;
	enum tr_status st;
	int fd;

	if (!id || !path || !out)
		return tr_error_set(err, TR_EINVAL, "provider_key_file_open needs an id, a path and an output");
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");
	st = key_file_open_fd(path, create, &fd, err);
	if (st != TR_OK)
		return st;
	st = key_file_check(fd, path, err);
	if (st != TR_OK)
		goto out;
	key = sodium_malloc(KEY_FILE_BYTES + 1);
	if (!key) {
		st = tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for key file '%s'", path);
		goto out;
	}
	st = key_file_read(fd, path, key, err);
	if (st != TR_OK)
		goto out;
	st = provider_secret_key_new(id, key, KEY_FILE_BYTES, out, err);

out:
	sodium_free(key); /* wipes; NULL is fine */
	close(fd);
	return st;
}
