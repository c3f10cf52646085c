/*
 * test-auth.c - bearer-token authentication (src/domain/auth.c) and its
 * per-thread cache of verified tokens: two domains on one database stand
 * for two server threads, each with its own cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain/auth.h"
#include "domain/principals.h"
#include "domain/tokens.h"

struct fixture {
	char dir[64];
	struct keyring *kr;
	struct domain a; /* one thread */
	struct domain b; /* another */
	struct principal admin;
};

static enum tr_status discard_token(void *ctx, const char *token, struct tr_error *err)
{
	(void)ctx;
	(void)token;
	(void)err;
	return TR_OK;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char dsn[128];
	bool created;

	snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-test-auth-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->dir);
	assert_int_equal(keyring_new(&f->kr, NULL), TR_OK);
	assert_int_equal(store_open(dsn, &f->a.store, NULL), TR_OK);
	assert_int_equal(store_open(dsn, &f->b.store, NULL), TR_OK);
	f->a.keyring = f->b.keyring = f->kr;
	f->a.keep_versions = f->b.keep_versions = 3;
	assert_int_equal(auth_bootstrap(&f->a, discard_token, NULL, &created, NULL), TR_OK);
	snprintf(f->admin.name, sizeof(f->admin.name), "admin");
	snprintf(f->admin.kind, sizeof(f->admin.kind), "user");
	f->admin.platform_admin = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->a.store);
	store_close(f->b.store);
	keyring_free(f->kr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Mints a token for a new principal `name` (made by the admin). */
static void mint(struct fixture *f, const char *name, const char *kind, struct token_created *out)
{
	struct store_principal p;

	assert_int_equal(principals_create(&f->a, &f->admin, name, kind, false, &p, NULL), TR_OK);
	assert_int_equal(tokens_create(&f->a, &f->admin, name, 0, "test", out, NULL), TR_OK);
}

static void assert_authenticates_as(struct domain *d, const char *token, const char *name)
{
	struct principal who = {0};

	assert_int_equal(auth_authenticate(d, token, &who, NULL), TR_OK);
	assert_string_equal(who.name, name);
}

static void assert_refused(struct domain *d, const char *token)
{
	struct principal who = {0};
	struct tr_error err = {0};

	assert_int_equal(auth_authenticate(d, token, &who, &err), TR_EUNAUTH);
	assert_string_equal(who.name, "");
}

static void test_cached_token_answers_like_the_store(void **state)
{
	struct fixture *f = *state;
	struct token_created t = {0};
	struct principal first = {0}, again = {0};

	mint(f, "svc-a", "service", &t);
	assert_int_equal(auth_authenticate(&f->a, t.text, &first, NULL), TR_OK);
	assert_int_equal(auth_authenticate(&f->a, t.text, &again, NULL), TR_OK); /* from the cache */
	assert_string_equal(again.name, "svc-a");
	assert_string_equal(again.kind, "service");
	assert_string_equal(again.token_id, first.token_id);
	assert_string_equal(again.token_minter, "admin"); /* a service token minted by the admin */
	assert_false(again.platform_admin);
}

static void test_deleted_token_is_refused_by_every_thread_at_once(void **state)
{
	struct fixture *f = *state;
	struct token_created t = {0}, other = {0};

	mint(f, "user-b", "user", &t);
	mint(f, "user-c", "user", &other);
	/* both threads have verified (and cached) both tokens */
	assert_authenticates_as(&f->a, t.text, "user-b");
	assert_authenticates_as(&f->b, t.text, "user-b");
	assert_authenticates_as(&f->b, other.text, "user-c");
	assert_int_equal(tokens_delete(&f->a, &f->admin, t.meta.id, NULL), TR_OK);
	assert_refused(&f->a, t.text);
	assert_refused(&f->b, t.text);
	/* the other token still works (read again from the store) */
	assert_authenticates_as(&f->b, other.text, "user-c");
}

static void test_deleted_principal_is_refused_by_every_thread_at_once(void **state)
{
	struct fixture *f = *state;
	struct token_created t = {0};

	mint(f, "user-d", "user", &t);
	assert_authenticates_as(&f->b, t.text, "user-d");
	assert_int_equal(principals_delete(&f->a, &f->admin, "user-d", NULL), TR_OK);
	assert_refused(&f->b, t.text);
}

static void test_failed_delete_leaves_the_cache_valid(void **state)
{
	struct fixture *f = *state;
	struct token_created t = {0};
	uint64_t before;

	mint(f, "user-e", "user", &t);
	assert_authenticates_as(&f->b, t.text, "user-e");
	before = domain_auth_generation();
	assert_int_equal(tokens_delete(&f->a, &f->admin, "tok_0000000000000000", NULL), TR_ENOTFOUND);
	assert_int_equal(domain_auth_generation(), before); /* rolled back: nothing changed */
	assert_authenticates_as(&f->b, t.text, "user-e");
}

static void test_malformed_and_unknown_tokens_are_refused(void **state)
{
	struct fixture *f = *state;

	assert_refused(&f->a, "");
	assert_refused(&f->a, "not-a-token");
	assert_refused(&f->a, "trs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cached_token_answers_like_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_token_is_refused_by_every_thread_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_principal_is_refused_by_every_thread_at_once, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_failed_delete_leaves_the_cache_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_and_unknown_tokens_are_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
