/*
 * dirsync.h - making a file's name durable: fsync of the directory that
 * holds it, after the file was created or renamed.
 */
#ifndef TRESOR_COMMON_DIRSYNC_H
#define TRESOR_COMMON_DIRSYNC_H

/* fsyncs the directory holding path ("." when path has no slash); -1 with
 * errno on failure. */
int fsync_parent_dir(const char *path);

#endif
