/*
 * test-secret-cache.c - what a thread keeps of the secrets /resolve read:
 * every secret of a data set of 10,000 (none evicts another, none is
 * served for another), the fields and blobs as they were put, absences,
 * one state at a time, and the thread's byte budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/strcopy.h"
#include "domain/secret-cache.h"

/* A secret named name in workspace "ws" with this id, and a ciphertext of
 * cipher_len bytes, each the id's low byte. */
static void make_secret(const char *name, int64_t id, size_t cipher_len, struct store_secret *m,
			struct store_version *v)
{
	unsigned char fill = (unsigned char)id;
	unsigned char *cipher = malloc(cipher_len);
	unsigned char wrapped[72];

	assert_non_null(cipher);
	memset(cipher, fill, cipher_len);
	memset(wrapped, fill ^ 0x5a, sizeof(wrapped));
	memset(m, 0, sizeof(*m));
	memset(v, 0, sizeof(*v));
	str_copy(m->workspace, sizeof(m->workspace), "ws");
	str_copy(m->name, sizeof(m->name), name);
	str_copy(m->type, sizeof(m->type), "huggingface");
	str_copy(m->visibility, sizeof(m->visibility), "public");
	str_copy(m->created_by, sizeof(m->created_by), "alice");
	m->id = id;
	m->version = v->version = 3;
	m->expires_at = 1700000000;
	str_copy(v->provider, sizeof(v->provider), "local");
	assert_int_equal(store_blob_set(&v->wrapped_key, wrapped, sizeof(wrapped)), TR_OK);
	assert_int_equal(store_blob_set(&v->ciphertext, cipher, cipher_len), TR_OK);
	free(cipher);
}

static void put_secret(uint64_t generation, const char *name, int64_t id, size_t cipher_len)
{
	struct store_secret m;
	struct store_version v;

	make_secret(name, id, cipher_len, &m, &v);
	secret_cache_put(generation, &m, &v);
	store_secret_clear(&m);
	store_version_clear(&v);
}

static enum secret_cache_answer get_secret(uint64_t generation, const char *name)
{
	struct store_secret m;
	struct store_version v;
	enum secret_cache_answer a = secret_cache_get(generation, "ws", "", "", name, &m, &v);

	if (a == SECRET_CACHE_FOUND) {
		store_secret_clear(&m);
		store_version_clear(&v);
	}
	return a;
}

/* The entry of name is found in that state, and is the one put with id. */
static void expect_secret(uint64_t generation, const char *name, int64_t id, size_t cipher_len)
{
	struct store_secret m;
	struct store_version v;

	assert_int_equal(secret_cache_get(generation, "ws", "", "", name, &m, &v), SECRET_CACHE_FOUND);
	assert_string_equal(m.name, name);
	assert_int_equal(m.id, id);
	assert_int_equal(v.ciphertext.len, cipher_len);
	for (size_t i = 0; i < cipher_len; i++)
		assert_int_equal(v.ciphertext.data[i], (unsigned char)id);
	assert_int_equal(v.wrapped_key.len, 72);
	assert_int_equal(v.wrapped_key.data[71], (unsigned char)id ^ 0x5a);
	store_secret_clear(&m);
	store_version_clear(&v);
}

static int release_cache(void **state)
{
	(void)state;
	secret_cache_release();
	return 0;
}

static void test_an_entry_reads_back_as_put(void **state)
{
	struct store_secret want_m, m;
	struct store_version want_v, v;

	(void)state;
	make_secret("hf-token", 7, 99, &want_m, &want_v);
	secret_cache_put(5, &want_m, &want_v);
	assert_int_equal(secret_cache_get(5, "ws", "", "", "hf-token", &m, &v), SECRET_CACHE_FOUND);
	assert_string_equal(m.workspace, "ws");
	assert_string_equal(m.name, "hf-token");
	assert_string_equal(m.project, "");
	assert_string_equal(m.type, "huggingface");
	assert_string_equal(m.visibility, "public");
	assert_string_equal(m.created_by, "alice");
	assert_int_equal(m.id, 7);
	assert_int_equal(m.version, 3);
	assert_int_equal(m.expires_at, 1700000000);
	assert_int_equal(v.version, 3);
	assert_string_equal(v.provider, "local");
	assert_int_equal(v.wrapped_key.len, want_v.wrapped_key.len);
	assert_memory_equal(v.wrapped_key.data, want_v.wrapped_key.data, v.wrapped_key.len);
	assert_int_equal(v.ciphertext.len, want_v.ciphertext.len);
	assert_memory_equal(v.ciphertext.data, want_v.ciphertext.data, v.ciphertext.len);
	store_secret_clear(&m);
	store_version_clear(&v);
	/* The same name in another scope is another secret. */
	assert_int_equal(secret_cache_get(5, "ws", "p1", "", "hf-token", &m, &v), SECRET_CACHE_MISS);
	store_secret_clear(&want_m);
	store_version_clear(&want_v);
}

/* A direct-mapped table of 65,536 slots lost ~7 % of these to collisions,
 * and its wider entries passed the budget before the last ones. Each is
 * read back as its own (~7 % share a bucket with another). */
