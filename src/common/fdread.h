/*
 * fdread.h - reading a whole small input (a token file, a value on stdin)
 * from a descriptor, retrying short reads and EINTR.
 */
#ifndef TRESOR_COMMON_FDREAD_H
#define TRESOR_COMMON_FDREAD_H

#include <stddef.h>
#include <sys/types.h>

/* Reads up to cap bytes until end of file; the bytes read, or -1 on a
 * read error. A result of cap means there may be more. */
ssize_t fd_read_up_to(int fd, void *buf, size_t cap);

#endif
