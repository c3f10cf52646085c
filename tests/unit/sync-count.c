/*
 * sync-count.c - fdatasync and fsync that count their calls (sync-count.h).
 */
#include "sync-count.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int syncs;
static ino_t last_inode;

static void count(int fd)
{
	struct stat st;

	__atomic_add_fetch(&syncs, 1, __ATOMIC_SEQ_CST);
	if (fstat(fd, &st) == 0)
		__atomic_store_n(&last_inode, st.st_ino, __ATOMIC_SEQ_CST);
}

int fdatasync(int fd);
int fdatasync(int fd)
{
	count(fd);
	return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd);
int fsync(int fd)
{
	count(fd);
	return (int)syscall(SYS_fsync, fd);
}

int syncs_counted(void)
{
	return __atomic_load_n(&syncs, __ATOMIC_SEQ_CST);
}

ino_t syncs_last_inode(void)
{
	return __atomic_load_n(&last_inode, __ATOMIC_SEQ_CST);
}
