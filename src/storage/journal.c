/*
 * journal.c - audit journal files (journal.h).
 *
 * An entry, integers little-endian:
 *   u32 payload length, u64 number, u32 record count,
 *   payload: per record i64 time, i32 status, then actor, action,
 *            workspace, secret, target, scope, outcome, client and
 *            request_id, each as u16 length + bytes,
 *   16 bytes: BLAKE2b-128 of everything before it in the entry.
 * The checksum finds a torn or damaged entry; it is no seal (the hash
 * chain in the audit log is what shows tampering, once records are there).
 */
#include "storage/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "common/fdwrite.h"

#define HEADER_BYTES 16
#define SUM_BYTES 16
#define PAYLOAD_MAX (16u * 1024 * 1024) /* far above any request's records */

struct journal {
	int fd;
	bool broken; /* a write failed part way: nothing more is appended */
	uint64_t next;
	uint64_t size;
	char id[JOURNAL_ID_LEN + 1];
};

/* The text fields of a record, in their order in an entry: where each
 * lies in struct store_audit, and its room there. */
#define TEXT_FIELD(name) {offsetof(struct store_audit, name), sizeof(((struct store_audit *)0)->name)}
static const struct {
	size_t offset, room;
} record_texts[] = {
	TEXT_FIELD(actor), TEXT_FIELD(action),  TEXT_FIELD(workspace), TEXT_FIELD(secret),     TEXT_FIELD(target),
	TEXT_FIELD(scope), TEXT_FIELD(outcome), TEXT_FIELD(client),    TEXT_FIELD(request_id),
};
#define RECORD_TEXTS (sizeof(record_texts) / sizeof(record_texts[0]))

static const char *text_of(const struct store_audit *rec, size_t i)
{
	return (const char *)rec + record_texts[i].offset;
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* --- writing ------------------------------------------------------------- */

static size_t record_bytes(const struct store_audit *rec)
{
	size_t n = 12;

	for (size_t i = 0; i < RECORD_TEXTS; i++)
		n += 2 + strlen(text_of(rec, i));
	return n;
}

static unsigned char *put_record(unsigned char *p, const struct store_audit *rec)
{
	put_u64(p, (uint64_t)rec->time);
	put_u32(p + 8, (uint32_t)rec->status);
	p += 12;
	for (size_t i = 0; i < RECORD_TEXTS; i++) {
		const char *text = text_of(rec, i);
		size_t len = strlen(text);

		p[0] = (unsigned char)len;
		p[1] = (unsigned char)(len >> 8);
		memcpy(p + 2, text, len);
		p += 2 + len;
	}
	return p;
}

static void checksum(const unsigned char *entry, size_t len, unsigned char out[SUM_BYTES])
{
	crypto_generichash(out, SUM_BYTES, entry, len, NULL, 0);
}

enum tr_status journal_prepare(const struct journal *j, const struct store_audit *recs, size_t n,
                               struct journal_entry *out, struct tr_error *err)
{
	size_t payload = 0;
	unsigned char *entry, *p;

	for (size_t i = 0; i < n; i++)
		payload += record_bytes(&recs[i]);
	if (n == 0 || payload > PAYLOAD_MAX)
		return tr_error_set(err, TR_EINVAL, "audit journal: %zu records do not make an entry", n);
	out->len = HEADER_BYTES + payload + SUM_BYTES;
	if (!(entry = malloc(out->len)))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	put_u32(entry, (uint32_t)payload);
	put_u64(entry + 4, j->next);
	put_u32(entry + 12, (uint32_t)n);
	p = entry + HEADER_BYTES;
	for (size_t i = 0; i < n; i++)
		p = put_record(p, &recs[i]);
	checksum(entry, HEADER_BYTES + payload, p);
	out->bytes = entry;
	out->number = j->next;
	return TR_OK;
}

enum tr_status journal_write(struct journal *j, const struct journal_entry *e, struct tr_error *err)
{
	if (j->broken)
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: an earlier write failed");
	if (e->number != j->next)
		return tr_error_set(err, TR_EINVAL, "audit journal: entry %llu is not the next one",
		                    (unsigned long long)e->number);
	if (fd_write_all(j->fd, e->bytes, e->len) != 0) {
		j->broken = true;
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: write failed: %s", strerror(errno));
	}
	j->next++;
	j->size += e->len;
	return TR_OK;
}

void journal_entry_clear(struct journal_entry *e)
{
	free(e->bytes);
	*e = (struct journal_entry){0};
}

bool journal_broken(const struct journal *j)
{
	return j->broken;
}

enum tr_status journal_append(struct journal *j, const struct store_audit *recs, size_t n, uint64_t *number,
                              struct tr_error *err)
{
	struct journal_entry e = {0};
	enum tr_status st = journal_prepare(j, recs, n, &e, err);

	if (st == TR_OK && (st = journal_write(j, &e, err)) == TR_OK)
		*number = e.number;
	journal_entry_clear(&e);
	return st;
}

/* --- files ------------------------------------------------------------------ */

/* A removal or a rename is durable once the directory is synced: a
 * removed file that came back after a power cut, its note forgotten, would
 * have its entries moved into the log again. */
static enum tr_status sync_dir_of(const char *path, struct tr_error *err)
{
	if (fsync_parent_dir(path) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot sync the directory of %s: %s", path,
		                    strerror(errno));
	return TR_OK;
}

static bool file_path(char *out, size_t size, const char *dir, const char *id)
{
	int n = snprintf(out, size, "%s/" JOURNAL_PREFIX "%s", dir, id);

	return n > 0 && (size_t)n < size;
}

enum tr_status journal_create(const char *dir, struct journal **out, struct tr_error *err)
{
	struct journal *j = calloc(1, sizeof(*j));
	unsigned char raw[JOURNAL_ID_LEN / 2];
	char path[PATH_MAX];

	if (!j)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(j->id, sizeof(j->id), raw, sizeof(raw));
	if (!file_path(path, sizeof(path), dir, j->id)) {
		free(j);
		return tr_error_set(err, TR_EINVAL, "audit journal: data directory path is too long");
	}
	j->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		free(j);
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot create a file in %s: %s", dir,
		                    strerror(errno));
	}
	j->next = 1;
	*out = j;
	return TR_OK;
}

