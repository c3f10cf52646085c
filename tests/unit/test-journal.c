/*
 * test-journal.c - tests for the audit journal file format
 * (src/storage/journal.c): entries come back as written and numbered from
 * 1, the files are the owner's and named audit-journal.<16 hex>, a torn or
 * damaged entry ends reading, only journal files are listed, and removal,
 * callback failures, sizes and empty entries behave as journal.h says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/journal.h"

#define MAX_ENTRIES 8
#define MAX_RECORDS 4

struct fixture {
	char dir[64];
};

/* What journal_read delivered. */
struct entry {
	uint64_t number;
	size_t n;
	struct store_audit recs[MAX_RECORDS];
};

struct collected {
	struct entry entries[MAX_ENTRIES];
	size_t count;
	size_t fail_at; /* 1-based call that fails; 0: none */
	enum tr_status fail_with;
};

struct ids {
	char ids[MAX_ENTRIES][JOURNAL_ID_LEN + 1];
	size_t count;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-test-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A record whose every field says which entry and record it is; the chain
 * fields are set too, to see that they are not kept. */
static struct store_audit make_record(int entry, int rec)
{
	struct store_audit r;

	assert_true(entry >= 0 && entry < 100 && rec >= 0 && rec < 100);
	memset(&r, 0, sizeof(r));
	r.seq = 1000 + entry;
	r.time = 1700000000 + entry * 10 + rec;
	r.status = 200 + entry * 10 + rec;
	snprintf(r.actor, sizeof(r.actor), "actor-%d-%d", entry, rec);
	snprintf(r.action, sizeof(r.action), "secret.read.%d.%d", entry, rec);
	snprintf(r.workspace, sizeof(r.workspace), "ws-%d-%d", entry, rec);
	snprintf(r.secret, sizeof(r.secret), "secret-%d-%d", entry, rec);
	snprintf(r.target, sizeof(r.target), "target-%d-%d", entry, rec);
	snprintf(r.scope, sizeof(r.scope), "project:p-%d-%d", entry, rec);
	snprintf(r.outcome, sizeof(r.outcome), "success-%u", (unsigned char)rec);
	snprintf(r.client, sizeof(r.client), "10.0.%d.%d", entry, rec);
	snprintf(r.request_id, sizeof(r.request_id), "req-%d-%d", entry, rec);
	memset(r.prev_hash, 0xaa, sizeof(r.prev_hash));
	memset(r.hash, 0xbb, sizeof(r.hash));
	return r;
}

/* Appends entry `entry` of n records (made by make_record) and checks its number. */
static void append_entry(struct journal *j, int entry, size_t n, uint64_t want_number)
{
	struct store_audit recs[MAX_RECORDS];
	uint64_t number = 0;

	assert_true(n <= MAX_RECORDS);
	for (size_t i = 0; i < n; i++)
		recs[i] = make_record(entry, (int)i + 1);
	assert_int_equal(journal_append(j, recs, n, &number, NULL), TR_OK);
	assert_int_equal(number, want_number);
}

static enum tr_status collect(void *ctx, uint64_t number, struct store_audit *recs, size_t n, struct tr_error *err)
{
	struct collected *c = ctx;
	struct entry *e;

