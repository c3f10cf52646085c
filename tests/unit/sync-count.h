/*
 * sync-count.h - counts every fdatasync and fsync of a test process.
 *
 * sync-count.c defines fdatasync and fsync, which take the place of
 * libc's in the test executables built with it (tests/unit/meson.build):
 * each call is counted, then made as a system call. Threads may call
 * them; the count is atomic.
 */
#ifndef TRESOR_TESTS_SYNC_COUNT_H
#define TRESOR_TESTS_SYNC_COUNT_H

#include <sys/types.h>

/* The syncs counted since the process started. */
int syncs_counted(void);
/* The inode of the file the latest sync was of (0 before any). */
ino_t syncs_last_inode(void);

#endif
