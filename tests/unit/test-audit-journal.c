/*
 * test-audit-journal.c - tests for moving audit journal entries into the
 * hash-chained audit log (src/domain/audit-journal.c): an applied entry is
 * chained after the log's records and noted; at start, recovery moves
 * exactly the entries the log lacks from every journal file (none twice,
 * none after a torn tail), removes the files and forgets their notes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-fixture.h"
#include "domain/audit-journal.h"
#include "domain/audit.h"
#include "storage/journal.h"

static const unsigned char test_key[DOMAIN_FIXTURE_KEY_LEN] = "audit-journal-test-key-32-bytes";

#define MAX_LOG 64
#define MAX_RECORDS 4

/* The whole audit log, by seq. */
struct log {
	struct store_audit recs[MAX_LOG];
	size_t count;
};

static int setup(void **state)
{
	struct domain_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	domain_fixture_open(f, "auditjournal", test_key);
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

/* A record as a /resolve makes it; secret names it uniquely. */
static struct store_audit make_record(struct domain_fixture *f, const char *action, const char *secret)
{
	struct audit_event ev = {.action = action, .workspace = "default", .secret = secret,
	                         .outcome = AUDIT_SUCCESS, .status = 200};
	struct store_audit rec;

	audit_fill(&rec, &f->admin, &ev);
	return rec;
}

/* Fills recs with n records named "<tag>-e<entry>-r<i>". */
static void make_entry(struct domain_fixture *f, const char *tag, int entry, struct store_audit *recs, size_t n)
{
	char secret[64];

	assert_true(n <= MAX_RECORDS);
	for (size_t i = 0; i < n; i++) {
		snprintf(secret, sizeof(secret), "%s-e%d-r%zu", tag, entry, i + 1);
		recs[i] = make_record(f, "secret.resolve", secret);
	}
}

/* Writes a journal file in f's dir with entries of sizes[0..count) records,
 * named by tag; its id goes to id, and where each entry ends to ends (if
 * not NULL). */
static void write_journal_ends(struct domain_fixture *f, const char *tag, const size_t *sizes, size_t count,
                               char id[JOURNAL_ID_LEN + 1], uint64_t *ends)
{
	struct journal *j = NULL;
	struct store_audit recs[MAX_RECORDS];
	uint64_t number = 0;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, JOURNAL_ID_LEN + 1, "%s", journal_id(j));
	for (size_t e = 0; e < count; e++) {
		make_entry(f, tag, (int)e + 1, recs, sizes[e]);
		assert_int_equal(journal_append(j, recs, sizes[e], &number, NULL), TR_OK);
		assert_int_equal(number, e + 1);
		if (ends)
			ends[e] = journal_size(j);
	}
	journal_close(j);
}

static void write_journal(struct domain_fixture *f, const char *tag, const size_t *sizes, size_t count,
                          char id[JOURNAL_ID_LEN + 1])
{
	write_journal_ends(f, tag, sizes, count, id, NULL);
}

static void collect(void *ctx, const struct store_audit *rec)
{
	struct log *l = ctx;

	assert_true(l->count < MAX_LOG);
	l->recs[l->count++] = *rec;
}

static struct log *read_log(struct domain_fixture *f)
{
	struct log *l = calloc(1, sizeof(*l));
	struct store_audit_query q = {.limit = MAX_LOG};

	assert_non_null(l);
	assert_int_equal(store_audit_list(f->domain.store, &q, collect, l, NULL), TR_OK);
	return l;
}

static size_t log_count(struct domain_fixture *f)
{
	struct log *l = read_log(f);
	size_t n = l->count;

	free(l);
	return n;
}

/* How many records of the log name secret. */
static size_t times_in_log(const struct log *l, const char *secret)
{
	size_t n = 0;

	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->recs[i].secret, secret) == 0)
			n++;
	return n;
}

/* The log's last records name exactly these secrets, in this order. */
static void assert_log_ends_with(const struct log *l, const char *const *secrets, size_t n)
{
	assert_true(l->count >= n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->recs[l->count - n + i].secret, secrets[i]);
}