	assert_true(c->count < MAX_ENTRIES);
	assert_true(n <= MAX_RECORDS);
	e = &c->entries[c->count++];
	e->number = number;
	e->n = n;
	memcpy(e->recs, recs, n * sizeof(*recs));
	if (c->fail_at == c->count)
		return tr_error_set(err, c->fail_with, "stop at entry %llu", (unsigned long long)number);
	return TR_OK;
}

static void read_all(const struct fixture *f, const char *id, struct collected *c)
{
	assert_int_equal(journal_read(f->dir, id, collect, c, NULL, NULL), TR_OK);
}

/* rec came back as make_record(entry, i) made it, chain fields zero. */
static void assert_record_is(const struct store_audit *rec, int entry, int i)
{
	struct store_audit want = make_record(entry, i);
	unsigned char zeros[STORE_AUDIT_HASH_BYTES] = {0};

	assert_int_equal(rec->seq, 0);
	assert_memory_equal(rec->prev_hash, zeros, sizeof(zeros));
	assert_memory_equal(rec->hash, zeros, sizeof(zeros));
	assert_int_equal(rec->time, want.time);
	assert_int_equal(rec->status, want.status);
	assert_string_equal(rec->actor, want.actor);
	assert_string_equal(rec->action, want.action);
	assert_string_equal(rec->workspace, want.workspace);
	assert_string_equal(rec->secret, want.secret);
	assert_string_equal(rec->target, want.target);
	assert_string_equal(rec->scope, want.scope);
	assert_string_equal(rec->outcome, want.outcome);
	assert_string_equal(rec->client, want.client);
	assert_string_equal(rec->request_id, want.request_id);
}

static void journal_path(const struct fixture *f, const char *id, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/" JOURNAL_PREFIX "%s", f->dir, id);

	assert_true(n > 0 && (size_t)n < size);
}

static off_t file_size(const struct fixture *f, const char *id)
{
	char path[128];
	struct stat st;

	journal_path(f, id, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void make_file(const struct fixture *f, const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static enum tr_status collect_id(void *ctx, const char *id, struct tr_error *err)
{
	struct ids *ids = ctx;

	(void)err;
	assert_true(ids->count < MAX_ENTRIES);
	snprintf(ids->ids[ids->count++], JOURNAL_ID_LEN + 1, "%s", id);
	return TR_OK;
}

static bool ids_hold(const struct ids *ids, const char *id)
{
	for (size_t i = 0; i < ids->count; i++)
		if (strcmp(ids->ids[i], id) == 0)
			return true;
	return false;
}

/* --- tests ------------------------------------------------------------------ */

static void test_entries_come_back_as_written_numbered_from_one(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = {1, 3, 1, 4, 2};
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1];

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	for (size_t e = 0; e < 5; e++)
		append_entry(j, (int)e + 1, sizes[e], e + 1);
	journal_close(j);

	read_all(f, id, &c);
	assert_int_equal(c.count, 5);
	for (size_t e = 0; e < 5; e++) {
		assert_int_equal(c.entries[e].number, e + 1);
		assert_int_equal(c.entries[e].n, sizes[e]);
		for (size_t i = 0; i < sizes[e]; i++)
			assert_record_is(&c.entries[e].recs[i], (int)e + 1, (int)i + 1);
	}
}

static void test_longest_fields_and_negative_numbers_come_back(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct store_audit rec;
	struct collected c = {0};
	uint64_t number = 0;
	char id[JOURNAL_ID_LEN + 1];

	memset(&rec, 0, sizeof(rec));
	rec.time = -5;
	rec.status = -1;
	memset(rec.actor, 'a', sizeof(rec.actor) - 1);
	memset(rec.action, 'b', sizeof(rec.action) - 1);
	memset(rec.workspace, 'c', sizeof(rec.workspace) - 1);
	memset(rec.secret, 'd', sizeof(rec.secret) - 1);
	memset(rec.target, 'e', sizeof(rec.target) - 1);
	memset(rec.scope, 'f', sizeof(rec.scope) - 1);
	memset(rec.outcome, 'g', sizeof(rec.outcome) - 1);
	memset(rec.client, 'h', sizeof(rec.client) - 1);
	memset(rec.request_id, 'i', sizeof(rec.request_id) - 1);

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	assert_int_equal(journal_append(j, &rec, 1, &number, NULL), TR_OK);
	journal_close(j);

	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].n, 1);
	assert_memory_equal(&c.entries[0].recs[0], &rec, sizeof(rec));
}

static void test_file_is_owners_only_and_named_by_hex_id(void **state)
{
	struct fixture *f = *state;
	struct journal *a = NULL, *b = NULL;
	char path[128];
	struct stat st;
	const char *id;

	assert_int_equal(journal_create(f->dir, &a, NULL), TR_OK);
	assert_int_equal(journal_create(f->dir, &b, NULL), TR_OK);
	id = journal_id(a);
	assert_int_equal(strlen(id), JOURNAL_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), JOURNAL_ID_LEN);
	assert_string_not_equal(id, journal_id(b));

	journal_path(f, id, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	journal_close(a);
	journal_close(b);
}

static void test_torn_last_entry_ends_reading_after_the_ones_before(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1], path[128];
	uint64_t unread = 12345;
	off_t whole;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 1, 1);
	append_entry(j, 2, 2, 2);
	append_entry(j, 3, 3, 3);
	journal_close(j);

	journal_path(f, id, path, sizeof(path));
	whole = file_size(f, id);
	assert_int_equal(journal_read(f->dir, id, collect, &c, &unread, NULL), TR_OK);
	assert_int_equal(unread, 0); /* every byte was a whole entry */
	memset(&c, 0, sizeof(c));
	assert_int_equal(truncate(path, whole - 3), 0);
	assert_int_equal(journal_read(f->dir, id, collect, &c, &unread, NULL), TR_OK);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.entries[0].number, 1);
	assert_int_equal(c.entries[1].number, 2);
	assert_record_is(&c.entries[1].recs[1], 2, 2);
	assert_true(unread > 0 && unread < (uint64_t)whole); /* what is left of entry 3 */
}