const char *journal_id(const struct journal *j)
{
	return j->id;
}

uint64_t journal_size(const struct journal *j)
{
	return j->size;
}

uint64_t journal_last(const struct journal *j)
{
	return j->next - 1;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	close(j->fd);
	free(j);
}

/* A journal file's id: JOURNAL_ID_LEN lowercase hex digits after the prefix. */
static bool is_journal_name(const char *name)
{
	size_t plen = strlen(JOURNAL_PREFIX);

	if (strncmp(name, JOURNAL_PREFIX, plen) != 0 || strlen(name + plen) != JOURNAL_ID_LEN)
		return false;
	return strspn(name + plen, "0123456789abcdef") == JOURNAL_ID_LEN;
}

enum tr_status journal_each_file(const char *dir, journal_file_cb cb, void *ctx, struct tr_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	enum tr_status st = TR_OK;

	if (!d)
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot read %s: %s", dir, strerror(errno));
	while (st == TR_OK && (e = readdir(d)))
		if (is_journal_name(e->d_name))
			st = cb(ctx, e->d_name + strlen(JOURNAL_PREFIX), err);
	closedir(d);
	return st;
}

enum tr_status journal_remove(const char *dir, const char *id, struct tr_error *err)
{
	char path[PATH_MAX];

	if (!file_path(path, sizeof(path), dir, id))
		return tr_error_set(err, TR_EINVAL, "audit journal: data directory path is too long");
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return TR_OK;
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot remove %s: %s", path, strerror(errno));
	}
	return sync_dir_of(path, err);
}

/* --- reading ------------------------------------------------------------------ */

/* Reads one text field into its room; false if it does not fit the
 * payload or the room. */
static bool get_text(const unsigned char **p, const unsigned char *end, char *field, size_t room)
{
	size_t len;

	if (end - *p < 2)
		return false;
	len = (size_t)(*p)[0] | ((size_t)(*p)[1] << 8);
	if ((size_t)(end - *p - 2) < len || len >= room)
		return false;
	memcpy(field, *p + 2, len);
	field[len] = '\0';
	*p += 2 + len;
	return true;
}

