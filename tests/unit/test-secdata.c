/*
 * test-secdata.c - unit tests for src/common/secdata.c: secbuf, the
 * key/value set and its wire form, including hostile input to the decoder.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/secdata.h"

/*
 * Wiping can only be seen at the moment memory is freed, so this binary
 * interposes free(): while armed, every freed block is searched for MARKER,
 * and finding it there means a secret was freed without being wiped.
 * Valgrind replaces free() in the main program by default; there the wipe
 * tests skip unless run with --soname-synonyms=somalloc=nouserintercepts.
 * AddressSanitizer owns malloc and free too, so under it free() is not
 * interposed and the wipe tests skip the same way.
 */
#define MARKER "s3cr3t-MARKER-4f9c"
#define MARKER_LEN (sizeof(MARKER) - 1)

/* volatile: the compiler knows free() as a builtin that touches no globals */
static volatile bool armed;
static volatile size_t frees_seen;
static volatile size_t marker_freed;

#ifndef __SANITIZE_ADDRESS__
static void (*real_free)(void *);
static bool resolving_free;

void free(void *p)
{
	if (!real_free) {
		if (resolving_free)
			return; /* dlsym freeing during its own set-up: leak it */
		resolving_free = true;
		*(void **)&real_free = dlsym(RTLD_NEXT, "free");
		resolving_free = false;
	}
	if (p && armed) {
		frees_seen++;
		if (memmem(p, malloc_usable_size(p), MARKER, MARKER_LEN))
			marker_freed++;
	}
	real_free(p);
}
#endif

static void arm(void)
{
	frees_seen = 0;
	marker_freed = 0;
	armed = true;
}

/* Disarms, then asserts frees were seen and none held the marker. */
static void assert_nothing_freed_unwiped(void)
{
	armed = false;
	if (frees_seen == 0)
		skip(); /* free() is not ours (valgrind): cannot observe */
	assert_int_equal(marker_freed, 0);
}

static const unsigned char binary_value[] = {0x00, 'a', 0x00, 0xff, 0x7f, 0x00};

/* A secdata with a text value, a binary value (with NULs) and an empty value. */
static void fill_sample(struct secdata *d)
{
	assert_int_equal(secdata_add(d, "hf-token", "hf_abc", 6), TR_OK);
	assert_int_equal(secdata_add(d, "blob", binary_value, sizeof(binary_value)), TR_OK);
	assert_int_equal(secdata_add(d, "empty", NULL, 0), TR_OK);
}

static void test_secbuf_set_copies_and_terminates(void **state)
{
	struct secbuf b = {0};

	(void)state;
	assert_int_equal(secbuf_set(&b, "abc", 3), TR_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "abc", 3);
	assert_int_equal(b.data[3], '\0');
	/* Setting again replaces the content, even from its own bytes. */
	assert_int_equal(secbuf_set(&b, b.data + 1, 2), TR_OK);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.data, "bc", 3);
	secbuf_clear(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	secbuf_clear(&b); /* safe when empty */
	assert_int_equal(secbuf_set(&b, NULL, 1), TR_EINVAL);
}

static void test_add_find_duplicate(void **state)
{
	struct secdata d = {0};
	const struct secdata_item *it;

	(void)state;
	fill_sample(&d);
	assert_int_equal(d.count, 3);

	it = secdata_find(&d, "blob");
	assert_non_null(it);
	assert_int_equal(it->value.len, sizeof(binary_value));
	assert_memory_equal(it->value.data, binary_value, sizeof(binary_value));
	it = secdata_find(&d, "empty");
	assert_non_null(it);
	assert_int_equal(it->value.len, 0);
	assert_null(secdata_find(&d, "missing"));
	assert_null(secdata_find(&d, "hf-toke"));

	assert_int_equal(secdata_add(&d, "blob", "x", 1), TR_ECONFLICT);
	assert_int_equal(d.count, 3);
	assert_memory_equal(secdata_find(&d, "blob")->value.data, binary_value, sizeof(binary_value));
	secdata_clear(&d);
}

static void test_size(void **state)
{
	struct secdata d = {0};

	(void)state;
	assert_int_equal(secdata_size(&d), 0);
	fill_sample(&d);
	/* "hf-token"(8)+6 + "blob"(4)+6 + "empty"(5)+0 */
	assert_int_equal(secdata_size(&d), 8 + 6 + 4 + 6 + 5 + 0);
	secdata_clear(&d);
}

