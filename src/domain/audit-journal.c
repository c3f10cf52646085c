/*
 * audit-journal.c - journal entries into the audit log (audit-journal.h).
 *
 * The log notes, per journal file, the last entry it holds
 * (store_journal_advance), in the transaction that appended it: an
 * entry is then in the log once or not at all, whatever stopped when. A
 * file is removed only once the log durably holds all of it, and forgotten
 * after that, so a file with no note is one none of whose entries was ever
 * moved.
 */
#include "domain/audit-journal.h"

#include "common/log.h"
#include "domain/audit.h"
#include "storage/journal.h"

static enum tr_status journal_unavailable(const struct tr_error *why, struct tr_error *err)
{
	log_error("audit journal: %s", why->message);
	return tr_error_set(err, TR_EUNAVAIL, "audit log unavailable; nothing was changed");
}

enum tr_status audit_journal_apply(struct domain *d, const char *id, uint64_t number, struct store_audit *recs,
                                   size_t n, struct tr_error *err)
{
	struct tr_error store_err = {0};
	enum tr_status st = TR_OK;

	/* The note first: an entry that does not follow the last one noted
	 * (one before it was lost) appends nothing. */
	if (store_journal_advance(d->store, id, (int64_t)number, &store_err) != TR_OK)
		return journal_unavailable(&store_err, err);
	for (size_t i = 0; i < n && st == TR_OK; i++)
		st = audit_append_filled(d, &recs[i], err);
	return st;
}

/* One file being moved at start. */
struct recovery {
	struct domain *d;
	const char *dir;
	const char *id;
	int64_t applied;  /* the last entry the log holds */
	size_t moved;     /* records, of the files committed */
	size_t in_file;   /* records moved from this file so far */
};

static enum tr_status recover_entry(void *ctx, uint64_t number, struct store_audit *recs, size_t n,
                                    struct tr_error *err)
{
	struct recovery *rc = ctx;
	enum tr_status st;

	if ((int64_t)number <= rc->applied)
		return TR_OK;
	if ((int64_t)number != rc->applied + 1)
		return tr_error_set(err, TR_EUNAVAIL, "audit journal %s: entry %llu follows %lld", rc->id,
		                    (unsigned long long)number, (long long)rc->applied);
	if ((st = audit_journal_apply(rc->d, rc->id, number, recs, n, err)) == TR_OK) {
		rc->applied = (int64_t)number;
		rc->in_file += n;
	}
	return st;
}

/* Once what could be read of a file is in the log: removes it, or, when
 * bytes after its last whole entry could not be read (a torn or damaged
 * entry: the machine stopped while it was written), sets it aside and
 * says so. */
static enum tr_status retire_file(const struct recovery *rc, uint64_t unread, struct tr_error *err)
{
	if (unread == 0)
		return journal_remove(rc->dir, rc->id, err);
	log_warn("audit journal %s: the log holds its entries up to %lld; the %llu bytes after its last whole entry "
	         "are torn or damaged (a crash or a failed write while they were written) and could not be read; the file "
	         "is kept as " JOURNAL_PREFIX "%s.damaged",
	         rc->id, (long long)rc->applied, (unsigned long long)unread, rc->id);
	return journal_set_aside(rc->dir, rc->id, err);
}

/* Moves what the log lacks of one file in one transaction, then removes it. */
static enum tr_status recover_file(void *ctx, const char *id, struct tr_error *err)
{
	struct recovery *rc = ctx;
	enum tr_status st = domain_begin(rc->d, err);
	uint64_t unread = 0;

	rc->id = id;
	rc->in_file = 0;
	if (st == TR_OK && (st = store_journal_applied(rc->d->store, id, &rc->applied, err)) == TR_OK)
		st = journal_read(rc->dir, id, recover_entry, rc, &unread, err);
	if (st == TR_OK)
		st = domain_finish(rc->d, st, err);
	else if (rc->d->tx_depth > 0)
		domain_finish(rc->d, st, NULL);
	if (st != TR_OK)
		return st;
	rc->moved += rc->in_file;
	return retire_file(rc, unread, err);
}

enum tr_status audit_journal_recover(struct domain *d, const char *dir, size_t *moved, struct tr_error *err)
{
	struct recovery rc = {.d = d, .dir = dir};
	enum tr_status st = journal_each_file(dir, recover_file, &rc, err);

	*moved = rc.moved;
	if (st != TR_OK)
		return st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, store_journal_forget(d->store, NULL, err), err);
}
