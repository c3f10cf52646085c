/*
 * test-secrets.c - the secret lifecycle in the domain layer
 * (src/domain/secrets.c) on a real SQLite store and a real keyring.
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
#include "domain/batch.h"
#include "domain/secrets.h"
#include "domain/workspaces.h"
#include "domain-fixture.h"

struct fixture {
	struct domain_fixture env;
	struct principal nobody;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const unsigned char key[DOMAIN_FIXTURE_KEY_LEN] = {1, 2, 3};

	domain_fixture_open(&f->env, "test-secrets", key);
	snprintf(f->nobody.name, sizeof(f->nobody.name), "nobody");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	domain_fixture_close(&f->env);
	free(f);
	return 0;
}

static struct secret_input value_input(const char *name, const char *value)
{
	struct secret_input in = {.name = name, .has_data = true};

	assert_int_equal(secdata_add(&in.data, "value", value, strlen(value)), TR_OK);
	return in;
}

static void assert_revealed(struct fixture *f, const struct secret_ref *ref, const char *want)
{
	struct store_secret meta = {0};
	struct secdata d = {0};

	assert_int_equal(secrets_reveal(&f->env.domain, &f->env.admin, ref, &meta, &d, NULL), TR_OK);
	assert_int_equal(d.count, 1);
	assert_string_equal((const char *)d.items[0].value.data, want);
	secdata_clear(&d);
	store_secret_clear(&meta);
}

static void test_create_get_reveal(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("hf-token", "hf_secret_1");
	struct secret_ref ref = {.workspace = "default", .name = "hf-token"};
	struct store_secret m = {0};
	struct warnings w = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, &w, NULL), TR_OK);
	assert_string_equal(m.type, "opaque");
	assert_string_equal(m.visibility, "private");
	assert_string_equal(m.keys_json, "[\"value\"]");
	assert_int_equal(m.version, 1);
	assert_int_equal(w.count, 0);
	store_secret_clear(&m);
	assert_revealed(f, &ref, "hf_secret_1");
	secdata_clear(&in.data);
}

/* The ciphertext stored for ws/name's version 1. */
static void stored_ciphertext(struct fixture *f, const char *name, struct store_version *v)
{
	struct store_secret m = {0};

	assert_int_equal(store_secret_get(f->env.domain.store, "default", "", "", name, &m, NULL), TR_OK);
	assert_int_equal(store_version_get(f->env.domain.store, m.id, 1, v, NULL), TR_OK);
	store_secret_clear(&m);
}

/* A value sealed ahead is what a create of the same identity stores; for
 * another identity it is sealed again. Either way it reads back. */
static void test_a_create_stores_its_value_sealed_ahead(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("pre", "sealed-ahead");
	struct secret_input other = value_input("other", "sealed-here");
	struct secret_ref ref = {.workspace = "default", .name = "pre"};
	struct secret_ref other_ref = {.workspace = "default", .name = "other"};
	struct secret_presealed pre = {0};
	struct store_version v = {0};
	struct store_secret m = {0};

	assert_int_equal(secrets_preseal(&f->env.domain, &f->env.admin, "default", &in, &pre, NULL), TR_OK);
	in.presealed = &pre;
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	stored_ciphertext(f, "pre", &v);
	assert_int_equal(v.ciphertext.len, pre.version.ciphertext.len);
	assert_memory_equal(v.ciphertext.data, pre.version.ciphertext.data, v.ciphertext.len);
	assert_string_equal(v.created_by, "admin");
	assert_true(v.created_at > 0);
	store_version_clear(&v);
	assert_revealed(f, &ref, "sealed-ahead");

	other.presealed = &pre; /* sealed for "pre": not used */
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &other, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	stored_ciphertext(f, "other", &v);
	assert_false(v.ciphertext.len == pre.version.ciphertext.len &&
	             memcmp(v.ciphertext.data, pre.version.ciphertext.data, v.ciphertext.len) == 0);
	store_version_clear(&v);
	assert_revealed(f, &other_ref, "sealed-here");

	secrets_presealed_clear(&pre);
	secdata_clear(&in.data);
	secdata_clear(&other.data);
}

static void test_duplicate_is_a_conflict_naming_the_secret(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("dup", "v1v1v1");
	struct store_secret m = {0};
	struct tr_error err = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, &err), TR_ECONFLICT);
	assert_string_equal(err.message, "Secret 'default/dup' already exists");
	secdata_clear(&in.data);
}