static void test_torn_header_ends_reading_after_the_ones_before(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1], path[128];
	uint64_t before_last;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 2, 1);
	before_last = journal_size(j);
	append_entry(j, 2, 1, 2);
	journal_close(j);

	/* Only 5 bytes of the last entry's header made it. */
	journal_path(f, id, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)before_last + 5), 0);
	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].number, 1);
}

/* Flips one bit of a text inside the middle entry: the text still decodes,
 * so only the checksum can tell. */
static void test_damaged_middle_entry_stops_reading_before_it(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1], path[128];
	unsigned char buf[4096];
	uint64_t start, end;
	unsigned char *hit;
	ssize_t len;
	int fd;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 1, 1);
	start = journal_size(j);
	append_entry(j, 2, 2, 2);
	end = journal_size(j);
	append_entry(j, 3, 1, 3);
	journal_close(j);

	journal_path(f, id, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf));
	assert_true(len > 0 && (uint64_t)len > end);
	hit = memmem(buf + start, end - start, "secret-2-2", strlen("secret-2-2"));
	assert_non_null(hit);
	hit[0] ^= 0x01; /* 's' -> 'r' */
	assert_int_equal(pwrite(fd, hit, 1, hit - buf), 1);
	close(fd);

	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].number, 1);
	assert_record_is(&c.entries[0].recs[0], 1, 1);
}

/* Appends to id's file an entry written by hand in the format of
 * journal.c, with a right checksum: one record of status 200 whose actor
 * is actor_len bytes long and whose other texts are empty. */
static void append_handmade_entry(const struct fixture *f, const char *id, uint64_t number, size_t actor_len)
{
	unsigned char entry[512], *p = entry + 16;
	char path[128];
	size_t payload;
	int fd;

	assert_true(actor_len < 256);
	memset(p, 0, 12);
	p[8] = 200; /* status */
	p += 12;
	p[0] = (unsigned char)actor_len;
	p[1] = 0;
	memset(p + 2, 'a', actor_len);
	p += 2 + actor_len;
	memset(p, 0, 2 * 8); /* the other eight texts: empty */
	p += 2 * 8;
	payload = (size_t)(p - (entry + 16));
	for (int i = 0; i < 4; i++)
		entry[i] = (unsigned char)(payload >> (8 * i));
	for (int i = 0; i < 8; i++)
		entry[4 + i] = (unsigned char)(number >> (8 * i));
	memcpy(entry + 12, "\x01\0\0\0", 4); /* one record */
	crypto_generichash(p, 16, entry, (size_t)(p - entry), NULL, 0);
	p += 16;

	journal_path(f, id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, entry, (size_t)(p - entry)), p - entry);
	close(fd);
}

/* The hand-made entries are right: one whose actor fills its field is read. */
static void test_handmade_entry_with_longest_text_is_read(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1];
	size_t room = sizeof(c.entries[0].recs[0].actor);

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	journal_close(j);
	append_handmade_entry(f, id, 1, room - 1);

	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].recs[0].status, 200);
	assert_int_equal(strlen(c.entries[0].recs[0].actor), room - 1);
}

/* A checked entry whose text does not fit its field (no room for the NUL)
 * is damaged: reading ends before it. */
static void test_text_longer_than_its_field_ends_reading(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1];
	size_t room = sizeof(c.entries[0].recs[0].actor);

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 1, 1);
	journal_close(j);
	append_handmade_entry(f, id, 2, room);
	append_handmade_entry(f, id, 3, 1);

	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].number, 1);
}

static void test_each_file_lists_only_journal_files(void **state)
{
	struct fixture *f = *state;
	struct journal *a = NULL, *b = NULL;
	struct ids ids = {0};

	assert_int_equal(journal_create(f->dir, &a, NULL), TR_OK);
	assert_int_equal(journal_create(f->dir, &b, NULL), TR_OK);
	make_file(f, "tresor.db");
	make_file(f, JOURNAL_PREFIX "xyz");
	make_file(f, JOURNAL_PREFIX "0123456789ABCDEF");
	make_file(f, JOURNAL_PREFIX "0123456789abcdef0");
	make_file(f, JOURNAL_PREFIX "0123456789abcde");
	make_file(f, JOURNAL_PREFIX "0123456789abcdef.tmp");
	make_file(f, "x" JOURNAL_PREFIX "0123456789abcdef");

	assert_int_equal(journal_each_file(f->dir, collect_id, &ids, NULL), TR_OK);
	assert_int_equal(ids.count, 2);
	assert_true(ids_hold(&ids, journal_id(a)));
	assert_true(ids_hold(&ids, journal_id(b)));
	journal_close(a);
	journal_close(b);
}

