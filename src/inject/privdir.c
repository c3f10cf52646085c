/*
 * privdir.c - private credential directories (privdir.h).
 */
#include "inject/privdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFTW_FDS 16

static bool usable_dir(const char *path)
{
	struct stat st;

	return path && path[0] == '/' && stat(path, &st) == 0 && S_ISDIR(st.st_mode) && access(path, W_OK | X_OK) == 0;
}

const char *privdir_default_parent(void)
{
	const char *candidates[] = {getenv("XDG_RUNTIME_DIR"), "/dev/shm", getenv("TMPDIR")};
	size_t i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (usable_dir(candidates[i]))
			return candidates[i];
	}
	return "/tmp";
}

enum tr_status privdir_make(struct privdir *d, const char *parent, const char *prefix, struct tr_error *err)
{
	char tmpl[PATH_MAX];
	int n;

	d->path[0] = '\0';
	if (!parent)
		parent = privdir_default_parent();
	n = snprintf(tmpl, sizeof(tmpl), "%s/%sXXXXXX", parent, prefix);
	if (n < 0 || (size_t)n >= sizeof(tmpl))
		return tr_error_set(err, TR_EINVAL, "the directory name '%s' is too long", parent);
	if (!mkdtemp(tmpl))
		return tr_error_set(err, TR_EINVAL, "cannot make a private directory in '%s': %s", parent,
				    strerror(errno));
	/* mkdtemp makes it 0700; say so regardless of the umask. */
	chmod(tmpl, 0700);
	memcpy(d->path, tmpl, (size_t)n + 1);
	return TR_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum tr_status privdir_write(const struct privdir *d, const char *name, const void *data, size_t len, mode_t mode,
			     struct tr_error *err)
{
	char path[PATH_MAX];
	int fd, n, saved;

	n = snprintf(path, sizeof(path), "%s/%s", d->path, name);
	if (strchr(name, '/') || n < 0 || (size_t)n >= sizeof(path))
		return tr_error_set(err, TR_EINVAL, "'%s' cannot be a file name", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tr_error_set(err, TR_EINVAL, "cannot create '%s': %s", path, strerror(errno));
	if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return tr_error_set(err, TR_EINVAL, "cannot write '%s': %s", path, strerror(saved));
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(path);
		return tr_error_set(err, TR_EINVAL, "cannot write '%s': %s", path, strerror(saved));
	}
	return TR_OK;
}

enum tr_status privdir_chmod(const struct privdir *d, mode_t mode, struct tr_error *err)
{
	if (chmod(d->path, mode) < 0)
		return tr_error_set(err, TR_EINVAL, "cannot change the mode of '%s': %s", d->path, strerror(errno));
	return TR_OK;
}

/* First pass: make every directory ours to empty. */
static int open_up(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D && S_ISDIR(st->st_mode))
		chmod(path, 0700);
	return 0;
}

/* Second pass, children first: remove. */
static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void privdir_remove(struct privdir *d)
{
	if (!d->path[0])
		return;
	chmod(d->path, 0700);
	nftw(d->path, open_up, NFTW_FDS, FTW_PHYS);
	nftw(d->path, remove_one, NFTW_FDS, FTW_PHYS | FTW_DEPTH);
	d->path[0] = '\0';
}