static void assert_chain_ok(struct domain_fixture *f, size_t records)
{
	struct audit_verdict v;

	assert_int_equal(audit_verify(&f->domain, &f->admin, &v, NULL), TR_OK);
	assert_true(v.ok);
	assert_int_equal(v.records, records);
}

static int64_t applied_of(struct domain_fixture *f, const char *id)
{
	int64_t applied = -1;

	assert_int_equal(store_journal_applied(f->domain.store, id, &applied, NULL), TR_OK);
	return applied;
}

static bool journal_file_exists(struct domain_fixture *f, const char *id)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/" JOURNAL_PREFIX "%s", f->dir, id);
	if (stat(path, &st) == 0)
		return true;
	assert_int_equal(errno, ENOENT);
	return false;
}

/* Appends records to the log as audit_journal_apply would, but without it:
 * a stand-in for what an earlier run moved. */
static void append_directly(struct domain_fixture *f, struct store_audit *recs, size_t n)
{
	assert_int_equal(domain_begin(&f->domain, NULL), TR_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(audit_append_filled(&f->domain, &recs[i], NULL), TR_OK);
	assert_int_equal(domain_finish(&f->domain, TR_OK, NULL), TR_OK);
}

static void note_applied(struct domain_fixture *f, const char *id, int64_t applied)
{
	assert_int_equal(domain_begin(&f->domain, NULL), TR_OK);
	for (int64_t n = 1; n <= applied; n++)
		assert_int_equal(store_journal_advance(f->domain.store, id, n, NULL), TR_OK);
	assert_int_equal(domain_finish(&f->domain, TR_OK, NULL), TR_OK);
}

/* --- tests ------------------------------------------------------------------ */

static void test_apply_chains_records_after_the_log_and_notes_the_entry(void **state)
{
	struct domain_fixture *f = *state;
	struct audit_event ev = {.action = "secret.create", .workspace = "default", .secret = "before",
	                         .outcome = AUDIT_SUCCESS, .status = 201};
	static const char *const want[] = {"before", "applied-1", "applied-2", "applied-3"};
	static const char id[] = "00112233445566aa";
	struct store_audit recs[3];
	struct log *l;
	size_t before;

	assert_int_equal(audit_record(&f->domain, &f->admin, &ev, NULL), TR_OK);
	before = log_count(f);
	recs[0] = make_record(f, "secret.resolve", "applied-1");
	recs[1] = make_record(f, "secret.read", "applied-2");
	recs[2] = make_record(f, "secret.resolve", "applied-3");
	note_applied(f, id, 6); /* entries 1..6 moved before */

	assert_int_equal(domain_begin(&f->domain, NULL), TR_OK);
	assert_int_equal(audit_journal_apply(&f->domain, id, 7, recs, 3, NULL), TR_OK);
	assert_int_equal(domain_finish(&f->domain, TR_OK, NULL), TR_OK);

	l = read_log(f);
	assert_int_equal(l->count, before + 3);
	assert_log_ends_with(l, want, 4);
	assert_string_equal(l->recs[l->count - 3].action, "secret.resolve");
	assert_string_equal(l->recs[l->count - 2].action, "secret.read");
	assert_string_equal(l->recs[l->count - 1].action, "secret.resolve");
	assert_int_equal(l->recs[l->count - 1].seq, (int64_t)l->count);
	free(l);
	assert_chain_ok(f, before + 3);
	assert_int_equal(applied_of(f, id), 7);
}

static void test_apply_rolled_back_leaves_neither_records_nor_note(void **state)
{
	struct domain_fixture *f = *state;
	static const char id[] = "00112233445566bb";
	struct store_audit rec = make_record(f, "secret.resolve", "undone");
	size_t before = log_count(f);
	struct log *l;

	assert_int_equal(domain_begin(&f->domain, NULL), TR_OK);
	assert_int_equal(audit_journal_apply(&f->domain, id, 1, &rec, 1, NULL), TR_OK);
	assert_int_equal(domain_finish(&f->domain, TR_EUNAVAIL, NULL), TR_EUNAVAIL);

	l = read_log(f);
	assert_int_equal(l->count, before);
	assert_int_equal(times_in_log(l, "undone"), 0);
	free(l);
	assert_int_equal(applied_of(f, id), 0);
}

/* The log notes a prefix of a file's entries: an entry that does not
 * follow the last one noted (one before it was lost, or it was moved
 * already) is refused, and nothing of it is kept. */
static void test_apply_refuses_an_entry_out_of_order(void **state)
{
	struct domain_fixture *f = *state;
	static const char id[] = "00112233445566cc";
	struct store_audit rec = make_record(f, "secret.resolve", "out-of-order");
	size_t before = log_count(f);
	struct tr_error err = {0};

	note_applied(f, id, 2);
	assert_int_equal(domain_begin(&f->domain, NULL), TR_OK);
	assert_int_equal(audit_journal_apply(&f->domain, id, 4, &rec, 1, &err), TR_EUNAVAIL);
	assert_int_equal(audit_journal_apply(&f->domain, id, 2, &rec, 1, &err), TR_EUNAVAIL);
	assert_int_equal(domain_finish(&f->domain, TR_EUNAVAIL, NULL), TR_EUNAVAIL);
	assert_int_equal(log_count(f), before);
	assert_int_equal(applied_of(f, id), 2);
}

/* A crash after entry 1 was moved: entries 2 and 3 are what is left. */
static void test_recovery_moves_only_what_the_log_lacks(void **state)
{
	struct domain_fixture *f = *state;
	static const size_t sizes[] = {2, 1, 3};
	static const char *const want[] = {"j-e1-r1", "j-e1-r2", "j-e2-r1", "j-e3-r1", "j-e3-r2", "j-e3-r3"};
	struct store_audit first[2];
	char id[JOURNAL_ID_LEN + 1];
	struct tr_error err = {0};
	size_t before, moved = 12345;
	struct log *l;

	before = log_count(f);
	write_journal(f, "j", sizes, 3, id);
	make_entry(f, "j", 1, first, 2);
	append_directly(f, first, 2);
	note_applied(f, id, 1);

	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, &err), TR_OK);
	assert_int_equal(moved, 4);
	l = read_log(f);
	assert_int_equal(l->count, before + 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(times_in_log(l, want[i]), 1);
	assert_log_ends_with(l, want, 6);
	free(l);
	assert_false(journal_file_exists(f, id));
	assert_int_equal(applied_of(f, id), 0);
	assert_chain_ok(f, before + 6);

	moved = 12345;
	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, &err), TR_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(log_count(f), before + 6);
}

