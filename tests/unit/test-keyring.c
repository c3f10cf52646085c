/*
 * test-keyring.c - unit tests for src/crypto/keyring.c and the secret_key
 * and key-file providers: lookup and current provider, wrap/unwrap, every
 * way a wrapped key can fail, and the key file's creation and checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/keyring.h"

/* ---- helpers ---- */

static void fill_key(unsigned char *key, size_t len, unsigned char seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		key[i] = (unsigned char)(seed + i * 7);
}

static struct key_provider *new_sk(const char *id, unsigned char seed)
{
	unsigned char key[32];
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	fill_key(key, sizeof(key), seed);
	assert_int_equal(provider_secret_key_new(id, key, sizeof(key), &p, &err), TR_OK);
	assert_non_null(p);
	return p;
}

static struct keyring *new_keyring(void)
{
	struct keyring *kr = NULL;
	struct tr_error err = {0};

	assert_int_equal(keyring_new(&kr, &err), TR_OK);
	assert_non_null(kr);
	return kr;
}

/* Adds p to kr and returns the keyring's view of it. */
static const struct key_provider *add(struct keyring *kr, struct key_provider *p)
{
	struct tr_error err = {0};
	char id[sizeof(p->id)];

	memcpy(id, p->id, sizeof(id));
	assert_int_equal(keyring_add(kr, p, &err), TR_OK);
	return keyring_get(kr, id);
}

static void wrap(const struct key_provider *p, const unsigned char *dk, unsigned char **blob, size_t *len)
{
	struct tr_error err = {0};

	assert_int_equal(p->ops->wrap(p->ctx, p->id, dk, blob, len, &err), TR_OK);
	assert_non_null(*blob);
}

/* Unwraps with p under provider id aad_id; checks dk is wiped on failure. */
static enum tr_status unwrap_as(const struct key_provider *p, const char *aad_id, const unsigned char *blob,
                                size_t len, unsigned char *dk)
{
	struct tr_error err = {0};
	enum tr_status st;

	memset(dk, 0xAA, DATA_KEY_BYTES);
	st = p->ops->unwrap(p->ctx, aad_id, blob, len, dk, &err);
	if (st != TR_OK) {
		static const unsigned char zero[DATA_KEY_BYTES];

		assert_memory_equal(dk, zero, DATA_KEY_BYTES);
		assert_int_equal(err.status, st);
		assert_non_null(strstr(err.message, "unwrap failed"));
	}
	return st;
}

static enum tr_status unwrap(const struct key_provider *p, const unsigned char *blob, size_t len,
                             unsigned char *dk)
{
	return unwrap_as(p, p->id, blob, len, dk);
}

/* ---- keyring ---- */

static void test_keyring_add_get_current(void **state)
{
	struct keyring *kr = new_keyring();
	struct tr_error err = {0};
	const struct key_provider *a, *b;

	(void)state;
	assert_null(keyring_current(kr));
	assert_null(keyring_get(kr, "local"));
	a = add(kr, new_sk("local", 1));
	b = add(kr, new_sk("local_v2", 2));
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(a->id, "local");
	assert_string_equal(a->ops->family, "secret_key");
	assert_null(keyring_get(kr, "local_v3"));
	assert_null(keyring_get(kr, "loca"));

	assert_null(keyring_current(kr));
	assert_int_equal(keyring_set_current(kr, "local_v2", &err), TR_OK);
	assert_ptr_equal(keyring_current(kr), b);
	assert_int_equal(keyring_set_current(kr, "nope", &err), TR_ENOTFOUND);
	assert_non_null(strstr(err.message, "'nope'"));
	assert_ptr_equal(keyring_current(kr), b);
	assert_int_equal(keyring_set_current(kr, "local", &err), TR_OK);
	assert_ptr_equal(keyring_current(kr), a);
	keyring_free(kr);
	keyring_free(NULL);
}

static void test_keyring_duplicate_id(void **state)
{
	struct keyring *kr = new_keyring();
	struct tr_error err = {0};
	const struct key_provider *first;

	(void)state;
	first = add(kr, new_sk("local", 1));
	/* The duplicate is consumed (freed) even though it is refused. */
	assert_int_equal(keyring_add(kr, new_sk("local", 2), &err), TR_ECONFLICT);
	assert_int_equal(err.status, TR_ECONFLICT);
	assert_non_null(strstr(err.message, "'local'"));
	assert_ptr_equal(keyring_get(kr, "local"), first);
	keyring_free(kr);
}

