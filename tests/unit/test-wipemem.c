/*
 * test-wipemem.c - the wiping allocator: sizes malloc cannot serve are
 * refused, realloc moves the block (nothing is left where it was) and
 * keeps what fits, and blocks are aligned as malloc's are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/wipemem.h"

static void test_a_size_that_cannot_be_kept_is_refused(void **state)
{
	(void)state;
	assert_null(wipe_malloc(SIZE_MAX));
	assert_null(wipe_malloc(SIZE_MAX - 8));
	wipe_free(NULL);
}

static void test_blocks_are_aligned_as_mallocs_are(void **state)
{
	(void)state;
	for (size_t size = 1; size < 100; size += 7) {
		void *p = wipe_malloc(size);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		wipe_free(p);
	}
}

static void test_realloc_moves_and_keeps_what_fits(void **state)
{
	char *p = wipe_realloc(NULL, 16), *q, *r;

	(void)state;
	assert_non_null(p);
	memcpy(p, "0123456789abcdef", 16);
	q = wipe_realloc(p, 4096);
	assert_non_null(q);
	assert_ptr_not_equal(q, p);
	assert_memory_equal(q, "0123456789abcdef", 16);
	r = wipe_realloc(q, 4);
	assert_non_null(r);
	assert_ptr_not_equal(r, q);
	assert_memory_equal(r, "0123", 4);
	wipe_free(r);
}

/* Without memory for the new block, the old one is left as it was. */
static void test_a_refused_realloc_leaves_the_block(void **state)
{
	char *p = wipe_malloc(8);

	(void)state;
	assert_non_null(p);
	memcpy(p, "tresor!", 8);
	assert_null(wipe_realloc(p, SIZE_MAX));
	assert_memory_equal(p, "tresor!", 8);
	wipe_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_size_that_cannot_be_kept_is_refused),
	    cmocka_unit_test(test_blocks_are_aligned_as_mallocs_are),
	    cmocka_unit_test(test_realloc_moves_and_keeps_what_fits),
	    cmocka_unit_test(test_a_refused_realloc_leaves_the_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
