/*
 * test-dirsync.c - tests for fsync_parent_dir (src/common/dirsync.c): which
 * directory it syncs, and how it fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "sync-count.h"

/* Syncs the parent of path; asserts it was one sync, of directory dir. */
static void assert_syncs_dir(const char *path, const char *dir)
{
	struct stat want;
	int before = syncs_counted();

	assert_int_equal(stat(dir, &want), 0);
	assert_int_equal(fsync_parent_dir(path), 0);
	assert_int_equal(syncs_counted() - before, 1);
	assert_true(syncs_last_inode() == want.st_ino);
}

static void test_syncs_the_directory_holding_the_file(void **state)
{
	char dir[] = "/tmp/tresor-test-dirsync-XXXXXX";
	char sub[64], path[128], cwd[PATH_MAX];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);

	snprintf(path, sizeof(path), "%s/file", sub);
	assert_syncs_dir(path, sub);
	snprintf(path, sizeof(path), "%s/sub/", dir); /* up to the last slash */
	assert_syncs_dir(path, sub);
	assert_syncs_dir("/file", "/");

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(sub), 0);
	assert_syncs_dir("file", "."); /* no slash: the working directory */
	assert_int_equal(chdir(cwd), 0);

	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_fails_with_errno(void **state)
{
	char path[PATH_MAX + 16];
	int before = syncs_counted();

	(void)state;
	errno = 0;
	assert_int_equal(fsync_parent_dir("/nonexistent-tresor-dir/file"), -1);
	assert_int_equal(errno, ENOENT);

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 6] = '/';
	path[sizeof(path) - 1] = '\0';
	errno = 0;
	assert_int_equal(fsync_parent_dir(path), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(syncs_counted(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syncs_the_directory_holding_the_file),
		cmocka_unit_test(test_fails_with_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
