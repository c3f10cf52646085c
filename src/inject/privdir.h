/*
 * privdir.h - private temporary directories for credentials handed to a
 * child process: the Docker config of `tresor run` (DOCKER_CONFIG) and
 * the files of `--files` (CREDENTIALS_DIRECTORY).
 *
 * A directory is made with mkdtemp (mode 0700, owned by us) under a parent
 * directory; by default the first of $XDG_RUNTIME_DIR, /dev/shm, $TMPDIR
 * and /tmp that is a writable directory, so that credentials stay in
 * memory-backed file systems where there is one. Files are created new
 * (O_EXCL, O_NOFOLLOW) with an exact mode. privdir_remove deletes the
 * directory and everything in it, including what the child added.
 */
#ifndef TRESOR_INJECT_PRIVDIR_H
#define TRESOR_INJECT_PRIVDIR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/status.h"

struct privdir {
	char path[PATH_MAX]; /* "" until made */
};

/* The default parent directory (never NULL). */
const char *privdir_default_parent(void);

/*
 * Makes parent/<prefix>XXXXXX with mode 0700 (parent NULL: the default).
 * TR_EINVAL naming the parent when it cannot be made there.
 */
enum tr_status privdir_make(struct privdir *d, const char *parent, const char *prefix, struct tr_error *err);
/* Writes a new file name (a plain name, no '/') of len bytes with mode. */
enum tr_status privdir_write(const struct privdir *d, const char *name, const void *data, size_t len, mode_t mode,
			     struct tr_error *err);
/* Sets the directory's own mode (0500 once its files are written). */
enum tr_status privdir_chmod(const struct privdir *d, mode_t mode, struct tr_error *err);
/* Deletes the directory and all it holds; nothing when it was not made.
 * Best effort: what cannot be removed stays. */
void privdir_remove(struct privdir *d);

#endif