static void test_each_file_in_a_missing_dir_fails(void **state)
{
	struct fixture *f = *state;
	struct ids ids = {0};
	char missing[96];

	snprintf(missing, sizeof(missing), "%s/nope", f->dir);
	assert_int_equal(journal_each_file(missing, collect_id, &ids, NULL), TR_EUNAVAIL);
	assert_int_equal(ids.count, 0);
}

static void test_remove_removes_and_again_is_fine(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct ids ids = {0};
	struct collected c = {0};
	char id[JOURNAL_ID_LEN + 1], path[128];
	struct stat st;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 1, 1);
	journal_close(j);

	assert_int_equal(journal_remove(f->dir, id, NULL), TR_OK);
	journal_path(f, id, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(journal_each_file(f->dir, collect_id, &ids, NULL), TR_OK);
	assert_int_equal(ids.count, 0);
	assert_int_equal(journal_read(f->dir, id, collect, &c, NULL, NULL), TR_EUNAVAIL);
	assert_int_equal(c.count, 0);

	assert_int_equal(journal_remove(f->dir, id, NULL), TR_OK);
}

static void test_callback_failure_stops_reading_and_is_returned(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct collected c = {.fail_at = 2, .fail_with = TR_ECONFLICT};
	struct tr_error err = {0};
	char id[JOURNAL_ID_LEN + 1];

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	append_entry(j, 1, 1, 1);
	append_entry(j, 2, 1, 2);
	append_entry(j, 3, 1, 3);
	journal_close(j);

	assert_int_equal(journal_read(f->dir, id, collect, &c, NULL, &err), TR_ECONFLICT);
	assert_int_equal(c.count, 2);
	assert_string_equal(err.message, "stop at entry 2");
}

static enum tr_status fail_on_file(void *ctx, const char *id, struct tr_error *err)
{
	size_t *calls = ctx;

	(void)id;
	(*calls)++;
	return tr_error_set(err, TR_EUNAVAIL, "no");
}

static void test_each_file_stops_at_callback_failure(void **state)
{
	struct fixture *f = *state;
	struct journal *a = NULL, *b = NULL;
	size_t calls = 0;

	assert_int_equal(journal_create(f->dir, &a, NULL), TR_OK);
	assert_int_equal(journal_create(f->dir, &b, NULL), TR_OK);
	assert_int_equal(journal_each_file(f->dir, fail_on_file, &calls, NULL), TR_EUNAVAIL);
	assert_int_equal(calls, 1);
	journal_close(a);
	journal_close(b);
}

static void test_size_grows_by_each_append(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	uint64_t before;

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	assert_int_equal(journal_size(j), 0);
	assert_int_equal(file_size(f, journal_id(j)), 0);
	for (int e = 1; e <= 3; e++) {
		before = journal_size(j);
		append_entry(j, e, (size_t)e, (uint64_t)e);
		assert_true(journal_size(j) > before);
		assert_int_equal(journal_size(j), file_size(f, journal_id(j)));
	}
	journal_close(j);
}

static void test_appending_no_records_is_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct store_audit rec = make_record(1, 1);
	struct collected c = {0};
	uint64_t number = 77;
	char id[JOURNAL_ID_LEN + 1];

	assert_int_equal(journal_create(f->dir, &j, NULL), TR_OK);
	snprintf(id, sizeof(id), "%s", journal_id(j));
	assert_int_equal(journal_append(j, &rec, 0, &number, NULL), TR_EINVAL);
	assert_int_equal(number, 77);
	assert_int_equal(journal_size(j), 0);
	assert_int_equal(file_size(f, id), 0);
	/* No number was used up. */
	append_entry(j, 1, 1, 1);
	journal_close(j);

	read_all(f, id, &c);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.entries[0].number, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entries_come_back_as_written_numbered_from_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_fields_and_negative_numbers_come_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_is_owners_only_and_named_by_hex_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_entry_ends_reading_after_the_ones_before, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_torn_header_ends_reading_after_the_ones_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_middle_entry_stops_reading_before_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handmade_entry_with_longest_text_is_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_longer_than_its_field_ends_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_file_lists_only_journal_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_file_in_a_missing_dir_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_removes_and_again_is_fine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_failure_stops_reading_and_is_returned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_file_stops_at_callback_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_grows_by_each_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appending_no_records_is_refused, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
