/*
 * test-audit.c - the hash-chained audit log (src/domain/audit.c):
 * appending, verification, and detection of edited, removed and reordered
 * records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/audit.h"

struct fixture {
	char dir[64];
	char db[96];
	struct domain d;
	struct principal admin;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char dsn[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-test-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
	snprintf(dsn, sizeof(dsn), "sqlite:%s", f->db);
	assert_int_equal(store_open(dsn, &f->d.store, NULL), TR_OK);
	snprintf(f->admin.name, sizeof(f->admin.name), "admin");
	snprintf(f->admin.client, sizeof(f->admin.client), "127.0.0.1");
	f->admin.platform_admin = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->d.store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void append_records(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		struct audit_event ev = {.action = "secret.create", .workspace = "default", .secret = "s",
		                         .target = "bob", .outcome = AUDIT_SUCCESS, .status = 201};

		assert_int_equal(audit_record(&f->d, &f->admin, &ev, NULL), TR_OK);
	}
}

/* Runs SQL on the database behind the store's back, like an attacker. */
static void tamper(struct fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct audit_verdict verify(struct fixture *f)
{
	struct audit_verdict v;

	assert_int_equal(audit_verify(&f->d, &f->admin, &v, NULL), TR_OK);
	return v;
}

static void test_intact_chain_verifies(void **state)
{
	struct fixture *f = *state;
	struct audit_verdict v;

	append_records(f, 5);
	v = verify(f);
	assert_true(v.ok);
	assert_int_equal(v.records, 5);
	assert_int_equal(v.first_bad_seq, 0);
}

static void test_edited_record_is_named(void **state)
{
	struct fixture *f = *state;
	struct audit_verdict v;

	append_records(f, 5);
	tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
	v = verify(f);
	assert_false(v.ok);
	assert_int_equal(v.first_bad_seq, 3);
	assert_non_null(strstr(v.problem, "edited"));
}

static void test_removed_record_is_named(void **state)
{
	struct fixture *f = *state;
	struct audit_verdict v;

	append_records(f, 5);
	tamper(f, "DELETE FROM audit_log WHERE seq = 2");
	v = verify(f);
	assert_false(v.ok);
	assert_int_equal(v.first_bad_seq, 2);
}

static void test_reordered_records_are_named(void **state)
{
	struct fixture *f = *state;
	struct audit_verdict v;

	append_records(f, 5);
	tamper(f, "UPDATE audit_log SET seq = 1000 WHERE seq = 2;"
	          "UPDATE audit_log SET seq = 2 WHERE seq = 3;"
	          "UPDATE audit_log SET seq = 3 WHERE seq = 1000;");
	v = verify(f);
	assert_false(v.ok);
	assert_int_equal(v.first_bad_seq, 2);
}

static void test_recomputed_hash_without_the_chain_is_caught(void **state)
{
	struct fixture *f = *state;
	struct store_audit rec = {.seq = 1, .time = 1, .status = 200};
	unsigned char h[STORE_AUDIT_HASH_BYTES];

	(void)state;
	snprintf(rec.actor, sizeof(rec.actor), "a");
	audit_hash(&rec, h);
	rec.prev_hash[0] ^= 1;
	audit_hash(&rec, rec.hash);
	assert_memory_not_equal(h, rec.hash, sizeof(h));
	(void)f;
}

static void test_failing_audit_store_fails_the_append(void **state)
{
	struct fixture *f = *state;
	struct audit_event ev = {.action = "secret.create", .workspace = "default", .secret = "s",
		                         .target = "bob", .outcome = AUDIT_SUCCESS, .status = 201};
	struct tr_error err = {0};

	append_records(f, 1);
	tamper(f, "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'full'); END;");
	assert_int_equal(audit_record(&f->d, &f->admin, &ev, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "audit"));
	/* Once the log can be written again, so can records. */
	tamper(f, "DROP TRIGGER audit_full;");
	assert_int_equal(audit_record(&f->d, &f->admin, &ev, &err), TR_OK);
}

static void test_workspace_admins_read_only_their_workspace(void **state)
{
	struct fixture *f = *state;
	struct principal nobody = {.name = "nobody"};
	struct store_audit_query q = {.limit = 10};
	struct tr_error err = {0};

	assert_int_equal(audit_list(&f->d, &nobody, &q, NULL, NULL, &err), TR_EDENIED);
	q.workspace = "default";
	assert_int_equal(audit_list(&f->d, &nobody, &q, NULL, NULL, &err), TR_ENOTFOUND);
}

/* Last: the stop is for the rest of the process. A walk asked to stop is
 * refused (TR_EUNAVAIL), and so is one after it. */
static void test_a_stop_ends_verification(void **state)
{
	struct fixture *f = *state;
	struct audit_verdict v;
	struct tr_error err = {0};

	append_records(f, 3);
	audit_request_stop();
	assert_int_equal(audit_verify(&f->d, &f->admin, &v, &err), TR_EUNAVAIL);
	assert_string_equal(err.message, "the server is stopping");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact_chain_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edited_record_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_record_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reordered_records_are_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recomputed_hash_without_the_chain_is_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_audit_store_fails_the_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspace_admins_read_only_their_workspace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_stop_ends_verification, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
