/*
 * test-wipemem.c - the wiping allocator: realloc moves the block (nothing
 * is left where it was) and keeps what fits, blocks are aligned as
 * malloc's are, and free takes NULL and malloc's blocks. (That freed
 * blocks are zeroed cannot be read back without undefined behaviour.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/wipemem.h"

/* wipe_free takes NULL, and any block from malloc (wipe_malloc is malloc); under
 * ASan a wipe past the block would be reported. */
static void test_free_takes_null_and_mallocs_blocks(void **state)
{
	char *p = malloc(100);

	(void)state;
	wipe_free(NULL);
	assert_non_null(p);
	memset(p, 'x', 100);
	wipe_free(p);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_free_takes_null_and_mallocs_blocks),
	    cmocka_unit_test(test_blocks_are_aligned_as_mallocs_are),
	    cmocka_unit_test(test_realloc_moves_and_keeps_what_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
