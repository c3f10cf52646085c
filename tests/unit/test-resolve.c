/*
 * test-resolve.c - values for workloads (src/domain/resolve.c): scope
 * precedence, all-or-nothing, and the split the server uses (read on a
 * worker, record on the writer): reading writes nothing, recording writes
 * one audit record per item.
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
#include "domain/principals.h"
#include "domain/resolve.h"
#include "domain/secret-cache.h"
#include "domain/secrets.h"
#include "domain/tokens.h"
#include "domain-fixture.h"

struct fixture {
	struct domain_fixture env;
	struct principal svc;       /* authenticated with svc_token */
	struct token_created svc_token;
};

static void create(struct fixture *f, const char *name, const char *project, const char *value)
{
	struct secret_input in = {.name = name, .project = project, .visibility = "public", .has_data = true,
	                          .has_visibility = true};
	struct store_secret m = {0};

	assert_int_equal(secdata_add(&in.data, "value", value, strlen(value)), TR_OK);
	assert_int_equal(secrets_create(&f->env.domain, &f->env.admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	secdata_clear(&in.data);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const unsigned char key[DOMAIN_FIXTURE_KEY_LEN] = {7};
	struct domain *d = &f->env.domain;
	const struct principal *admin = &f->env.admin;
	struct store_principal sp;
	struct store_member mb;

	domain_fixture_open(&f->env, "test-resolve", key);
	assert_int_equal(principals_create(d, admin, "job", "service", false, &sp, NULL), TR_OK);
	assert_int_equal(members_put(d, admin, "default", "job", "service", NULL, NULL, &mb, NULL), TR_OK);
	assert_int_equal(tokens_create(d, admin, "job", 0, "test", &f->svc_token, NULL), TR_OK);
	assert_int_equal(auth_authenticate(d, f->svc_token.text, &f->svc, NULL), TR_OK);
	create(f, "hf-token", NULL, "hf_workspace_value");
	create(f, "hf-token", "llm", "hf_project_value");
	create(f, "s3-key", NULL, "s3_value_123");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	domain_fixture_close(&f->env);
	free(f);
	secret_cache_release(); /* this thread's; each test starts without */
	return 0;
}

static void count_record(void *ctx, const struct store_audit *rec)
{
	if (strcmp(rec->action, "secret.resolve") == 0)
		(*(int *)ctx)++;
}

static int resolve_records(struct fixture *f)
{
	struct store_audit_query q = {.limit = 1000};
	int n = 0;

	assert_int_equal(store_audit_list(f->env.domain.store, &q, count_record, &n, NULL), TR_OK);
	return n;
}

static void assert_value(const struct resolve_item *it, const char *want)
{
	assert_int_equal(it->value.len, strlen(want));
	assert_memory_equal(it->value.data, want, it->value.len);
}

static void test_project_scope_wins_and_run_records_each_item(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[2] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"},
	                                {.envvar_name = "S3", .secret_name = "s3-key"}};
	struct resolve_request req = {.workspace = "default", .project = "llm", .items = items, .count = 2,
	                              .container_index = -1};

	assert_int_equal(resolve_run(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_value(&items[0], "hf_project_value");
	assert_int_equal(items[0].scope, SCOPE_PROJECT);
	assert_true(items[0].overrode & (1u << SCOPE_WORKSPACE));
	assert_value(&items[1], "s3_value_123");
	assert_int_equal(items[1].scope, SCOPE_WORKSPACE);
	assert_int_equal(resolve_records(f), 2);
	resolve_items_clear(items, 2);
}

static void test_read_writes_nothing_and_record_writes_one_per_item(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[2] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"},
	                                {.envvar_name = "S3", .secret_name = "s3-key@1"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 2, .container_index = -1};

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_value(&items[0], "hf_workspace_value");
	assert_int_equal(items[1].version, 1);
	assert_int_equal(resolve_records(f), 0);
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(resolve_records(f), 2);
	assert_int_equal(f->env.domain.tx_depth, 0);
	resolve_items_clear(items, 2);
}

static void test_missing_secret_resolves_nothing(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[2] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"},
	                                {.envvar_name = "GONE", .secret_name = "no-such-secret"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 2, .container_index = -1};
	struct tr_error err = {0};

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, &err), TR_ENOTFOUND);
	assert_non_null(strstr(err.message, "no-such-secret"));
	assert_int_equal(items[0].value.len, 0); /* the first value is gone again */
	assert_int_equal(resolve_run(&f->env.domain, &f->svc, &req, NULL), TR_ENOTFOUND);
	assert_int_equal(resolve_records(f), 0);
}

/* Between reading (on a worker) and recording (on the writer) the token
 * or the binding may go: then nothing is recorded, and the server drops
 * the values. */
static void test_record_refuses_a_removed_binding(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(members_delete(&f->env.domain, &f->env.admin, "default", "job", NULL), TR_OK);
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_ENOTFOUND); /* no longer a member */
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

static void test_record_refuses_a_deleted_token(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(tokens_delete(&f->env.domain, &f->env.admin, f->svc_token.meta.id, NULL), TR_OK);
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_EUNAUTH);
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

/* A binding narrowed to another project since the read: refused too. */
static void test_record_refuses_a_narrowed_binding(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};
	struct store_member mb;

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(
	    members_put(&f->env.domain, &f->env.admin, "default", "job", "service", "other", NULL, &mb, NULL), TR_OK);
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_EDENIED);
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

