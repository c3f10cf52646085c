/*
 * files.c - reading key material from small files into guarded memory, and
 * creating small state files durably.
 *
 * Checks are made on the open descriptor (fstat), so there is no window
 * between checking a file and reading it.
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/dirsync.h"
#include "common/fdread.h"
#include "common/fdwrite.h"

/* Type, mode and size of the open file. */
static enum tr_status check_secret_fd(int fd, const char *path, const char *what, size_t max, struct tr_error *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot stat %s '%s': %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tr_error_set(err, TR_EUNAVAIL, "%s '%s' is not a regular file", what, path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return tr_error_set(err, TR_EUNAVAIL, "%s '%s' is accessible by group or others; run chmod 600 on it",
		                    what, path);
	if ((unsigned long long)st.st_size > max)
		return tr_error_set(err, TR_EUNAVAIL, "%s '%s' is larger than %zu bytes", what, path, max);
	return TR_OK;
}

enum tr_status crypto_file_read_secret(const char *path, const char *what, size_t max, unsigned char **out,
                                       size_t *len, struct tr_error *err)
{
	unsigned char *buf = NULL;
	enum tr_status st;
	ssize_t n;
	int fd;

	if (!path || !what || !out || !len)
		return tr_error_set(err, TR_EINVAL, "crypto_file_read_secret needs a path, a name and outputs");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return tr_error_set(err, TR_ENOTFOUND, "%s '%s' does not exist", what, path);
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot open %s '%s': %s", what, path, strerror(errno));
	if ((st = check_secret_fd(fd, path, what, max, err)) != TR_OK)
		goto out;
	/* One byte more than allowed, so a file that grew since fstat is caught. */
	if (!(buf = sodium_malloc(max + 1))) {
		st = tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for %s '%s'", what, path);
		goto out;
	}
	n = fd_read_up_to(fd, buf, max + 1);
	if (n < 0 || (size_t)n > max) {
		st = tr_error_set(err, TR_EUNAVAIL, "cannot read %s '%s': %s", what, path,
		                  n < 0 ? strerror(errno) : "it keeps growing");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	buf = NULL;
out:
	sodium_free(buf);
	close(fd);
	return st;
}

enum tr_status crypto_file_create(const char *path, const void *data, size_t len, struct tr_error *err)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == EEXIST)
		return TR_ECONFLICT;
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot create '%s': %s", path, strerror(errno));
	if (fchmod(fd, 0600) != 0 || fd_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		unlink(path); /* ours: O_EXCL made it */
		return tr_error_set(err, TR_EUNAVAIL, "cannot write '%s': %s", path, strerror(saved));
	}
	if (close(fd) != 0 || fsync_parent_dir(path) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot write '%s': %s", path, strerror(errno));
	return TR_OK;
}
