/*
 * journal.h - the audit journal: files of audit records kept on their way
 * into the store's audit log.
 *
 * A read whose answer holds values (a /resolve) may not be answered before
 * its audit records are written (SPEC §9, fail closed). Appending them to a
 * journal file is one write(2) on the worker; the group-commit writer moves
 * them into the audit log shortly after, and a record the server did not
 * live to move is moved at its next start (domain/audit-journal.h).
 *
 * Each worker appends to a file of its own, "audit-journal.<id>" in the
 * data directory, id being 16 random hex digits. Entries are numbered from
 * 1 in each file; an entry is the records of one request, with a checksum,
 * so a torn last entry (the machine stopped during its write) ends the
 * file when it is read back. Records never hold a value or a token; the
 * files are the owner's alone (0600).
 */
#ifndef TRESOR_STORAGE_JOURNAL_H
#define TRESOR_STORAGE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "storage/store.h"

#define JOURNAL_ID_LEN 16
#define JOURNAL_PREFIX "audit-journal."

struct journal;

/* Creates a new journal file in dir. *out is set only on success. */
enum tr_status journal_create(const char *dir, struct journal **out, struct tr_error *err);

/* The file's id (JOURNAL_ID_LEN hex digits). */
const char *journal_id(const struct journal *j);

/* The bytes written so far. */
uint64_t journal_size(const struct journal *j);

/* The number of the last entry written (0: none). */
uint64_t journal_last(const struct journal *j);

/* One request's records made into the journal's next entry, ready to be
 * written (journal_prepare), so that the write alone is what happens in
 * the writer's queue order. */
struct journal_entry {
	unsigned char *bytes;
	size_t len;
	uint64_t number;
};

/* Makes the n records (n >= 1) of one request into the next entry. Only
 * seq, prev_hash and hash are not kept (the writer sets them).
 * TR_EINVAL when they do not make an entry. */
enum tr_status journal_prepare(const struct journal *j, const struct store_audit *recs, size_t n,
                               struct journal_entry *out, struct tr_error *err);

/* Writes a prepared entry (TR_EINVAL if it is not the next one), as a rule
 * in one write(2). A failed write may leave a part of the entry behind:
 * the journal then takes no more (TR_EUNAVAIL, journal_broken). */
enum tr_status journal_write(struct journal *j, const struct journal_entry *e, struct tr_error *err);

/* Frees a prepared entry's bytes. */
void journal_entry_clear(struct journal_entry *e);

/* Whether a write failed part way (journal_write). */
bool journal_broken(const struct journal *j);

/* journal_prepare and journal_write; *number is the entry's. */
enum tr_status journal_append(struct journal *j, const struct store_audit *recs, size_t n, uint64_t *number,
                              struct tr_error *err);

/* Closes the file (it stays); NULL is fine. */
void journal_close(struct journal *j);

/* Calls cb for each journal file in dir (its id). Stops at the first
 * failure of cb and returns it. */
typedef enum tr_status (*journal_file_cb)(void *ctx, const char *id, struct tr_error *err);
enum tr_status journal_each_file(const char *dir, journal_file_cb cb, void *ctx, struct tr_error *err);

/* Calls cb for each whole entry of journal id in dir, in order, until the
 * end or a torn or damaged entry; recs are cb's to change until it
 * returns. Stops at the first failure of cb. *unread (may be NULL): the
 * bytes after the last whole entry read. */
typedef enum tr_status (*journal_entry_cb)(void *ctx, uint64_t number, struct store_audit *recs, size_t n,
                                           struct tr_error *err);
enum tr_status journal_read(const char *dir, const char *id, journal_entry_cb cb, void *ctx, uint64_t *unread,
                            struct tr_error *err);

/* Removes journal id's file from dir (gone already is fine), durably: the
 * directory is synced. */
enum tr_status journal_remove(const char *dir, const char *id, struct tr_error *err);

/* Renames journal id's file in dir to "audit-journal.<id>.damaged", which
 * no journal function reads again, for its owner to look at; durably. */
enum tr_status journal_set_aside(const char *dir, const char *id, struct tr_error *err);

#endif
