/*
 * fdread.c - fd_read_up_to (fdread.h).
 */
#include "common/fdread.h"

#include <errno.h>
#include <unistd.h>

ssize_t fd_read_up_to(int fd, void *buf, size_t cap)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(fd, p + got, cap - got);
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