static void test_clear_empties(void **state)
{
	struct secdata d = {0};

	(void)state;
	fill_sample(&d);
	secdata_clear(&d);
	assert_null(d.items);
	assert_int_equal(d.count, 0);
	assert_null(secdata_find(&d, "hf-token"));
	secdata_clear(&d); /* twice is fine */
	/* Usable again after clear. */
	assert_int_equal(secdata_add(&d, "hf-token", "x", 1), TR_OK);
	secdata_clear(&d);
}

static void test_marker_detector_works(void **state)
{
	/* Through volatile pointers, so the compiler can neither drop the
	 * copy as dead nor treat the call as the free() builtin. */
	void (*volatile free_fn)(void *) = free;
	char *volatile p = malloc(MARKER_LEN);

	(void)state;
	assert_non_null(p);
	memcpy(p, MARKER, MARKER_LEN);
	arm();
	free_fn(p);
	armed = false;
	if (frees_seen == 0)
		skip();
	assert_int_equal(marker_freed, 1);
}

static void test_secbuf_clear_wipes(void **state)
{
	struct secbuf b = {0};

	(void)state;
	assert_int_equal(secbuf_set(&b, MARKER, MARKER_LEN), TR_OK);
	arm();
	secbuf_clear(&b);
	assert_nothing_freed_unwiped();
}

static void test_secdata_clear_wipes(void **state)
{
	struct secdata d = {0};

	(void)state;
	fill_sample(&d);
	assert_int_equal(secdata_add(&d, "marked", MARKER, MARKER_LEN), TR_OK);
	arm();
	secdata_clear(&d);
	assert_nothing_freed_unwiped();
}

static void test_encode_output_wiped_by_clear(void **state)
{
	struct secdata d = {0};
	struct secbuf enc = {0};

	(void)state;
	assert_int_equal(secdata_add(&d, "marked", MARKER, MARKER_LEN), TR_OK);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	assert_non_null(memmem(enc.data, enc.len, MARKER, MARKER_LEN));
	arm();
	secbuf_clear(&enc);
	secdata_clear(&d);
	assert_nothing_freed_unwiped();
}

static void test_decode_failure_wipes(void **state)
{
	/* Two items with key "k": the first value (the marker) is copied out
	 * before the duplicate is found, and must be wiped on the way out. */
	unsigned char buf[4 + (2 + 1 + 4 + MARKER_LEN) + (2 + 1 + 4 + 1)];
	unsigned char *p = buf;
	struct secdata back = {0};

	(void)state;
	memcpy(p, "\x02\x00\x00\x00", 4);
	p += 4;
	memcpy(p, "\x01\x00k", 3);
	p += 3;
	*p++ = MARKER_LEN;
	memcpy(p, "\x00\x00\x00", 3);
	p += 3;
	memcpy(p, MARKER, MARKER_LEN);
	p += MARKER_LEN;
	memcpy(p, "\x01\x00k\x01\x00\x00\x00b", 8);
	p += 8;
	assert_int_equal((size_t)(p - buf), sizeof(buf));

	arm();
	assert_int_equal(secdata_decode(buf, sizeof(buf), &back), TR_ECRYPTO);
	assert_nothing_freed_unwiped();
	assert_null(back.items);
	assert_int_equal(back.count, 0);
}

static void test_encode_layout(void **state)
{
	struct secdata d = {0};
	struct secbuf enc = {0};
	static const unsigned char expect[] = {
		1, 0, 0, 0,          /* count */
		2, 0, 'k', '1',      /* key */
		3, 0, 0, 0, 'a', 0, 'b', /* value with a NUL */
	};

	(void)state;
	assert_int_equal(secdata_add(&d, "k1", "a\0b", 3), TR_OK);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	assert_int_equal(enc.len, sizeof(expect));
	assert_memory_equal(enc.data, expect, sizeof(expect));
	secbuf_clear(&enc);
	secdata_clear(&d);
}

static void test_round_trip(void **state)
{
	struct secdata d = {0}, back = {0};
	struct secbuf enc = {0};
	size_t i;

	(void)state;
	fill_sample(&d);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	assert_int_equal(secdata_decode(enc.data, enc.len, &back), TR_OK);
	assert_int_equal(back.count, d.count);
	for (i = 0; i < d.count; i++) {
		assert_string_equal(back.items[i].key, d.items[i].key);
		assert_int_equal(back.items[i].value.len, d.items[i].value.len);
		assert_memory_equal(back.items[i].value.data, d.items[i].value.data, d.items[i].value.len);
		assert_int_equal(back.items[i].value.data[back.items[i].value.len], '\0');
	}
	secbuf_clear(&enc);
	secdata_clear(&back);
	secdata_clear(&d);
}

