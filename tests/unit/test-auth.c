/*
 * test-auth.c - bearer-token authentication (src/domain/auth.c) and its
 * per-thread cache of verified tokens, and role bindings changed in one
 * thread holding in another at once: two domains on one database stand for
 * two server threads, each with its own cache.
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
#include "domain/members.h"
#include "domain/policy.h"
#include "domain/principals.h"
#include "domain/tokens.h"
#include "domain-fixture.h"

static int setup(void **state)
{
	struct domain_fixture *f = calloc(1, sizeof(*f));
	const unsigned char key[DOMAIN_FIXTURE_KEY_LEN] = {4, 5, 6};

	domain_fixture_open(f, "test-auth", key);
	domain_fixture_open_peer(f); /* f->domain stands for one thread, f->peer for another */
	snprintf(f->admin.kind, sizeof(f->admin.kind), "user");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct domain_fixture *f = *state;

	domain_fixture_close(f);
	free(f);
	return 0;
}

/* Mints a token for a new principal `name` (made by the admin). */
static void mint(struct domain_fixture *f, const char *name, const char *kind, struct token_created *out)
{
	struct store_principal p;

	assert_int_equal(principals_create(&f->domain, &f->admin, name, kind, false, &p, NULL), TR_OK);
	assert_int_equal(tokens_create(&f->domain, &f->admin, name, 0, "test", out, NULL), TR_OK);
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
	struct domain_fixture *f = *state;
	struct token_created t = {0};
	struct principal first = {0}, again = {0};

	mint(f, "svc-a", "service", &t);
	assert_int_equal(auth_authenticate(&f->domain, t.text, &first, NULL), TR_OK);
	assert_int_equal(auth_authenticate(&f->domain, t.text, &again, NULL), TR_OK); /* from the cache */
	assert_string_equal(again.name, "svc-a");
	assert_string_equal(again.kind, "service");
	assert_string_equal(again.token_id, first.token_id);
	assert_string_equal(again.token_minter, "admin"); /* a service token minted by the admin */
	assert_false(again.platform_admin);
}

static void test_deleted_token_is_refused_by_every_thread_at_once(void **state)
{
	struct domain_fixture *f = *state;
	struct token_created t = {0}, other = {0};

	mint(f, "user-b", "user", &t);
	mint(f, "user-c", "user", &other);
	/* both threads have verified (and cached) both tokens */
	assert_authenticates_as(&f->domain, t.text, "user-b");
	assert_authenticates_as(&f->peer, t.text, "user-b");
	assert_authenticates_as(&f->peer, other.text, "user-c");
	assert_int_equal(tokens_delete(&f->domain, &f->admin, t.meta.id, NULL), TR_OK);
	assert_refused(&f->domain, t.text);
	assert_refused(&f->peer, t.text);
	/* the other token still works (read again from the store) */
	assert_authenticates_as(&f->peer, other.text, "user-c");
}

static void test_deleted_principal_is_refused_by_every_thread_at_once(void **state)
{
	struct domain_fixture *f = *state;
	struct token_created t = {0};

	mint(f, "user-d", "user", &t);
	assert_authenticates_as(&f->peer, t.text, "user-d");
	assert_int_equal(principals_delete(&f->domain, &f->admin, "user-d", NULL), TR_OK);
	assert_refused(&f->peer, t.text);
}

static void test_failed_delete_leaves_the_cache_valid(void **state)
{
	struct domain_fixture *f = *state;
	struct token_created t = {0};
	uint64_t before;

	mint(f, "user-e", "user", &t);
	assert_authenticates_as(&f->peer, t.text, "user-e");
	before = domain_auth_generation();
	assert_int_equal(tokens_delete(&f->domain, &f->admin, "tok_0000000000000000", NULL), TR_ENOTFOUND);
	assert_int_equal(domain_auth_generation(), before); /* rolled back: nothing changed */
	assert_authenticates_as(&f->peer, t.text, "user-e");
}

static void test_malformed_and_unknown_tokens_are_refused(void **state)
{
	struct domain_fixture *f = *state;

	assert_refused(&f->domain, "");
	assert_refused(&f->domain, "not-a-token");
	assert_refused(&f->domain, "trs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

/* A worker keeps one read transaction for a loop iteration: a token read
 * from a snapshot older than a revocation may be accepted in it (the
 * request was sent before the revocation was answered), but is not cached
 * as valid afterwards, and the writer is told to check it again. */
static void test_token_read_from_an_older_snapshot_is_not_trusted_later(void **state)
{
	struct domain_fixture *f = *state;
	struct token_created t = {0}, other = {0};
	struct principal who = {0};

	mint(f, "old-snap", "user", &t);
	mint(f, "bystander", "user", &other);
	domain_read_begin(&f->peer);
	assert_authenticates_as(&f->peer, other.text, "bystander"); /* takes the snapshot */
	assert_int_equal(tokens_delete(&f->domain, &f->admin, t.meta.id, NULL), TR_OK);
	assert_int_equal(auth_authenticate(&f->peer, t.text, &who, NULL), TR_OK); /* the old snapshot */
	assert_false(domain_auth_unchanged_since(&f->peer, who.auth_generation));
	domain_read_end(&f->peer);
	assert_refused(&f->peer, t.text);
}

/* A user `name` with role in the default workspace, as a caller. */
static struct principal member(struct domain_fixture *f, const char *name, const char *role)
{
	struct principal who = {0};
	struct store_principal p;
	struct store_member m;

	assert_int_equal(principals_create(&f->domain, &f->admin, name, "user", false, &p, NULL), TR_OK);
	assert_int_equal(members_put(&f->domain, &f->admin, "default", name, role, NULL, NULL, &m, NULL), TR_OK);
	snprintf(who.name, sizeof(who.name), "%s", name);
	snprintf(who.kind, sizeof(who.kind), "user");
	return who;
}

static enum tr_status may_create(struct domain *d, const struct principal *who)
{
	return policy_check_workspace(d, who, ACT_SECRET_CREATE, "default", NULL);
}

static void test_changed_binding_holds_in_every_thread_at_once(void **state)
{
	struct domain_fixture *f = *state;
	struct principal ed = member(f, "ed", "editor");
	struct store_member m;

	/* both threads have read (and cached) the binding */
	assert_int_equal(may_create(&f->domain, &ed), TR_OK);
	assert_int_equal(may_create(&f->peer, &ed), TR_OK);
	assert_int_equal(members_put(&f->domain, &f->admin, "default", "ed", "viewer", NULL, NULL, &m, NULL), TR_OK);
	assert_int_equal(may_create(&f->domain, &ed), TR_EDENIED);
	assert_int_equal(may_create(&f->peer, &ed), TR_EDENIED);
	assert_int_equal(members_delete(&f->peer, &f->admin, "default", "ed", NULL), TR_OK);
	assert_int_equal(policy_check_workspace(&f->domain, &ed, ACT_WORKSPACE_READ, "default", NULL), TR_ENOTFOUND);
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
		cmocka_unit_test_setup_teardown(test_changed_binding_holds_in_every_thread_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_read_from_an_older_snapshot_is_not_trusted_later, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
