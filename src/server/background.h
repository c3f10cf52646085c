/*
 * background.h - one thread for requests that run long (a key rotation:
 * minutes for a million secrets; an audit verification: a second per
 * million records).
 *
 * A worker runs an event loop for many connections; a request that held
 * it for minutes held every one of them, and each new connection the
 * kernel gave that worker's socket. Instead the worker hands the long part
 * of such a request to this thread, which runs it with a domain of its own
 * (its own store connection; the keyring is shared), and goes on serving;
 * the thread gives the request back to that worker when it is over, and
 * the worker sends the reply. Jobs run one at a time, in the order they
 * came.
 */
#ifndef TRESOR_SERVER_BACKGROUND_H
#define TRESOR_SERVER_BACKGROUND_H

#include <event2/event.h>
#include <stdbool.h>

#include "common/status.h"
#include "domain/domain.h"

struct background;

/* Runs on the background thread, with its domain. cancelled: the server
 * stops, and the job had not started: answer it without doing its work. */
typedef void (*background_run_fn)(struct domain *d, void *arg, bool cancelled);
/* Runs afterwards on the thread of the event base given to
 * background_submit. */
typedef void (*background_done_fn)(void *arg);

/* Starts the thread with a domain like template_domain and a store
 * connection of its own on dsn. *out is set only on success. */
enum tr_status background_start(const struct domain *template_domain, const char *dsn, struct background **out,
				struct tr_error *err);
/* Queues a job. done runs later on base's loop thread (base needs
 * libevent's thread support). TR_EINTERNAL when out of memory, TR_EUNAVAIL
 * once the thread stops; nothing is queued then. */
enum tr_status background_submit(struct background *bg, struct event_base *base, background_run_fn run,
				 background_done_fn done, void *arg, struct tr_error *err);
/* Lets the running job end, cancels what is still queued (each job's run
 * is called with cancelled set), stops the thread and frees everything.
 * The done callbacks of the last jobs are then pending on their bases:
 * run each base once more (EVLOOP_NONBLOCK) to deliver them. NULL is
 * fine. */
void background_stop(struct background *bg);

#endif