static void test_keyring_limit(void **state)
{
	struct keyring *kr = new_keyring();
	struct tr_error err = {0};
	char id[16];
	int i;

	(void)state;
	for (i = 0; i < 16; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		add(kr, new_sk(id, (unsigned char)i));
	}
	assert_int_equal(keyring_add(kr, new_sk("p16", 16), &err), TR_ETOOLARGE);
	assert_null(keyring_get(kr, "p16"));
	assert_non_null(keyring_get(kr, "p15"));
	keyring_free(kr);
}

static void test_keyring_count_at(void **state)
{
	struct keyring *kr = new_keyring();
	const struct key_provider *a, *b;

	(void)state;
	assert_int_equal(keyring_count(kr), 0);
	assert_null(keyring_at(kr, 0));
	a = add(kr, new_sk("a", 1));
	b = add(kr, new_sk("b", 2));
	assert_int_equal(keyring_count(kr), 2);
	assert_ptr_equal(keyring_at(kr, 0), a);
	assert_ptr_equal(keyring_at(kr, 1), b);
	assert_null(keyring_at(kr, 2));
	assert_int_equal(keyring_count(NULL), 0);
	assert_null(keyring_at(NULL, 0));
	keyring_free(kr);
}

static void test_keyring_id_valid(void **state)
{
	char id[TR_PROVIDER_ID_MAX + 2];

	(void)state;
	assert_true(keyring_id_valid("local"));
	assert_true(keyring_id_valid("local_v2"));
	assert_true(keyring_id_valid("hsm-1.eu"));
	assert_false(keyring_id_valid(""));
	assert_false(keyring_id_valid(NULL));
	assert_false(keyring_id_valid("*"));
	assert_false(keyring_id_valid("a b"));
	assert_false(keyring_id_valid("a/b"));
	assert_false(keyring_id_valid("caf\xc3\xa9"));
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_false(keyring_id_valid(id));
	id[TR_PROVIDER_ID_MAX] = '\0';
	assert_true(keyring_id_valid(id));
}

/* ---- secret_key provider ---- */

static void test_secret_key_round_trip(void **state)
{
	struct keyring *kr = new_keyring();
	const struct key_provider *p = add(kr, new_sk("local", 1));
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL, *blob2 = NULL;
	size_t len = 0, len2 = 0;

	(void)state;
	randombytes_buf(dk, sizeof(dk));
	wrap(p, dk, &blob, &len);
	assert_int_equal(len, 1 + 24 + 32 + 16);
	assert_int_equal(blob[0], 1);
	assert_null(memmem(blob, len, dk, sizeof(dk)));
	assert_int_equal(unwrap(p, blob, len, back), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));

	/* A fresh nonce each time. */
	wrap(p, dk, &blob2, &len2);
	assert_memory_not_equal(blob + 1, blob2 + 1, 24);
	assert_int_equal(unwrap(p, blob2, len2, back), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	free(blob2);
	keyring_free(kr);
}

static void test_secret_key_wrong_key(void **state)
{
	struct keyring *kr = new_keyring();
	const struct key_provider *a = add(kr, new_sk("a", 1));
	const struct key_provider *b = add(kr, new_sk("b", 2));
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	randombytes_buf(dk, sizeof(dk));
	wrap(a, dk, &blob, &len);
	/* Same AAD (id "a"), different key. */
	assert_int_equal(unwrap_as(b, "a", blob, len, back), TR_ECRYPTO);
	free(blob);
	keyring_free(kr);
}

static void test_secret_key_wrong_provider_id(void **state)
{
	struct keyring *kr = new_keyring();
	const struct key_provider *a = add(kr, new_sk("a", 1));
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	randombytes_buf(dk, sizeof(dk));
	wrap(a, dk, &blob, &len);
	/* Same key, presented as another provider's blob. */
	assert_int_equal(unwrap_as(a, "a2", blob, len, back), TR_ECRYPTO);
	assert_int_equal(unwrap_as(a, "", blob, len, back), TR_ECRYPTO);
	assert_int_equal(unwrap_as(a, "a", blob, len, back), TR_OK);
	free(blob);
	keyring_free(kr);
}

