/*
 * audit-journal.h - moving audit journal entries (storage/journal.h) into
 * the hash-chained audit log: as the server runs, on the writer, and at
 * its start for what a crash left behind.
 */
#ifndef TRESOR_DOMAIN_AUDIT_JOURNAL_H
#define TRESOR_DOMAIN_AUDIT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "domain/domain.h"

/* Appends the n records of entry `number` of journal id to the log and
 * notes the entry as moved, inside the caller's open transaction; the
 * entry must follow the last one noted. Fails as audit_append: the caller
 * must roll back. */
enum tr_status audit_journal_apply(struct domain *d, const char *id, uint64_t number, struct store_audit *recs,
                                   size_t n, struct tr_error *err);

/*
 * At start, before anything else writes: moves every entry of the journal
 * files in dir that the log does not hold yet into it (a transaction per
 * file, durable), removes the files and forgets them. *moved: the records
 * moved. A file that cannot be moved stays for the next start, and the
 * server does not start (TR_EUNAVAIL).
 */
enum tr_status audit_journal_recover(struct domain *d, const char *dir, size_t *moved, struct tr_error *err);

#endif
