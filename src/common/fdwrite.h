/*
 * fdwrite.h - writing a whole buffer to a descriptor, retrying short
 * writes and EINTR.
 */
#ifndef TRESOR_COMMON_FDWRITE_H
#define TRESOR_COMMON_FDWRITE_H

#include <stddef.h>

/* Writes all len bytes of buf; 0, or -1 with errno when it could not (some
 * of them may have been written). */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