static void test_secret_key_corrupted(void **state)
{
	struct keyring *kr = new_keyring();
	const struct key_provider *p = add(kr, new_sk("local", 1));
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL, *longer;
	size_t len = 0, i;
	int bit;

	(void)state;
	randombytes_buf(dk, sizeof(dk));
	wrap(p, dk, &blob, &len);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			blob[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(unwrap(p, blob, len, back), TR_ECRYPTO);
			blob[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Every truncation, and one byte too many. */
	for (i = 0; i < len; i++)
		assert_int_equal(unwrap(p, blob, i, back), TR_ECRYPTO);
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, blob, len);
	longer[len] = 0;
	assert_int_equal(unwrap(p, longer, len + 1, back), TR_ECRYPTO);
	free(longer);
	/* Still intact. */
	assert_int_equal(unwrap(p, blob, len, back), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	keyring_free(kr);
}

static void test_secret_key_too_short(void **state)
{
	unsigned char key[32];
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	(void)state;
	fill_key(key, sizeof(key), 1);
	assert_int_equal(provider_secret_key_new("local", key, 31, &p, &err), TR_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err.message, "32 bytes"));
	assert_int_equal(provider_secret_key_new("local", key, 0, &p, &err), TR_EINVAL);
	assert_null(p);
}

static void test_secret_key_bad_id(void **state)
{
	unsigned char key[32];
	char long_id[TR_PROVIDER_ID_MAX + 2];
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	(void)state;
	fill_key(key, sizeof(key), 1);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(provider_secret_key_new(long_id, key, sizeof(key), &p, &err), TR_EINVAL);
	assert_int_equal(provider_secret_key_new("", key, sizeof(key), &p, &err), TR_EINVAL);
	assert_null(p);
	long_id[TR_PROVIDER_ID_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(provider_secret_key_new(long_id, key, sizeof(key), &p, &err), TR_OK);
	p->ops->destroy(p->ctx);
	free(p);
}

static void test_secret_key_long_key_is_hashed(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char key[48], dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct key_provider *p = NULL;
	const struct key_provider *longp, *shortp, *longp2;
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	fill_key(key, sizeof(key), 9);
	assert_int_equal(provider_secret_key_new("k", key, sizeof(key), &p, &err), TR_OK);
	longp = add(kr, p);
	/* The same key's first 32 bytes is a different key... */
	assert_int_equal(provider_secret_key_new("k32", key, 32, &p, &err), TR_OK);
	shortp = add(kr, p);
	/* ...and the same 48 bytes again is the same key. */
	assert_int_equal(provider_secret_key_new("k48", key, sizeof(key), &p, &err), TR_OK);
	longp2 = add(kr, p);

	randombytes_buf(dk, sizeof(dk));
	wrap(longp, dk, &blob, &len);
	assert_int_equal(unwrap_as(shortp, "k", blob, len, back), TR_ECRYPTO);
	assert_int_equal(unwrap_as(longp2, "k", blob, len, back), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	keyring_free(kr);
}

/* ---- key file provider ---- */

struct tmpdir {
	char dir[64];
	char path[96];
};

static void tmpdir_make(struct tmpdir *t)
{
	strcpy(t->dir, "/tmp/tresor-test-keyring-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/master.key", t->dir);
}

static void tmpdir_remove(struct tmpdir *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

static void write_file(const char *path, const unsigned char *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_key_file_created(void **state)
{
	struct tmpdir t;
	struct key_provider *p = NULL, *p2 = NULL;
	struct keyring *kr;
	struct tr_error err = {0};
	struct stat st;
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	tmpdir_make(&t);
	/* Missing and not allowed to create. */
	assert_int_equal(provider_key_file_open("local", t.path, 0, &p, &err), TR_EUNAVAIL);
	assert_null(p);
	assert_non_null(strstr(err.message, t.path));

	assert_int_equal(provider_key_file_open("local", t.path, 1, &p, &err), TR_OK);
	assert_int_equal(stat(t.path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);

	kr = new_keyring();
	randombytes_buf(dk, sizeof(dk));
	wrap(add(kr, p), dk, &blob, &len);
	keyring_free(kr);

	/* Reopened (create allowed, but the file exists): the same key. */
	assert_int_equal(provider_key_file_open("local", t.path, 1, &p2, &err), TR_OK);
	kr = new_keyring();
	assert_int_equal(unwrap(add(kr, p2), blob, len, back), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	keyring_free(kr);
	free(blob);
	tmpdir_remove(&t);
}

static void test_key_file_two_files_differ(void **state)
{
	struct tmpdir t1, t2;
	struct key_provider *p1 = NULL, *p2 = NULL;
	struct tr_error err = {0};
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	tmpdir_make(&t1);
	tmpdir_make(&t2);
	assert_int_equal(provider_key_file_open("one", t1.path, 1, &p1, &err), TR_OK);
	assert_int_equal(provider_key_file_open("two", t2.path, 1, &p2, &err), TR_OK);
	randombytes_buf(dk, sizeof(dk));
	wrap(add(kr, p1), dk, &blob, &len);
	assert_int_equal(unwrap_as(add(kr, p2), "one", blob, len, back), TR_ECRYPTO);
	free(blob);
	keyring_free(kr);
	tmpdir_remove(&t1);
	tmpdir_remove(&t2);
}

static void test_key_file_refuses_open_mode(void **state)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0610, 0601, 0620};
	unsigned char key[32];
	struct tmpdir t;
	struct key_provider *p = NULL;
	struct tr_error err = {0};
	size_t i;

	(void)state;
	tmpdir_make(&t);
	fill_key(key, sizeof(key), 3);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(t.path, key, sizeof(key), modes[i]);
		assert_int_equal(provider_key_file_open("local", t.path, 1, &p, &err), TR_EUNAVAIL);
		assert_null(p);
		assert_non_null(strstr(err.message, "chmod 600"));
		assert_non_null(strstr(err.message, t.path));
	}
	/* 0400 is fine. */
	write_file(t.path, key, sizeof(key), 0400);
	assert_int_equal(provider_key_file_open("local", t.path, 0, &p, &err), TR_OK);
	p->ops->destroy(p->ctx);
	free(p);
	tmpdir_remove(&t);
}

static void test_key_file_refuses_wrong_size(void **state)
{
	static const size_t sizes[] = {31, 33, 0, 64};
	unsigned char key[64];
	struct tmpdir t;
	struct key_provider *p = NULL;
	struct tr_error err = {0};
	size_t i;

	(void)state;
	tmpdir_make(&t);
	fill_key(key, sizeof(key), 4);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_file(t.path, key, sizes[i], 0600);
		assert_int_equal(provider_key_file_open("local", t.path, 1, &p, &err), TR_EUNAVAIL);
		assert_null(p);
		assert_non_null(strstr(err.message, "must be 32 bytes"));
	}
	tmpdir_remove(&t);
}

static void test_key_file_refuses_directory(void **state)
{
	struct tmpdir t;
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	(void)state;
	tmpdir_make(&t);
	assert_int_equal(chmod(t.dir, 0700), 0);
	assert_int_equal(provider_key_file_open("local", t.dir, 1, &p, &err), TR_EUNAVAIL);
	assert_null(p);
	tmpdir_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyring_add_get_current),
		cmocka_unit_test(test_keyring_duplicate_id),
		cmocka_unit_test(test_keyring_limit),
		cmocka_unit_test(test_keyring_count_at),
		cmocka_unit_test(test_keyring_id_valid),
		cmocka_unit_test(test_secret_key_round_trip),
		cmocka_unit_test(test_secret_key_wrong_key),
		cmocka_unit_test(test_secret_key_wrong_provider_id),
		cmocka_unit_test(test_secret_key_corrupted),
		cmocka_unit_test(test_secret_key_too_short),
		cmocka_unit_test(test_secret_key_bad_id),
		cmocka_unit_test(test_secret_key_long_key_is_hashed),
		cmocka_unit_test(test_key_file_created),
		cmocka_unit_test(test_key_file_two_files_differ),
		cmocka_unit_test(test_key_file_refuses_open_mode),
		cmocka_unit_test(test_key_file_refuses_wrong_size),
		cmocka_unit_test(test_key_file_refuses_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