static void test_update_makes_versions_and_prunes(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("rot", "version-1");
	struct secret_ref ref = {.workspace = "default", .name = "rot"};
	struct store_secret m = {0};
	struct store_version v = {0};
	char value[32];

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	secdata_clear(&in.data);
	for (int i = 2; i <= 5; i++) {
		struct secret_input up = {.has_data = true};

		snprintf(value, sizeof(value), "version-%d", i);
		assert_int_equal(secdata_add(&up.data, "value", value, strlen(value)), TR_OK);
		store_secret_clear(&m);
		assert_int_equal(secrets_update(&f->env.domain, &f->env.admin, &ref, &up, &m, NULL, NULL), TR_OK);
		assert_int_equal(m.version, i);
		secdata_clear(&up.data);
	}
	assert_revealed(f, &ref, "version-5");
	/* keep_versions is 3: versions 1 and 2 are gone, 3 remains. */
	assert_int_equal(store_version_get(f->env.domain.store, m.id, 2, &v, NULL), TR_ENOTFOUND);
	assert_int_equal(store_version_get(f->env.domain.store, m.id, 3, &v, NULL), TR_OK);
	store_version_clear(&v);
	store_secret_clear(&m);
}

static void test_metadata_only_update_keeps_version(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("meta", "value-1");
	struct secret_ref ref = {.workspace = "default", .name = "meta"};
	struct secret_input up = {.description = "new words", .has_description = true};
	struct store_secret m = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_update(&f->env.domain, &f->env.admin, &ref, &up, &m, NULL, NULL), TR_OK);
	assert_int_equal(m.version, 1);
	assert_string_equal(m.description, "new words");
	store_secret_clear(&m);
	assert_revealed(f, &ref, "value-1");
	secdata_clear(&in.data);
}

static void test_failed_update_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("keep", "original");
	struct secret_ref ref = {.workspace = "default", .name = "keep"};
	struct secret_input bad = {.type = "huggingface", .has_data = true};
	struct store_secret m = {0};
	struct tr_error err = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secdata_add(&bad.data, "token", "has space", 9), TR_OK);
	assert_int_equal(secrets_update(&f->env.domain, &f->env.admin, &ref, &bad, &m, NULL, &err), TR_EVALIDATION);
	assert_null(strstr(err.message, "has space"));
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_OK);
	assert_int_equal(m.version, 1);
	assert_string_equal(m.type, "opaque");
	store_secret_clear(&m);
	assert_revealed(f, &ref, "original");
	secdata_clear(&bad.data);
	secdata_clear(&in.data);
}

static void test_scopes_hold_the_same_name(void **state)
{
	struct fixture *f = *state;
	struct secret_input ws = value_input("shared", "workspace-value");
	struct secret_input pr = value_input("shared", "project-value");
	struct secret_ref ref = {.workspace = "default", .project = "p1", .name = "shared"};
	struct store_secret m = {0};

	pr.project = "p1";
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &ws, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &pr, &m, NULL, NULL), TR_OK);
	assert_string_equal(m.project, "p1");
	store_secret_clear(&m);
	assert_revealed(f, &ref, "project-value");
	ref.project = NULL;
	assert_revealed(f, &ref, "workspace-value");
	secdata_clear(&ws.data);
	secdata_clear(&pr.data);
}

static void test_put_creates_then_replaces(void **state)
{
	struct fixture *f = *state;
	struct secret_ref ref = {.workspace = "default", .name = "upsert"};
	struct secret_input in = value_input("upsert", "first");
	struct store_secret m = {0};
	bool created = false;

	assert_int_equal(secrets_put(&f->env.domain, &f->env.admin, &ref, &in, &m, &created, NULL, NULL), TR_OK);
	assert_true(created);
	store_secret_clear(&m);
	secdata_clear(&in.data);
	in = value_input("upsert", "second");
	assert_int_equal(secrets_put(&f->env.domain, &f->env.admin, &ref, &in, &m, &created, NULL, NULL), TR_OK);
	assert_false(created);
	assert_int_equal(m.version, 2);
	store_secret_clear(&m);
	assert_revealed(f, &ref, "second");
	secdata_clear(&in.data);
}

