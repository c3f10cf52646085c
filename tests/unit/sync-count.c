/*
 * sync-count.c - fdatasync and fsync that count their calls (sync-count.h).
 */
#include "sync-count.h"

#include <sys/syscall.h>
#include <unistd.h>

static int syncs;

int fdatasync(int fd);
int fdatasync(int fd)
{
	__atomic_add_fetch(&syncs, 1, __ATOMIC_SEQ_CST);
	return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd);
int fsync(int fd)
{
	__atomic_add_fetch(&syncs, 1, __ATOMIC_SEQ_CST);
	return (int)syscall(SYS_fsync, fd);
}

int syncs_counted(void)
{
	return __atomic_load_n(&syncs, __ATOMIC_SEQ_CST);
}