static void test_ten_thousand_secrets_are_all_kept(void **state)
{
	char name[32];
	uint64_t hits;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "secret-%05d", i);
		put_secret(9, name, i + 1, 99);
	}
	hits = secret_cache_hits();
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "secret-%05d", i);
		expect_secret(9, name, i + 1, 99);
	}
	assert_int_equal(secret_cache_hits() - hits, 10000);
}

static void test_an_absence_is_kept(void **state)
{
	struct store_secret m;
	struct store_version v;

	(void)state;
	secret_cache_put_absent(4, "ws", "p1", "", "hf-token");
	assert_int_equal(secret_cache_get(4, "ws", "p1", "", "hf-token", &m, &v), SECRET_CACHE_ABSENT);
	assert_int_equal(secret_cache_get(4, "ws", "p2", "", "hf-token", &m, &v), SECRET_CACHE_MISS);
	/* Found later in the same state (its own read): the entry is replaced. */
	secret_cache_put_absent(4, "ws", "", "", "y");
	put_secret(4, "y", 2, 10);
	expect_secret(4, "y", 2, 10);
}

static void test_entries_serve_only_their_state(void **state)
{
	(void)state;
	put_secret(10, "a", 1, 50);
	assert_int_equal(get_secret(10, "a"), SECRET_CACHE_FOUND);
	assert_int_equal(get_secret(11, "a"), SECRET_CACHE_MISS);
	put_secret(9, "b", 2, 50); /* an older state's: not kept */
	assert_int_equal(get_secret(9, "b"), SECRET_CACHE_MISS);
	assert_int_equal(get_secret(10, "b"), SECRET_CACHE_MISS);
	put_secret(11, "c", 3, 50); /* a newer state drops the older entries */
	assert_int_equal(get_secret(10, "a"), SECRET_CACHE_MISS);
	assert_int_equal(get_secret(11, "a"), SECRET_CACHE_MISS);
	assert_int_equal(get_secret(11, "c"), SECRET_CACHE_FOUND);
}

/* 64 KiB ciphertexts: the 4 MiB budget holds fewer than 64. The put that
 * would pass it drops the others, so what is kept is the newest run of
 * puts, never all, and never nothing new. */
static void test_a_full_budget_starts_again(void **state)
{
	char name[32];
	int i, first_kept = -1;

	(void)state;
	for (i = 0; i < 80; i++) {
		snprintf(name, sizeof(name), "big-%02d", i);
		put_secret(3, name, i + 1, 64 * 1024);
	}
	for (i = 0; i < 80; i++) {
		snprintf(name, sizeof(name), "big-%02d", i);
		if (get_secret(3, name) == SECRET_CACHE_FOUND) {
			if (first_kept < 0)
				first_kept = i;
		} else {
			assert_int_equal(first_kept, -1); /* the kept ones are the newest */
		}
	}
	assert_in_range(first_kept, 17, 79);
	expect_secret(3, "big-79", 80, 64 * 1024);
}

/* How many 64 KiB entries the budget holds: puts until the first is
 * dropped. Leaves the cache empty. */
static int big_entries_that_fit(void)
{
	char name[32];
	int n;

	for (n = 0;; n++) {
		snprintf(name, sizeof(name), "big-%02d", n);
		put_secret(2, name, n + 1, 64 * 1024);
		if (get_secret(2, "big-00") != SECRET_CACHE_FOUND)
			break;
	}
	secret_cache_release();
	return n;
}

/* Putting one secret again replaces its entry and gives its bytes back:
 * after a thousand puts of 64 KiB, the one put before is still kept, and
 * in a cache one entry short of full, a replaced entry drops no other. */
static void test_a_replaced_entry_gives_its_bytes_back(void **state)
{
	char name[32];
	int fit = big_entries_that_fit();

	(void)state;
	put_secret(6, "first", 1, 64 * 1024);
	for (int i = 0; i < 1000; i++)
		put_secret(6, "same", i + 2, 64 * 1024);
	put_secret(6, "other", 5000, 64 * 1024);
	expect_secret(6, "first", 1, 64 * 1024);
	expect_secret(6, "same", 1001, 64 * 1024);
	expect_secret(6, "other", 5000, 64 * 1024);

	secret_cache_release();
	assert_in_range(fit, 2, 63);
	for (int i = 0; i < fit; i++) {
		snprintf(name, sizeof(name), "big-%02d", i);
		put_secret(7, name, i + 1, 64 * 1024);
	}
	put_secret(7, "big-01", 99, 64 * 1024);
	expect_secret(7, "big-00", 1, 64 * 1024);
	expect_secret(7, "big-01", 99, 64 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_an_entry_reads_back_as_put, release_cache),
	    cmocka_unit_test_teardown(test_ten_thousand_secrets_are_all_kept, release_cache),
	    cmocka_unit_test_teardown(test_an_absence_is_kept, release_cache),
	    cmocka_unit_test_teardown(test_entries_serve_only_their_state, release_cache),
	    cmocka_unit_test_teardown(test_a_full_budget_starts_again, release_cache),
	    cmocka_unit_test_teardown(test_a_replaced_entry_gives_its_bytes_back, release_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