static void test_recovery_of_a_file_with_no_note_moves_every_entry(void **state)
{
	struct domain_fixture *f = *state;
	static const size_t sizes[] = {1, 2, 1};
	static const char *const want[] = {"n-e1-r1", "n-e2-r1", "n-e2-r2", "n-e3-r1"};
	char id[JOURNAL_ID_LEN + 1];
	size_t before = log_count(f), moved = 12345;
	struct log *l;

	write_journal(f, "n", sizes, 3, id);
	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, NULL), TR_OK);
	assert_int_equal(moved, 4);
	l = read_log(f);
	assert_int_equal(l->count, before + 4);
	assert_log_ends_with(l, want, 4);
	free(l);
	assert_false(journal_file_exists(f, id));
	assert_chain_ok(f, before + 4);
}

static void test_recovery_moves_and_removes_every_file(void **state)
{
	struct domain_fixture *f = *state;
	static const size_t sizes_a[] = {2, 1};
	static const size_t sizes_b[] = {1, 1, 1};
	static const char *const want[] = {"a-e1-r1", "a-e1-r2", "a-e2-r1", "b-e1-r1", "b-e2-r1", "b-e3-r1"};
	char a[JOURNAL_ID_LEN + 1], b[JOURNAL_ID_LEN + 1];
	size_t before = log_count(f), moved = 12345;
	struct log *l;

	write_journal(f, "a", sizes_a, 2, a);
	write_journal(f, "b", sizes_b, 3, b);
	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, NULL), TR_OK);
	assert_int_equal(moved, 6);
	l = read_log(f);
	assert_int_equal(l->count, before + 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(times_in_log(l, want[i]), 1);
	free(l);
	assert_false(journal_file_exists(f, a));
	assert_false(journal_file_exists(f, b));
	assert_chain_ok(f, before + 6);
}