static void test_delete_then_not_found(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("gone", "value-x");
	struct secret_ref ref = {.workspace = "default", .name = "gone"};
	struct store_secret m = {0};
	struct tr_error err = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_delete(&f->env.domain, &f->env.admin, &ref, NULL), TR_OK);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, &err), TR_ENOTFOUND);
	assert_string_equal(err.message, "Secret 'default/gone' not found");
	assert_int_equal(secrets_delete(&f->env.domain, &f->env.admin, &ref, NULL), TR_ENOTFOUND);
	secdata_clear(&in.data);
}

static void test_validation_errors(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("a/b", "value");
	struct store_secret m = {0};
	struct tr_error err = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, &err), TR_EVALIDATION);
	assert_non_null(strstr(err.message, "'name'"));
	in.name = "ok-name";
	in.project = "p1";
	in.cluster = "c1";
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, &err), TR_EVALIDATION);
	in.cluster = NULL;
	in.visibility = "secret";
	in.has_visibility = true;
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, &err), TR_EVALIDATION);
	assert_non_null(strstr(err.message, "visibility"));
	in.has_visibility = false;
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "nope", &in, &m, NULL, &err), TR_ENOTFOUND);
	assert_string_equal(err.message, "Workspace 'nope' not found");
	secdata_clear(&in.data);
}

static void test_data_over_64_kib_is_too_large(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = {.name = "big", .has_data = true};
	struct store_secret m = {0};
	static char big[TR_MAX_DATA];

	memset(big, 'x', sizeof(big));
	assert_int_equal(secdata_add(&in.data, "k", big, sizeof(big)), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_ETOOLARGE);
	secdata_clear(&in.data);
	(void)state;
}

/* Makes a user principal with a role in workspace "default". */
static void add_member(struct fixture *f, struct principal *p, const char *name, const char *role)
{
	struct store_principal sp = {.created_at = 1};
	struct store_member m = {.created_at = 1};

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->kind, sizeof(p->kind), "user");
	snprintf(sp.name, sizeof(sp.name), "%s", name);
	snprintf(sp.kind, sizeof(sp.kind), "user");
	snprintf(m.workspace, sizeof(m.workspace), "default");
	snprintf(m.principal, sizeof(m.principal), "%s", name);
	snprintf(m.role, sizeof(m.role), "%s", role);
	assert_int_equal(store_principal_create(f->env.domain.store, &sp, NULL), TR_OK);
	assert_int_equal(store_member_put(f->env.domain.store, &m, NULL), TR_OK);
}

static void test_non_members_do_not_see_the_workspace(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("hidden", "value-1");
	struct store_secret m = {0};
	struct tr_error err = {0};

	assert_int_equal(secrets_create(&f->env.domain, &f->nobody, "default", &in, &m, NULL, &err), TR_ENOTFOUND);
	assert_string_equal(err.message, "Workspace 'default' not found");
	secdata_clear(&in.data);
}

