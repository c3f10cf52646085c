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
 * runs. TR_EINTERNAL when out of memory; nothing is queued then. */
enum tr_status writer_submit(struct writer *w, struct event_base *base, writer_run_fn run, writer_done_fn done,
                             void *arg, enum store_durability durability, struct tr_error *err);
/* Runs what is still queued, stops the thread and frees everything. The
 * done callbacks of the last groups are then pending on their bases: run
 * each base once more (EVLOOP_NONBLOCK) to deliver them. NULL is fine. */
void writer_stop(struct writer *w);

#endif