static bool get_record(const unsigned char **p, const unsigned char *end, struct store_audit *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (end - *p < 12)
		return false;
	rec->time = (int64_t)get_u64(*p);
	rec->status = (int)get_u32(*p + 8);
	*p += 12;
	for (size_t i = 0; i < RECORD_TEXTS; i++)
		if (!get_text(p, end, (char *)rec + record_texts[i].offset, record_texts[i].room))
			return false;
	return true;
}

/* Decodes count records from a checked payload; NULL if they do not fit it
 * exactly (or out of memory). */
static struct store_audit *get_records(const unsigned char *payload, size_t len, size_t count)
{
	const unsigned char *p = payload, *end = payload + len;
	struct store_audit *recs;

	if (count == 0 || count > len / 12 || !(recs = calloc(count, sizeof(*recs))))
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (!get_record(&p, end, &recs[i])) {
			free(recs);
			return NULL;
		}
	if (p != end) {
		free(recs);
		return NULL;
	}
	return recs;
}

/* Reads the next whole entry; false at the end or at a torn or damaged
 * one. *entry is malloc'd, header included. */
static bool read_entry(FILE *f, unsigned char **entry, size_t *payload_len)
{
	unsigned char header[HEADER_BYTES], sum[SUM_BYTES];
	uint32_t len;
	unsigned char *e;

	if (fread(header, 1, sizeof(header), f) != sizeof(header))
		return false;
	len = get_u32(header);
	if (len > PAYLOAD_MAX || !(e = malloc(HEADER_BYTES + (size_t)len + SUM_BYTES)))
		return false;
	memcpy(e, header, HEADER_BYTES);
	if (fread(e + HEADER_BYTES, 1, (size_t)len + SUM_BYTES, f) != (size_t)len + SUM_BYTES) {
		free(e);
		return false;
	}
	checksum(e, HEADER_BYTES + len, sum);
	if (sodium_memcmp(sum, e + HEADER_BYTES + len, SUM_BYTES) != 0) {
		free(e);
		return false;
	}
	*entry = e;
	*payload_len = len;
	return true;
}

enum tr_status journal_read(const char *dir, const char *id, journal_entry_cb cb, void *ctx, uint64_t *unread,
                            struct tr_error *err)
{
	char path[PATH_MAX];
	unsigned char *entry;
	size_t len;
	uint64_t whole = 0; /* bytes of the whole entries read */
	enum tr_status st = TR_OK;
	struct stat sb;
	FILE *f;

	if (!file_path(path, sizeof(path), dir, id))
		return tr_error_set(err, TR_EINVAL, "audit journal: data directory path is too long");
	if (!(f = fopen(path, "rbe")))
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot open %s: %s", path, strerror(errno));
	while (st == TR_OK && read_entry(f, &entry, &len)) {
		size_t count = get_u32(entry + 12);
		struct store_audit *recs = get_records(entry + HEADER_BYTES, len, count);

		if (recs)
			st = cb(ctx, get_u64(entry + 4), recs, count, err);
		free(recs);
		free(entry);
		if (!recs)
			break; /* a checked entry that does not decode: damaged */
		whole += HEADER_BYTES + len + SUM_BYTES;
	}
	if (unread)
		*unread = fstat(fileno(f), &sb) == 0 && (uint64_t)sb.st_size > whole ? (uint64_t)sb.st_size - whole : 0;
	fclose(f);
	return st;
}

enum tr_status journal_set_aside(const char *dir, const char *id, struct tr_error *err)
{
	char path[PATH_MAX], aside[PATH_MAX + 16];

	if (!file_path(path, sizeof(path), dir, id))
		return tr_error_set(err, TR_EINVAL, "audit journal: data directory path is too long");
	snprintf(aside, sizeof(aside), "%s.damaged", path);
	if (rename(path, aside) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "audit journal: cannot rename %s: %s", path, strerror(errno));
	return sync_dir_of(path, err);
}
