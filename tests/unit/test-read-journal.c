/*
 * test-read-journal.c - tests for a worker's audit journal
 * (src/server/read-journal.c): records journaled and moved into the log
 * by the writer, refused when what decides the caller's permission has
 * changed or is about to, files rotated and removed once moved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "domain-fixture.h"
#include "domain/audit.h"
#include "server/read-journal.h"
#include "server/writer.h"
#include "storage/journal.h"

static const unsigned char test_key[DOMAIN_FIXTURE_KEY_LEN] = "read-journal-test-key-32-bytes!";

struct fixture {
	struct domain_fixture df;
	struct event_base *base;
	struct writer *writer;
	struct read_journal *rj;
};

static void fixture_open(struct fixture *f)
{
	char dsn[128];
	struct tr_error err = {0};

	memset(f, 0, sizeof(*f));
	domain_fixture_open(&f->df, "readjournal", test_key);
	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->df.dir);
	assert_int_equal(writer_start(&f->df.domain, dsn, STORE_FLUSH_LATER, &f->writer, &err), TR_OK);
	assert_int_equal(read_journal_open(f->df.dir, f->writer, &f->rj, &err), TR_OK);
	f->base = event_base_new();
	assert_non_null(f->base);
}

/* Closes the journal and stops the writer, as a server's stop does. */
static void fixture_stop(struct fixture *f)
{
	read_journal_close(f->rj);
	f->rj = NULL;
	writer_stop(f->writer);
	f->writer = NULL;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void fixture_close(struct fixture *f)
{
	if (f->writer)
		fixture_stop(f);
	event_base_free(f->base);
	domain_fixture_close(&f->df);
}

/* n records of resolves of secret, by the admin, made as a worker does. */
static struct store_audit *records(const struct fixture *f, const char *secret, size_t n)
{
	struct store_audit *recs = calloc(n, sizeof(*recs));
	struct audit_event ev = {
		.action = "secret.resolve", .workspace = "default", .secret = secret, .outcome = AUDIT_SUCCESS,
		.status = 200,
	};

	assert_non_null(recs);
	for (size_t i = 0; i < n; i++)
		audit_fill(&recs[i], &f->df.admin, &ev);
	return recs;
}

static bool submit(struct fixture *f, const char *secret, size_t n)
{
	return read_journal_submit(f->rj, domain_auth_generation(), records(f, secret, n), n);
}

/* Waits (at most ~5 s) until the writer has moved every journaled record. */
static void wait_moved(void)
{
	for (int i = 0; i < 5000 && read_journal_pending(); i++)
		usleep(1000);
	assert_false(read_journal_pending());
}

struct count {
	const char *secret;
	int n;
};

static void count_one(void *ctx, const struct store_audit *rec)
{
	struct count *c = ctx;

	if (strcmp(rec->secret, c->secret) == 0)
		c->n++;
}

/* The records of secret in the log, read on a connection of the test's. */
static int logged(struct fixture *f, const char *secret)
{
	struct store_audit_query q = {.limit = 1000000};
	struct count c = {.secret = secret};
	struct tr_error err = {0};

	assert_int_equal(store_audit_list(f->df.domain.store, &q, count_one, &c, &err), TR_OK);
	return c.n;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)) == 0;
	closedir(d);
	return n;
}

static bool verified(struct fixture *f)
{
	struct audit_verdict v = {0};
	struct tr_error err = {0};

	assert_int_equal(audit_verify(&f->df.domain, &f->df.admin, &v, &err), TR_OK);
	return v.ok;
}