static void test_roles_decide(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("roles", "value-1");
	struct secret_ref ref = {.workspace = "default", .name = "roles"};
	struct principal viewer, editor;
	struct store_secret m = {0};
	struct secdata d = {0};

	add_member(f, &viewer, "vic", "viewer");
	add_member(f, &editor, "eve", "editor");
	assert_int_equal(secrets_create(&f->env.domain, &viewer, "default", &in, &m, NULL, NULL), TR_EDENIED);
	assert_int_equal(secrets_create(&f->env.domain, &editor, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	/* Editors may not read values: only platform admins. */
	assert_int_equal(secrets_reveal(&f->env.domain, &editor, &ref, &m, &d, NULL), TR_EDENIED);
	secdata_clear(&in.data);
}

/* A caller who may not create gets the create's refusal from the seal
 * ahead, and nothing is sealed: no key provider works for a refused
 * request. */
static void test_a_refused_caller_gets_no_seal_ahead(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("refused", "value-1");
	struct secret_presealed pre = {0};
	struct principal viewer;

	add_member(f, &viewer, "vic", "viewer");
	assert_int_equal(secrets_preseal(&f->env.domain, &viewer, "default", &in, &pre, NULL), TR_EDENIED);
	assert_int_equal(pre.version.ciphertext.len, 0);
	assert_null(pre.version.ciphertext.data);
	assert_int_equal(secrets_preseal(&f->env.domain, &f->nobody, "default", &in, &pre, NULL), TR_ENOTFOUND);
	assert_int_equal(pre.version.ciphertext.len, 0);
	assert_null(pre.version.wrapped_key.data);
	secdata_clear(&in.data);
}

static void test_private_secrets_are_not_found_by_others(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("mine", "value-1");
	struct secret_ref ref = {.workspace = "default", .name = "mine"};
	struct principal eve, ed;
	struct store_secret m = {0};
	struct tr_error err = {0};

	add_member(f, &eve, "eve", "editor");
	add_member(f, &ed, "ed", "editor");
	assert_int_equal(secrets_create(&f->env.domain, &eve, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_get(&f->env.domain, &eve, &ref, &m, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(secrets_get(&f->env.domain, &ed, &ref, &m, &err), TR_ENOTFOUND);
	assert_string_equal(err.message, "Secret 'default/mine' not found");
	assert_int_equal(secrets_delete(&f->env.domain, &ed, &ref, NULL), TR_ENOTFOUND);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_OK);
	store_secret_clear(&m);
	secdata_clear(&in.data);
}

static void test_workspace_delete_rules(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("inside", "value-1");
	struct store_workspace ws;
	struct store_secret m = {0};

	assert_int_equal(workspaces_create(&f->env.domain, &f->env.admin, "team-a", &ws, NULL), TR_OK);
	assert_int_equal(workspaces_create(&f->env.domain, &f->env.admin, "team-a", &ws, NULL), TR_ECONFLICT);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "team-a", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_int_equal(workspaces_delete(&f->env.domain, &f->env.admin, "team-a", false, NULL), TR_ECONFLICT);
	assert_int_equal(workspaces_delete(&f->env.domain, &f->env.admin, "team-a", true, NULL), TR_OK);
	assert_int_equal(workspaces_get(&f->env.domain, &f->env.admin, "team-a", &ws, NULL), TR_ENOTFOUND);
	assert_int_equal(workspaces_delete(&f->env.domain, &f->env.admin, "default", true, NULL), TR_ECONFLICT);
	secdata_clear(&in.data);
}

static void test_atomic_batch_writes_nothing_on_failure(void **state)
{
	struct fixture *f = *state;
	struct secret_input a = value_input("batch-a", "value-a"), b = value_input("batch-b", "value-b");
	struct secret_input gone = {.name = "batch-missing"};
	struct batch_item items[3] = {{BATCH_CREATE, &a}, {BATCH_CREATE, &b}, {BATCH_DELETE, &gone}};
	struct secret_ref ref = {.workspace = "default", .name = "batch-a"};
	struct store_secret m = {0};

	a.type = b.type = "opaque"; /* batch creates name their type */
	assert_int_equal(secrets_batch(&f->env.domain, &f->env.admin, "default", items, 3, true, NULL), TR_EINVAL);
	assert_int_equal(items[2].status, TR_ENOTFOUND);
	assert_int_equal(items[0].status, TR_ECONFLICT);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_ENOTFOUND);
	assert_int_equal(f->env.domain.tx_depth, 0);
	/* The same items, one by one: the two creates stay. */
	assert_int_equal(secrets_batch(&f->env.domain, &f->env.admin, "default", items, 3, false, NULL), TR_EINVAL);
	assert_int_equal(items[0].status, TR_OK);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_OK);
	store_secret_clear(&m);
	secdata_clear(&a.data);
	secdata_clear(&b.data);
}

/* Group commit (server/writer.c): requests in one transaction, each a unit
 * of its own. A failed or abandoned unit undoes only its own work. */
static void test_group_units_fail_alone(void **state)
{
	struct fixture *f = *state;
	struct secret_input a = value_input("group-a", "value-a"), b = value_input("group-b", "value-b");
	struct secret_input c = value_input("group-c", "value-c");
	struct secret_ref ref_a = {.workspace = "default", .name = "group-a"};
	struct secret_ref ref_b = {.workspace = "default", .name = "group-b"};
	struct secret_ref ref_c = {.workspace = "default", .name = "group-c"};
	struct store_secret m = {0};

	assert_int_equal(domain_group_begin(&f->env.domain, NULL), TR_OK);
	/* kept */
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &a, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_true(domain_group_leave(&f->env.domain, true));
	/* fails inside (a duplicate): the group goes on */
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &a, &m, NULL, NULL), TR_ECONFLICT);
	assert_true(domain_group_leave(&f->env.domain, true));
	/* succeeded, but its reply failed: undone */
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &b, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_false(domain_group_leave(&f->env.domain, false));
	/* an atomic operation of its own inside the group */
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &c, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	assert_true(domain_group_leave(&f->env.domain, true));
	assert_true(domain_group_intact(&f->env.domain));
	assert_int_equal(domain_group_commit(&f->env.domain, NULL), TR_OK);
	assert_int_equal(f->env.domain.tx_depth, 0);

	assert_revealed(f, &ref_a, "value-a");
	assert_revealed(f, &ref_c, "value-c");
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref_b, &m, NULL), TR_ENOTFOUND);
	secdata_clear(&a.data);
	secdata_clear(&b.data);
	secdata_clear(&c.data);
}

