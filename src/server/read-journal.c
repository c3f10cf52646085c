/*
 * read-journal.c - journaled read records (read-journal.h).
 *
 * Three kinds of detached writer job (writer_submit_detached):
 * - an entry: made by the worker, written to the journal by its gate,
 *   under the writer's queue lock, so that the file's order is the
 *   queue's; moved into the log by its run;
 * - a retirement, queued after the last entry of a file the worker no
 *   longer writes (it grew past ROTATE_BYTES, a write failed, or the server
 *   stops): its group commits durably, and then the file is removed if the
 *   log notes its last entry and no sync of the log ever failed;
 * - a forgetting, queued after the removal: the store's note of the file
 *   goes (audit-journal.c: the note outlives the file).
 *
 * If an entry cannot be moved (a full disk, an I/O error), the journal
 * path closes for good: no later entry is moved (the store notes each
 * file's moved entries as a prefix), files are no longer removed, and
 * reads go through the writer, which fails closed. The next start moves
 * what is left.
 */
#include "server/read-journal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "domain/audit-journal.h"
#include "storage/journal.h"

#define ROTATE_BYTES (4u * 1024 * 1024)

struct read_journal {
	const char *dir;
	struct writer *writer;
	struct journal *journal;
	uint64_t rotate_at; /* the size past which the next file is made */
};

/* Records journaled and not yet moved at most: past it, reads wait for the
 * writer again. Without a bound a writer slower than the workers (ten
 * records per /resolve of ten) fell behind without end: its queue grew by
 * hundreds of MiB, and a write queued behind it waited seconds. */
#define RECORDS_AHEAD_MAX 4096

static atomic_bool stalled;     /* an entry could not be moved */
static atomic_long records_out; /* journaled, not yet moved or given up */

/* --- an entry ------------------------------------------------------------- */

struct entry_job {
	struct journal *journal; /* the gate's */
	struct journal_entry entry;
	uint64_t auth_generation;
	char id[JOURNAL_ID_LEN + 1];
	struct store_audit *recs;
	size_t n;
	bool journal_broke; /* by the gate: the file takes no more */
	struct tr_error write_err;
	bool moved; /* by the last run */
};

static void entry_free(struct entry_job *job)
{
	journal_entry_clear(&job->entry);
	free(job->recs);
	free(job);
}

/* Whether n records of a caller verified under auth_generation may be
 * journaled: nothing that decides the caller's permission has changed, the
 * journal is open, and the writer is not too far behind. */
static bool may_take(uint64_t auth_generation, size_t n)
{
	return !atomic_load(&stalled) && auth_generation == domain_auth_generation() &&
	       atomic_load(&records_out) + (long)n <= RECORDS_AHEAD_MAX;
}

/* Under the writer's lock: journals the entry when it may be taken and no
 * change of what tokens may do is queued either. */
static bool entry_gate(void *arg, bool auth_change_pending)
{
	struct entry_job *job = arg;

	if (auth_change_pending || !may_take(job->auth_generation, job->n))
		return false;
	if (journal_write(job->journal, &job->entry, &job->write_err) != TR_OK) {
		job->journal_broke = journal_broken(job->journal);
		return false;
	}
	atomic_fetch_add(&records_out, (long)job->n);
	return true;
}

static void stall(const char *why)
{
	if (!atomic_exchange(&stalled, true))
		log_error("audit journal: %s; the records left stay in the journal until the next start, and reads "
		          "are recorded through the writer until then",
		          why);
}

/* On the writer, in the group's transaction (again if the group runs
 * again). Once one entry could not be moved, none after it is: the log
 * notes each file's moved entries as a prefix. */
static void entry_run(struct domain *d, void *arg)
{
	struct entry_job *job = arg;
	struct tr_error err = {0};
	enum tr_status st;

	job->moved = false;
	if (atomic_load(&stalled) || domain_group_enter(d, &err) != TR_OK)
		return;
	st = audit_journal_apply(d, job->id, job->entry.number, job->recs, job->n, &err);
	job->moved = domain_group_leave(d, st == TR_OK);
	if (!job->moved)
		stall("an entry could not be moved into the audit log");
}

/* After its group: an entry its group did not commit (whether it ran or
 * not) is not in the log, and no later one may be. */
static void entry_finish(void *arg, bool committed)
{
	struct entry_job *job = arg;

	if (!job->moved || !committed)
		stall("an entry was not moved into the audit log");
	atomic_fetch_sub(&records_out, (long)job->n);
	entry_free(job);
}

bool read_journal_pending(void)
{
	return atomic_load(&records_out) > 0;
}

/* --- retiring a file ------------------------------------------------------- */

struct file_job {
	const char *dir;
	struct writer *writer;
	struct journal *journal; /* retiring: closed by the finish */
	char id[JOURNAL_ID_LEN + 1];
	bool all_moved; /* by the run: the log notes the file's last entry */
};

/* In the retirement's group: whether the log notes the file's last entry.
 * The group is durable if it writes anything; the groups before it were
 * synced after their commit (flush_log), or writer_sync_failed says not. */
static void retire_run(struct domain *d, void *arg)
{
	struct file_job *job = arg;
	struct tr_error err = {0};
	int64_t applied = -1;

	job->all_moved = store_journal_applied(d->store, job->id, &applied, &err) == TR_OK &&
	                 (uint64_t)applied == journal_last(job->journal);
}

