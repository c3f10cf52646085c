/*
 * read-journal.h - a read's audit records journaled, so that its answer
 * need not wait for the writer.
 *
 * A /resolve may answer only once its records are written (SPEC §9, fail
 * closed). Through the writer that is a hop to its thread, a commit and a
 * hop back per group. Instead, each worker appends a request's records to
 * an audit journal file of its own (storage/journal.h), queues them for the
 * writer, which moves them into the audit log with its next group, and
 * answers at once. A record that a crash keeps from the log is moved at the
 * next start (domain/audit-journal.h). As through the writer, the records
 * reach the disk just after the answer leaves.
 *
 * The journal is taken only when nothing that decides whether the caller
 * may resolve has changed since its token was verified: no change of what
 * tokens may do has committed (the auth generation) or is queued for the
 * writer; and only while the writer is not too far behind (a bound on the
 * records journaled and not yet moved). Otherwise, or when the journal
 * cannot be written, the request goes through the writer as before, which
 * checks again, and waits for it.
 */
#ifndef TRESOR_SERVER_READ_JOURNAL_H
#define TRESOR_SERVER_READ_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "server/writer.h"

struct read_journal;

/* A worker's journal: a new file in dir (which must outlive it), its
 * records moved by writer. */
enum tr_status read_journal_open(const char *dir, struct writer *writer, struct read_journal **out,
                                 struct tr_error *err);

/* Journals the n records of one request and queues them for the writer;
 * true when done, and the answer may leave now. False when the journal
 * may not or could not be taken: the records must go through the writer.
 * recs are taken over either way. auth_generation: the caller's
 * (principal.auth_generation). */
bool read_journal_submit(struct read_journal *rj, uint64_t auth_generation, struct store_audit *recs, size_t n);

/* Whether some journaled record is not in the audit log yet (a reader of
 * the log waits for the writer first). */
bool read_journal_pending(void);

/* Closes the worker's journal: its file is removed by the writer once the
 * log durably holds all of it. Call before writer_stop; NULL is fine. */
void read_journal_close(struct read_journal *rj);

#endif
