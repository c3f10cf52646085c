/*
 * test-strcopy.c - str_copy copies and cuts short as snprintf("%s") does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/strcopy.h"

/* str_copy into size bytes leaves what snprintf leaves, and nothing past. */
static void assert_like_snprintf(const char *src, size_t size, bool fits)
{
	char got[16], want[16];

	memset(got, '#', sizeof(got));
	memset(want, '#', sizeof(want));
	assert_true(size <= sizeof(got));
	snprintf(want, size, "%s", src);
	assert_int_equal(str_copy(got, size, src), fits);
	assert_memory_equal(got, want, sizeof(got));
}

static void test_copies_and_cuts_short(void **state)
{
	(void)state;
	assert_like_snprintf("", 1, true);
	assert_like_snprintf("a", 1, false);
	assert_like_snprintf("abc", 4, true);   /* exactly fits */
	assert_like_snprintf("abcd", 4, false); /* one too long */
	assert_like_snprintf("abc", 10, true);
	assert_like_snprintf("a much longer name", 8, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_copies_and_cuts_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