static void forget_run(struct domain *d, void *arg)
{
	struct file_job *job = arg;
	struct tr_error err = {0};

	if (domain_group_enter(d, &err) != TR_OK)
		return;
	domain_group_leave(d, store_journal_forget(d->store, job->id, &err) == TR_OK);
}

static void forget_finish(void *arg, bool committed)
{
	(void)committed; /* else the next start forgets it */
	free(arg);
}

/* Whether the file may go: the log holds all of it, on disk (a failed sync
 * of the log may have lost what the file still has). */
static bool file_done(const struct file_job *job, bool committed)
{
	return committed && job->all_moved && !atomic_load(&stalled) && !writer_sync_failed(job->writer);
}

/* Removes the file once done, then has the store forget it (its note
 * outlives it: audit-journal.c); else the next start moves what the log
 * lacks of it. */
static void retire_finish(void *arg, bool committed)
{
	struct file_job *job = arg;
	bool done = file_done(job, committed);
	struct tr_error err = {0};

	journal_close(job->journal);
	job->journal = NULL;
	if (!done || journal_remove(job->dir, job->id, &err) != TR_OK) {
		if (err.message[0])
			log_warn("%s", err.message);
		free(job);
		return;
	}
	if (writer_submit_detached(job->writer, forget_run, forget_finish, NULL, job, STORE_FLUSH_LATER, &err) !=
	    TR_OK)
		free(job);
}

static void retire(struct read_journal *rj)
{
	struct file_job *job = calloc(1, sizeof(*job));
	struct tr_error err = {0};

	if (!job) {
		journal_close(rj->journal); /* the next start removes the file */
		rj->journal = NULL;
		return;
	}
	job->dir = rj->dir;
	job->writer = rj->writer;
	job->journal = rj->journal;
	memcpy(job->id, journal_id(rj->journal), sizeof(job->id));
	rj->journal = NULL;
	if (writer_submit_detached(rj->writer, retire_run, retire_finish, NULL, job, STORE_DURABLE, &err) != TR_OK) {
		journal_close(job->journal);
		free(job);
	}
}

/* A new file in place of the current one. When none can be made, a broken
 * file is retired anyway (this worker's reads go through the writer from
 * then on), and a full one goes on until it has grown by ROTATE_BYTES
 * again. */
static void rotate(struct read_journal *rj)
{
	bool broken = journal_broken(rj->journal);
	struct journal *next = NULL;
	struct tr_error err = {0};

	if (journal_create(rj->dir, &next, &err) != TR_OK) {
		log_error("%s", err.message);
		if (!broken) {
			rj->rotate_at = journal_size(rj->journal) + ROTATE_BYTES;
			return;
		}
		log_error("audit journal: this worker records reads through the writer from now on");
	}
	retire(rj);
	rj->journal = next;
	rj->rotate_at = ROTATE_BYTES;
}

/* --- the worker's side ------------------------------------------------------- */

enum tr_status read_journal_open(const char *dir, struct writer *writer, struct read_journal **out,
                                 struct tr_error *err)
{
	struct read_journal *rj = calloc(1, sizeof(*rj));
	enum tr_status st;

	if (!rj)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	rj->dir = dir;
	rj->writer = writer;
	rj->rotate_at = ROTATE_BYTES;
	if ((st = journal_create(dir, &rj->journal, err)) != TR_OK) {
		free(rj);
		return st;
	}
	*out = rj;
	return TR_OK;
}

/* A job for the n records, their entry made (outside the writer's lock);
 * NULL when it cannot be made. Takes recs over. */
static struct entry_job *entry_job_new(struct read_journal *rj, uint64_t auth_generation, struct store_audit *recs,
                                       size_t n)
{
	struct entry_job *job = calloc(1, sizeof(*job));
	struct tr_error err = {0};

	if (!job) {
		free(recs);
		return NULL;
	}
	job->journal = rj->journal;
	job->auth_generation = auth_generation;
	job->recs = recs;
	job->n = n;
	memcpy(job->id, journal_id(rj->journal), sizeof(job->id));
	if (journal_prepare(rj->journal, recs, n, &job->entry, &err) != TR_OK) {
		entry_free(job);
		return NULL;
	}
	return job;
}

bool read_journal_submit(struct read_journal *rj, uint64_t auth_generation, struct store_audit *recs, size_t n)
{
	struct entry_job *job;
	struct tr_error err = {0};
	bool taken;

	/* Asked before the entry is made (and again under the lock): past the
	 * bound, every read would make one for nothing. */
	if (!rj->journal || !may_take(auth_generation, n)) {
		free(recs);
		return false;
	}
	if (!(job = entry_job_new(rj, auth_generation, recs, n)))
		return false;
	taken = writer_submit_detached(rj->writer, entry_run, entry_finish, entry_gate, job, STORE_FLUSH_LATER,
	                               &err) == TR_OK;
	if (!taken) {
		if (job->journal_broke)
			log_error("%s", job->write_err.message);
		entry_free(job);
	}
	/* job is the writer's now, if taken */
	if (journal_broken(rj->journal) || journal_size(rj->journal) >= rj->rotate_at)
		rotate(rj);
	return taken;
}

void read_journal_close(struct read_journal *rj)
{
	if (!rj)
		return;
	if (rj->journal)
		retire(rj);
	free(rj);
}