static void test_round_trip_empty(void **state)
{
	struct secdata d = {0}, back = {0};
	struct secbuf enc = {0};

	(void)state;
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	assert_int_equal(enc.len, 4);
	assert_int_equal(secdata_decode(enc.data, enc.len, &back), TR_OK);
	assert_int_equal(back.count, 0);
	secbuf_clear(&enc);
}

static void test_decode_every_truncation_fails(void **state)
{
	struct secdata d = {0}, back = {0};
	struct secbuf enc = {0};
	size_t cut;

	(void)state;
	fill_sample(&d);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	for (cut = 0; cut < enc.len; cut++) {
		/* A copy of exactly cut bytes so the sanitizers catch over-reads. */
		unsigned char *p = malloc(cut ? cut : 1);

		assert_non_null(p);
		memcpy(p, enc.data, cut);
		assert_int_equal(secdata_decode(p, cut, &back), TR_ECRYPTO);
		assert_null(back.items);
		assert_int_equal(back.count, 0);
		free(p);
	}
	secbuf_clear(&enc);
	secdata_clear(&d);
}

static void test_decode_trailing_garbage_fails(void **state)
{
	struct secdata d = {0}, back = {0};
	struct secbuf enc = {0};
	unsigned char *p;

	(void)state;
	fill_sample(&d);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	p = malloc(enc.len + 1);
	assert_non_null(p);
	memcpy(p, enc.data, enc.len);
	p[enc.len] = 0x00;
	assert_int_equal(secdata_decode(p, enc.len + 1, &back), TR_ECRYPTO);
	assert_null(back.items);
	assert_int_equal(back.count, 0);
	free(p);
	secbuf_clear(&enc);
	secdata_clear(&d);
}

static void test_decode_duplicate_key_fails(void **state)
{
	static const unsigned char dup[] = {
		2, 0, 0, 0,
		1, 0, 'k', 1, 0, 0, 0, 'a',
		1, 0, 'k', 1, 0, 0, 0, 'b',
	};
	struct secdata back = {0};

	(void)state;
	assert_int_equal(secdata_decode(dup, sizeof(dup), &back), TR_ECRYPTO);
	assert_null(back.items);
	assert_int_equal(back.count, 0);
}

static void test_decode_garbage_fails(void **state)
{
	/* Huge count, huge lengths, a NUL inside a key. */
	static const unsigned char huge_count[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
	static const unsigned char huge_value[] = {1, 0, 0, 0, 1, 0, 'k', 0xff, 0xff, 0xff, 0xff, 'x'};
	static const unsigned char huge_key[] = {1, 0, 0, 0, 0xff, 0xff, 'k', 0, 0, 0, 0};
	static const unsigned char nul_key[] = {1, 0, 0, 0, 2, 0, 'k', 0, 0, 0, 0, 0};
	struct secdata back = {0};

	(void)state;
	assert_int_equal(secdata_decode(huge_count, sizeof(huge_count), &back), TR_ECRYPTO);
	assert_int_equal(secdata_decode(huge_value, sizeof(huge_value), &back), TR_ECRYPTO);
	assert_int_equal(secdata_decode(huge_key, sizeof(huge_key), &back), TR_ECRYPTO);
	assert_int_equal(secdata_decode(nul_key, sizeof(nul_key), &back), TR_ECRYPTO);
	assert_int_equal(secdata_decode(NULL, 0, &back), TR_ECRYPTO);
	assert_null(back.items);
	assert_int_equal(back.count, 0);
}

static void test_decode_needs_empty_output(void **state)
{
	struct secdata d = {0}, back = {0};
	struct secbuf enc = {0};

	(void)state;
	fill_sample(&d);
	assert_int_equal(secdata_encode(&d, &enc), TR_OK);
	assert_int_equal(secdata_add(&back, "x", "y", 1), TR_OK);
	assert_int_equal(secdata_decode(enc.data, enc.len, &back), TR_EINVAL);
	assert_int_equal(back.count, 1);
	secdata_clear(&back);
	secbuf_clear(&enc);
	secdata_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secbuf_set_copies_and_terminates),
		cmocka_unit_test(test_add_find_duplicate),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_clear_empties),
		cmocka_unit_test(test_marker_detector_works),
		cmocka_unit_test(test_secbuf_clear_wipes),
		cmocka_unit_test(test_secdata_clear_wipes),
		cmocka_unit_test(test_encode_output_wiped_by_clear),
		cmocka_unit_test(test_decode_failure_wipes),
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_empty),
		cmocka_unit_test(test_decode_every_truncation_fails),
		cmocka_unit_test(test_decode_trailing_garbage_fails),
		cmocka_unit_test(test_decode_duplicate_key_fails),
		cmocka_unit_test(test_decode_garbage_fails),
		cmocka_unit_test(test_decode_needs_empty_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