static void test_recovery_stops_at_a_torn_tail_and_sets_the_file_aside(void **state)
{
	struct domain_fixture *f = *state;
	static const size_t sizes[] = {1, 2, 2};
	static const char *const want[] = {"t-e1-r1", "t-e2-r1", "t-e2-r2"};
	char id[JOURNAL_ID_LEN + 1], path[128];
	size_t before = log_count(f), moved = 12345;
	struct stat st;
	struct log *l;

	write_journal(f, "t", sizes, 3, id);
	snprintf(path, sizeof(path), "%s/" JOURNAL_PREFIX "%s", f->dir, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 4), 0);

	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, NULL), TR_OK);
	assert_int_equal(moved, 3);
	l = read_log(f);
	assert_int_equal(l->count, before + 3);
	assert_log_ends_with(l, want, 3);
	assert_int_equal(times_in_log(l, "t-e3-r1"), 0);
	assert_int_equal(times_in_log(l, "t-e3-r2"), 0);
	free(l);
	assert_false(journal_file_exists(f, id));
	strcat(path, ".damaged"); /* kept for its owner, never read again */
	assert_int_equal(stat(path, &st), 0);
	moved = 12345;
	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, NULL), TR_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(unlink(path), 0);
	assert_chain_ok(f, before + 3);
}

/* Cuts entry 2 out of a file of 3: entries 1 and 3 are whole, but 2 is
 * missing. Nothing of the file is moved, and it stays for the next start. */
static void test_recovery_refuses_a_file_whose_entries_skip_a_number(void **state)
{
	struct domain_fixture *f = *state;
	static const size_t sizes[] = {1, 1, 1};
	char id[JOURNAL_ID_LEN + 1], path[128];
	unsigned char buf[4096];
	uint64_t ends[3];
	size_t before = log_count(f), moved = 12345;
	struct tr_error err = {0};
	FILE *fp;

	write_journal_ends(f, "g", sizes, 3, id, ends);
	assert_true(ends[2] <= sizeof(buf));
	snprintf(path, sizeof(path), "%s/" JOURNAL_PREFIX "%s", f->dir, id);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, sizeof(buf), fp), ends[2]);
	fclose(fp);
	memmove(buf + ends[0], buf + ends[1], ends[2] - ends[1]);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, ends[2] - (ends[1] - ends[0]), fp), ends[2] - (ends[1] - ends[0]));
	fclose(fp);

	assert_int_equal(audit_journal_recover(&f->domain, f->dir, &moved, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, id));
	assert_int_equal(moved, 0); /* entry 1 was rolled back with the rest */
	assert_int_equal(log_count(f), before);
	assert_true(journal_file_exists(f, id));
	assert_int_equal(applied_of(f, id), 0);
	assert_chain_ok(f, before);
}

static void test_recovery_of_an_empty_directory_moves_nothing(void **state)
{
	struct domain_fixture *f = *state;
	char empty[96];
	size_t before = log_count(f), moved = 12345;

	snprintf(empty, sizeof(empty), "%s/empty", f->dir);
	assert_int_equal(mkdir(empty, 0700), 0);
	assert_int_equal(audit_journal_recover(&f->domain, empty, &moved, NULL), TR_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(log_count(f), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_chains_records_after_the_log_and_notes_the_entry, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply_rolled_back_leaves_neither_records_nor_note, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply_refuses_an_entry_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_moves_only_what_the_log_lacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_of_a_file_with_no_note_moves_every_entry, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_recovery_moves_and_removes_every_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_stops_at_a_torn_tail_and_sets_the_file_aside, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_recovery_refuses_a_file_whose_entries_skip_a_number, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_recovery_of_an_empty_directory_moves_nothing, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