/* When the store loses the group's transaction by itself (SQLite does on a
 * full disk or an I/O error), later work of the group must not commit on
 * its own: a unit cannot start outside the transaction. */
static void test_group_lost_transaction_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	struct secret_input a = value_input("lost-a", "value-a");
	struct secret_ref ref = {.workspace = "default", .name = "lost-a"};
	struct store_secret m = {0};

	assert_int_equal(domain_group_begin(&f->env.domain, NULL), TR_OK);
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	store_rollback(f->env.domain.store); /* what SQLite does after SQLITE_FULL */
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &a, &m, NULL, NULL), TR_EUNAVAIL);
	assert_false(domain_group_intact(&f->env.domain));
	domain_group_abort(&f->env.domain);
	assert_int_equal(f->env.domain.tx_depth, 0);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_ENOTFOUND);
	secdata_clear(&a.data);
}

/* An atomic batch inside a group unit still writes nothing on failure. */
static void test_group_atomic_batch_writes_nothing_on_failure(void **state)
{
	struct fixture *f = *state;
	struct secret_input a = value_input("gbatch-a", "value-a");
	struct secret_input gone = {.name = "gbatch-missing"};
	struct batch_item items[2] = {{BATCH_CREATE, &a}, {BATCH_DELETE, &gone}};
	struct secret_ref ref = {.workspace = "default", .name = "gbatch-a"};
	struct store_secret m = {0};

	a.type = "opaque";
	assert_int_equal(domain_group_begin(&f->env.domain, NULL), TR_OK);
	assert_int_equal(domain_group_enter(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_batch(&f->env.domain, &f->env.admin, "default", items, 2, true, NULL), TR_EINVAL);
	assert_true(domain_group_leave(&f->env.domain, true));
	assert_int_equal(domain_group_commit(&f->env.domain, NULL), TR_OK);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_ENOTFOUND);
	secdata_clear(&a.data);
}

static void test_expired_secrets_are_purged_after_the_grace_period(void **state)
{
	struct fixture *f = *state;
	struct secret_input in = value_input("short-lived", "value-1");
	struct secret_ref ref = {.workspace = "default", .name = "short-lived"};
	struct store_secret m = {0};
	int64_t purged = -1;

	in.expires_in = 1;
	in.has_expires_in = true;
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	f->env.domain.purge_after = 3600;
	assert_int_equal(secrets_purge_expired(&f->env.domain, &purged, NULL), TR_OK);
	assert_int_equal(purged, 0);    /* not even expired yet */
	f->env.domain.purge_after = -5; /* a sweep "5 s in the future" sees it expired and past grace */
	assert_int_equal(secrets_purge_expired(&f->env.domain, &purged, NULL), TR_OK);
	assert_int_equal(purged, 1);
	assert_int_equal(secrets_get(&f->env.domain, &f->env.admin, &ref, &m, NULL), TR_ENOTFOUND);
	secdata_clear(&in.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get_reveal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_create_stores_its_value_sealed_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_is_a_conflict_naming_the_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_makes_versions_and_prunes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_only_update_keeps_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_update_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scopes_hold_the_same_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_creates_then_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_then_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_over_64_kib_is_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_members_do_not_see_the_workspace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_refused_caller_gets_no_seal_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_secrets_are_not_found_by_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspace_delete_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_batch_writes_nothing_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_secrets_are_purged_after_the_grace_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_units_fail_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_atomic_batch_writes_nothing_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_lost_transaction_keeps_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