/* The id of the one journal file in dir. */
static void only_file_id(const char *dir, char id[JOURNAL_ID_LEN + 1])
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)) == 0) {
			snprintf(id, JOURNAL_ID_LEN + 1, "%s", e->d_name + strlen(JOURNAL_PREFIX));
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

/* Journaled records are in the log once the writer has moved them, each
 * once, chained; the file is the worker's alone and goes at the stop. */
static void test_journaled_records_reach_the_log(void **state)
{
	struct fixture f;
	struct stat st;
	char id[JOURNAL_ID_LEN + 1];
	char path[512];

	(void)state;
	fixture_open(&f);
	assert_true(submit(&f, "one", 1));
	assert_true(submit(&f, "three", 3));
	wait_moved();
	assert_int_equal(logged(&f, "one"), 1);
	assert_int_equal(logged(&f, "three"), 3);
	assert_true(verified(&f));
	only_file_id(f.df.dir, id);
	snprintf(path, sizeof(path), "%s/" JOURNAL_PREFIX "%s", f.df.dir, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size > 0);
	fixture_stop(&f);
	assert_int_equal(count_files(f.df.dir), 0);
	fixture_close(&f);
}

/* A caller verified under an older auth generation (a token revoked, a
 * binding changed since): not journaled; its records must go through the
 * writer, which checks again. */
static void test_a_stale_caller_is_not_journaled(void **state)
{
	struct fixture f;

	(void)state;
	fixture_open(&f);
	assert_false(read_journal_submit(f.rj, domain_auth_generation() - 1, records(&f, "stale", 1), 1));
	wait_moved();
	assert_int_equal(logged(&f, "stale"), 0);
	fixture_close(&f);
}

struct slow_job {
	bool done;
};

static void slow_run(struct domain *d, void *arg)
{
	(void)d;
	(void)arg;
	usleep(200 * 1000);
}

static void slow_done(void *arg, bool committed)
{
	(void)committed;
	((struct slow_job *)arg)->done = true;
}

/* While a change of what tokens may do is queued or running, nothing is
 * journaled; after it, journaling goes on. */
static void test_nothing_is_journaled_while_auth_may_change(void **state)
{
	struct fixture f;
	struct slow_job revoke = {0};
	struct tr_error err = {0};

	(void)state;
	fixture_open(&f);
	assert_int_equal(writer_submit(f.writer, f.base, slow_run, slow_done, &revoke, STORE_DURABLE,
	                               WRITER_CHANGES_AUTH, &err),
	                 TR_OK);
	assert_false(submit(&f, "during", 1));
	for (int i = 0; i < 5000 && !revoke.done; i++) {
		event_base_loop(f.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_true(revoke.done);
	assert_true(submit(&f, "after", 1));
	wait_moved();
	assert_int_equal(logged(&f, "during"), 0);
	assert_int_equal(logged(&f, "after"), 1);
	fixture_close(&f);
}

/* A file that grows past its size is followed by a new one; the old one
 * is removed once the log holds all of it (the file left holds only the
 * newest entries); at the stop none is left, and every record is in the
 * log once. */
static void test_a_full_file_is_rotated_and_removed(void **state)
{
	const int submitted = 60000; /* ~100 bytes an entry: past 4 MiB */
	struct fixture f;
	char id[JOURNAL_ID_LEN + 1];
	int64_t in_current = 0;
	struct tr_error err = {0};

	(void)state;
	fixture_open(&f);
	for (int taken = 0, refused = 0; taken < submitted; refused++) {
		if (submit(&f, "rotated", 1)) {
			taken++;
			refused = 0;
		} else {
			assert_true(refused < 100); /* full (the bound): wait for the writer */
			wait_moved();
		}
	}
	wait_moved();
	for (int i = 0; i < 5000 && count_files(f.df.dir) > 1; i++)
		usleep(1000);
	only_file_id(f.df.dir, id);
	assert_int_equal(store_journal_applied(f.df.domain.store, id, &in_current, &err), TR_OK);
	assert_true(in_current > 0 && in_current < submitted);
	fixture_stop(&f);
	assert_int_equal(count_files(f.df.dir), 0);
	assert_int_equal(logged(&f, "rotated"), submitted);
	assert_true(verified(&f));
	fixture_close(&f);
}

/* While the writer is busy, the journal takes records up to its bound,
 * then refuses (reads wait for the writer); all it took reach the log. */
static void test_the_journal_takes_a_bounded_number_ahead_of_the_writer(void **state)
{
	struct fixture f;
	struct slow_job busy = {0};
	struct tr_error err = {0};
	int taken = 0;

	(void)state;
	fixture_open(&f);
	assert_int_equal(writer_submit(f.writer, f.base, slow_run, slow_done, &busy, STORE_DURABLE, 0, &err), TR_OK);
	usleep(50 * 1000); /* the writer takes it and sleeps */
	while (taken < 5000 && submit(&f, "ahead", 1))
		taken++;
	assert_false(busy.done);
	assert_true(taken >= 1000 && taken < 5000);
	assert_false(submit(&f, "ahead", 10)); /* still full */
	wait_moved();
	assert_true(submit(&f, "ahead", 1)); /* moved: room again */
	wait_moved();
	assert_int_equal(logged(&f, "ahead"), taken + 1);
	fixture_close(&f);
}

/* An entry that cannot be moved (here: the log's note for its file is
 * ahead of it, as no run could make it) closes the journal for good: it
 * and the entries after it stay in the file, which the stop keeps for the
 * next start, and later reads are not journaled. Last: the stall is the
 * process's. */
static void test_an_entry_not_moved_stops_the_journal_and_keeps_the_file(void **state)
{
	struct fixture f;
	char id[JOURNAL_ID_LEN + 1];
	struct tr_error err = {0};

	(void)state;
	fixture_open(&f);
	only_file_id(f.df.dir, id);
	assert_int_equal(domain_begin(&f.df.domain, &err), TR_OK);
	for (int64_t n = 1; n <= 5; n++) /* ahead of the file's entries */
		assert_int_equal(store_journal_advance(f.df.domain.store, id, n, &err), TR_OK);
	assert_int_equal(domain_finish(&f.df.domain, TR_OK, &err), TR_OK);
	assert_true(submit(&f, "stuck", 1));
	wait_moved();
	assert_false(submit(&f, "later", 1));
	fixture_stop(&f);
	assert_int_equal(count_files(f.df.dir), 1);
	assert_int_equal(logged(&f, "stuck"), 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journaled_records_reach_the_log),
		cmocka_unit_test(test_a_stale_caller_is_not_journaled),
		cmocka_unit_test(test_nothing_is_journaled_while_auth_may_change),
		cmocka_unit_test(test_a_full_file_is_rotated_and_removed),
		cmocka_unit_test(test_the_journal_takes_a_bounded_number_ahead_of_the_writer),
		cmocka_unit_test(test_an_entry_not_moved_stops_the_journal_and_keeps_the_file),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