/* In a group commit the removal may come in an earlier unit of the same
 * transaction, not yet committed: the record still sees it. */
static void test_record_refuses_a_binding_removed_earlier_in_the_group(void **state)
{
	struct fixture *f = *state;
	struct domain *d = &f->env.domain;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(d, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(domain_group_begin(d, NULL), TR_OK);
	assert_int_equal(domain_group_enter(d, NULL), TR_OK);
	assert_int_equal(members_delete(d, &f->env.admin, "default", "job", NULL), TR_OK);
	assert_true(domain_group_leave(d, true));
	assert_int_equal(domain_group_enter(d, NULL), TR_OK);
	assert_int_equal(resolve_record(d, &f->svc, &req, NULL), TR_ENOTFOUND);
	assert_false(domain_group_leave(d, false)); /* the unit is undone */
	assert_int_equal(domain_group_commit(d, NULL), TR_OK);
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

/* Without any such change, recording does not ask the store again: the
 * generation the token was verified under still holds. */
static void test_record_trusts_an_unchanged_generation(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_true(domain_auth_unchanged_since(&f->env.domain, f->svc.auth_generation));
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(resolve_records(f), 1);
	resolve_items_clear(items, 1);
}

/* Resolves hf-token as a worker does, in a read transaction of its own;
 * says whether the secret came from the thread's cache. */
static bool read_as_worker(struct fixture *f, const char *want, enum tr_status want_st)
{
	struct resolve_item item = {.envvar_name = "HF_TOKEN", .secret_name = "hf-token"};
	struct resolve_request req = {.workspace = "default", .items = &item, .count = 1, .container_index = -1};
	uint64_t hits = secret_cache_hits();

	domain_read_begin(&f->env.domain);
	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), want_st);
	domain_read_end(&f->env.domain);
	if (want)
		assert_value(&item, want);
	resolve_items_clear(&item, 1);
	return secret_cache_hits() > hits;
}

