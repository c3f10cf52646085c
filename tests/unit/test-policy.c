/*
 * test-policy.c - role bindings are read once per auth generation
 * (policy.c): a cached binding decides until a change of bindings commits;
 * a missing binding is never cached; nothing cached is trusted, or kept,
 * while the domain's own transaction changes bindings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain-fixture.h"
#include "domain/members.h"
#include "domain/policy.h"

static const unsigned char test_key[DOMAIN_FIXTURE_KEY_LEN] = "policy-test-key-32-bytes-long!!";

struct fixture {
	struct domain_fixture df;
	struct principal bob;
};

static int setup(void **state)
{
	static struct fixture f;
	struct store_principal p = {.name = "bob", .kind = "user", .created_at = 1};

	memset(&f, 0, sizeof(f));
	domain_fixture_open(&f.df, "policy", test_key);
	assert_int_equal(store_principal_create(f.df.domain.store, &p, NULL), TR_OK);
	snprintf(f.bob.name, sizeof(f.bob.name), "bob");
	snprintf(f.bob.kind, sizeof(f.bob.kind), "user");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	domain_fixture_close(&f->df);
	return 0;
}

/* Through the domain: the change commits and moves the generation. */
static void bind(struct fixture *f, const char *role)
{
	struct store_member out;
	struct tr_error err = {0};

	assert_int_equal(members_put(&f->df.domain, &f->df.admin, "default", "bob", role, NULL, NULL, &out, &err),
			 TR_OK);
}

/* Straight into the store: the generation stays where it is. */
static void bind_behind_the_cache(struct fixture *f, const char *role)
{
	struct store_member m = {.workspace = "default", .principal = "bob", .created_at = 2};

	snprintf(m.role, sizeof(m.role), "%s", role);
	assert_int_equal(store_member_put(f->df.domain.store, &m, NULL), TR_OK);
}

static enum tr_status may_create(struct fixture *f)
{
	struct tr_error err = {0};

	return policy_check_workspace(&f->df.domain, &f->bob, ACT_SECRET_CREATE, "default", &err);
}

static void test_a_binding_decides_until_bindings_change(void **state)
{
	struct fixture *f = *state;

	bind(f, "viewer");
	assert_int_equal(may_create(f), TR_EDENIED);
	bind_behind_the_cache(f, "editor");
	assert_int_equal(may_create(f), TR_EDENIED); /* the viewer binding, cached */
	bind(f, "editor");
	assert_int_equal(may_create(f), TR_OK);
}

static void test_a_missing_binding_is_not_cached(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(may_create(f), TR_ENOTFOUND);
	bind_behind_the_cache(f, "editor");
	assert_int_equal(may_create(f), TR_OK);
}

/* An earlier request of a group commit changed bindings: the cache is
 * passed by, and what is read then is not kept (it may roll back). */
static void test_a_pending_change_of_bindings_passes_the_cache(void **state)
{
	struct fixture *f = *state;
	struct domain *d = &f->df.domain;

	bind(f, "viewer");
	assert_int_equal(may_create(f), TR_EDENIED);
	assert_int_equal(domain_begin(d, NULL), TR_OK);
	bind_behind_the_cache(f, "editor");
	domain_auth_changed(d);
	assert_int_equal(may_create(f), TR_OK);
	assert_int_not_equal(domain_finish(d, TR_EINTERNAL, NULL), TR_OK); /* rolled back */
	assert_int_equal(may_create(f), TR_EDENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_binding_decides_until_bindings_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_missing_binding_is_not_cached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_pending_change_of_bindings_passes_the_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
