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
#include "domain/secrets.h"
#include "domain/tokens.h"

struct fixture {
	char dir[64];
	struct keyring *kr;
	struct domain d;
	struct principal admin;
	struct principal svc;       /* authenticated with svc_token */
	struct token_created svc_token;
};

static enum tr_status discard_token(void *ctx, const char *token, struct tr_error *err)
{
	(void)ctx;
	(void)token;
	(void)err;
	return TR_OK;
}

static void create(struct fixture *f, const char *name, const char *project, const char *value)
{
	struct secret_input in = {.name = name, .project = project, .visibility = "public", .has_data = true,
	                          .has_visibility = true};
	struct store_secret m = {0};

	assert_int_equal(secdata_add(&in.data, "value", value, strlen(value)), TR_OK);
	assert_int_equal(secrets_create(&f->d, &f->admin, "default", &in, &m, NULL, NULL), TR_OK);
	store_secret_clear(&m);
	secdata_clear(&in.data);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned char key[32] = {7};
	struct key_provider *p = NULL;
	struct store_principal sp;
	struct store_member mb;
	char dsn[128];
	bool created;

	snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-test-resolve-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->dir);
	assert_int_equal(keyring_new(&f->kr, NULL), TR_OK);
	assert_int_equal(provider_secret_key_new("local", key, sizeof(key), &p, NULL), TR_OK);
	assert_int_equal(keyring_add(f->kr, p, NULL), TR_OK);
	assert_int_equal(keyring_set_current(f->kr, "local", NULL), TR_OK);
	assert_int_equal(store_open(dsn, &f->d.store, NULL), TR_OK);
	f->d.keyring = f->kr;
	f->d.keep_versions = 3;
	assert_int_equal(auth_bootstrap(&f->d, discard_token, NULL, &created, NULL), TR_OK);
	snprintf(f->admin.name, sizeof(f->admin.name), "admin");
	f->admin.platform_admin = true;
	assert_int_equal(principals_create(&f->d, &f->admin, "job", "service", false, &sp, NULL), TR_OK);
	assert_int_equal(members_put(&f->d, &f->admin, "default", "job", "service", NULL, NULL, &mb, NULL), TR_OK);
	assert_int_equal(tokens_create(&f->d, &f->admin, "job", 0, "test", &f->svc_token, NULL), TR_OK);
	assert_int_equal(auth_authenticate(&f->d, f->svc_token.text, &f->svc, NULL), TR_OK);
	create(f, "hf-token", NULL, "hf_workspace_value");
	create(f, "hf-token", "llm", "hf_project_value");
	create(f, "s3-key", NULL, "s3_value_123");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->d.store);
	keyring_free(f->kr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
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

	assert_int_equal(store_audit_list(f->d.store, &q, count_record, &n, NULL), TR_OK);
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

	assert_int_equal(resolve_run(&f->d, &f->svc, &req, NULL), TR_OK);
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

	assert_int_equal(resolve_read(&f->d, &f->svc, &req, NULL), TR_OK);
	assert_value(&items[0], "hf_workspace_value");
	assert_int_equal(items[1].version, 1);
	assert_int_equal(resolve_records(f), 0);
	assert_int_equal(resolve_record(&f->d, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(resolve_records(f), 2);
	assert_int_equal(f->d.tx_depth, 0);
	resolve_items_clear(items, 2);
}

static void test_missing_secret_resolves_nothing(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[2] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"},
	                                {.envvar_name = "GONE", .secret_name = "no-such-secret"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 2, .container_index = -1};
	struct tr_error err = {0};

	assert_int_equal(resolve_read(&f->d, &f->svc, &req, &err), TR_ENOTFOUND);
	assert_non_null(strstr(err.message, "no-such-secret"));
	assert_int_equal(items[0].value.len, 0); /* the first value is gone again */
	assert_int_equal(resolve_run(&f->d, &f->svc, &req, NULL), TR_ENOTFOUND);
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

	assert_int_equal(resolve_read(&f->d, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(members_delete(&f->d, &f->admin, "default", "job", NULL), TR_OK);
	assert_int_equal(resolve_record(&f->d, &f->svc, &req, NULL), TR_ENOTFOUND); /* no longer a member */
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

static void test_record_refuses_a_deleted_token(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->d, &f->svc, &req, NULL), TR_OK);
	assert_int_equal(tokens_delete(&f->d, &f->admin, f->svc_token.meta.id, NULL), TR_OK);
	assert_int_equal(resolve_record(&f->d, &f->svc, &req, NULL), TR_EUNAUTH);
	assert_int_equal(resolve_records(f), 0);
	resolve_items_clear(items, 1);
}

static void test_only_services_resolve(void **state)
{
	struct fixture *f = *state;
	struct resolve_item items[1] = {{.envvar_name = "HF_TOKEN", .secret_name = "hf-token"}};
	struct resolve_request req = {.workspace = "default", .items = items, .count = 1, .container_index = -1};

	assert_int_equal(resolve_read(&f->d, &f->admin, &req, NULL), TR_EDENIED);
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
		cmocka_unit_test_setup_teardown(test_only_services_resolve, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