static void set_value(struct fixture *f, const char *value)
{
	struct secret_ref ref = {.workspace = "default", .name = "hf-token"};
	struct secret_input in = {.name = "hf-token", .has_data = true};
	struct store_secret m = {0};

	assert_int_equal(secdata_add(&in.data, "value", value, strlen(value)), TR_OK);
	assert_int_equal(secrets_update(&f->env.domain, &f->env.admin, &ref, &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	secdata_clear(&in.data);
}

/* A worker's read is kept and served again until a change commits; audit
 * records alone leave it; a read inside a write transaction never uses it. */
static void test_a_worker_read_is_kept_until_a_change_commits(void **state)
{
	struct fixture *f = *state;
	struct resolve_item item = {.envvar_name = "HF_TOKEN", .secret_name = "hf-token"};
	struct resolve_request req = {.workspace = "default", .items = &item, .count = 1, .container_index = -1};
	struct secret_ref ref = {.workspace = "default", .name = "hf-token"};
	uint64_t hits;

	assert_false(read_as_worker(f, "hf_workspace_value", TR_OK));
	assert_true(read_as_worker(f, "hf_workspace_value", TR_OK));
	assert_int_equal(resolve_record(&f->env.domain, &f->svc, &req, NULL), TR_OK); /* records only */
	assert_true(read_as_worker(f, "hf_workspace_value", TR_OK));

	set_value(f, "hf_second_value");
	assert_false(read_as_worker(f, "hf_second_value", TR_OK));
	assert_true(read_as_worker(f, "hf_second_value", TR_OK));

	hits = secret_cache_hits();
	assert_int_equal(resolve_run(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	assert_value(&item, "hf_second_value");
	resolve_items_clear(&item, 1);
	assert_int_equal(secret_cache_hits(), hits);

	assert_int_equal(secrets_delete(&f->env.domain, &f->env.admin, &ref, NULL), TR_OK);
	assert_false(read_as_worker(f, NULL, TR_ENOTFOUND));
}

/* A read transaction whose snapshot may show a change that its entries do
 * not (the change was under way when it began, or began before its
 * snapshot was taken) uses none: one answer never mixes states. */
static void test_a_read_begun_before_a_change_uses_no_entry(void **state)
{
	struct fixture *f = *state;
	struct resolve_item item = {.envvar_name = "HF_TOKEN", .secret_name = "hf-token"};
	struct resolve_request req = {.workspace = "default", .items = &item, .count = 1, .container_index = -1};
	struct secret_ref ref = {.workspace = "default", .name = "s3-key"};
	struct store_secret m = {0};
	struct secret_input in = {.name = "s3-key", .has_description = true, .description = "rotated"};
	uint64_t hits;

	assert_false(read_as_worker(f, "hf_workspace_value", TR_OK));
	assert_true(read_as_worker(f, "hf_workspace_value", TR_OK));

	domain_fixture_open_peer(&f->env);
	domain_read_begin(&f->env.domain); /* counts read; no snapshot yet */
	assert_int_equal(secrets_update(&f->env.peer, &f->env.admin, &ref, &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	hits = secret_cache_hits();
	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	domain_read_end(&f->env.domain);
	assert_value(&item, "hf_workspace_value");
	resolve_items_clear(&item, 1);
	assert_int_equal(secret_cache_hits(), hits);
}

/* Resolves hf-token for project "ml" in a read transaction of its own;
 * returns how many lookups the thread's cache answered. */
static uint64_t read_for_ml(struct fixture *f, const char *want)
{
	struct resolve_item item = {.envvar_name = "HF_TOKEN", .secret_name = "hf-token"};
	struct resolve_request req = {.workspace = "default", .project = "ml", .items = &item, .count = 1,
	                              .container_index = -1};
	uint64_t hits = secret_cache_hits();

	domain_read_begin(&f->env.domain);
	assert_int_equal(resolve_read(&f->env.domain, &f->svc, &req, NULL), TR_OK);
	domain_read_end(&f->env.domain);
	assert_value(&item, want);
	resolve_items_clear(&item, 1);
	return secret_cache_hits() - hits;
}

/* That a scope has no copy of the secret is kept too, until a change. */
static void test_an_absent_scope_is_kept_until_a_change_commits(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(read_for_ml(f, "hf_workspace_value"), 0);
	assert_int_equal(read_for_ml(f, "hf_workspace_value"), 2); /* none at "ml", one at the workspace */
	create(f, "hf-token", "ml", "hf_ml_value");
	assert_int_equal(read_for_ml(f, "hf_ml_value"), 0);
	assert_int_equal(read_for_ml(f, "hf_ml_value"), 2);
}

static void test_only_services_resolve(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->env.domain, &f->env.admin, &req, NULL), TR_EDENIED);
	assert_int_equal(items[0].value.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_project_scope_wins_and_run_records_each_item, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_writes_nothing_and_record_writes_one_per_item, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_missing_secret_resolves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_refuses_a_removed_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_refuses_a_deleted_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_refuses_a_narrowed_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_refuses_a_binding_removed_earlier_in_the_group, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_record_trusts_an_unchanged_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_services_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_worker_read_is_kept_until_a_change_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_read_begun_before_a_change_uses_no_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_absent_scope_is_kept_until_a_change_commits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
