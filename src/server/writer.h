/*
 * writer.h - group commit: one thread that runs every writing request's
 * work, many requests per store transaction.
 *
 * SQLite admits one writer at a time, and with synchronous=FULL each
 * commit waits for the disk. Workers that each ran their own transaction
 * took turns on the write lock (sleeping in SQLite's busy handler) and
 * paid one fsync per request. Instead, a worker hands the request to the
 * writer and goes on serving other connections; the writer takes every
 * request queued meanwhile, runs each in a unit of its own (a savepoint,
 * so one failure undoes only its own work: first a light one,
 * store_set_light_units, and only if one fails after a change a real
 * one, for each request of the group again) inside one transaction, commits
 * once, and then gives each request back to the worker that submitted it,
 * which sends the reply. No reply leaves before its work is on disk; a
 * job that only records a read may say it can be flushed later
 * (STORE_FLUSH_LATER): its reply waits for the log write, not the disk,
 * when its whole group is such, and the log is synced right after.
 */
#ifndef TRESOR_SERVER_WRITER_H
#define TRESOR_SERVER_WRITER_H

#include <stdbool.h>

#include <event2/event.h>

#include "common/status.h"
#include "domain/domain.h"

struct writer;

/* Runs on the writer thread inside the group's transaction, with the
 * writer's domain; calls domain_group_enter/leave itself. It may run again
 * for the same job, the store work of the earlier run rolled back: each
 * run starts afresh. */
typedef void (*writer_run_fn)(struct domain *d, void *arg);
/* Runs on the thread of the event base given to writer_submit, after the
 * group: committed is false when the group's transaction was lost or its
 * commit failed, so nothing of this request's work was kept. */
typedef void (*writer_done_fn)(void *arg, bool committed);

/* A detached job's gate: runs under the queue's lock and says whether the
 * job is queued; what it does happens in queue order. auth_change_pending:
 * a job that may change what tokens may do (WRITER_CHANGES_AUTH) is queued
 * or running. */
typedef bool (*writer_gate_fn)(void *arg, bool auth_change_pending);

/* A job whose work may change what tokens may do (revoke a token, remove
 * a binding or a principal): a detached job's gate is told while one is
 * pending. */
#define WRITER_CHANGES_AUTH 1u

/*
 * Starts the writer thread with a domain of its own (its own store
 * connection; the keyring is shared). least_durable: the least durability
 * a job gets, whatever it asks for (STORE_DURABLE: every reply waits for
 * the disk). *out is set only on success.
 */
enum tr_status writer_start(const struct domain *template_domain, const char *dsn,
                            enum store_durability least_durable, struct writer **out, struct tr_error *err);
/* Queues a request. done runs later on base's loop thread (base needs
 * libevent's thread support, evthread_use_pthreads, set up before it was
 * made). durability: how its commit must have reached the disk before done
 * runs; flags: WRITER_CHANGES_AUTH or 0. A job whose run is NULL does
 * nothing: its done tells that what was queued before it is over (a group
 * of such jobs only is no transaction). TR_EINTERNAL when out of memory;
 * nothing is queued then. */
enum tr_status writer_submit(struct writer *w, struct event_base *base, writer_run_fn run, writer_done_fn done,
                             void *arg, enum store_durability durability, unsigned flags, struct tr_error *err);
/*
 * Queues a job that nobody waits for: finish(arg, committed) runs on the
 * writer thread after its group. When gate is not NULL the job is queued
 * only if gate agrees; else TR_ECONFLICT and nothing is queued.
 * TR_EINTERNAL when out of memory.
 */
enum tr_status writer_submit_detached(struct writer *w, writer_run_fn run, writer_done_fn finish, writer_gate_fn gate,
                                      void *arg, enum store_durability durability, struct tr_error *err);
/* Whether a sync of the log after a group failed once (flush_log): the
 * records committed since the sync before may never reach the disk. */
bool writer_sync_failed(struct writer *w);

/* Runs what is still queued, stops the thread and frees everything. The
 * done callbacks of the last groups are then pending on their bases: run
 * each base once more (EVLOOP_NONBLOCK) to deliver them. NULL is fine. */
void writer_stop(struct writer *w);

#endif
