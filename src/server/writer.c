/*
 * writer.c - the group-commit thread (writer.h).
 *
 * Submitted jobs wait in a FIFO under one mutex. The thread takes up to
 * GROUP_MAX of them at a time, runs them in one store transaction and
 * commits once; then it activates each job's event on the base of the
 * worker that submitted it, and that worker calls the job's done callback.
 * Jobs queued while a group commits form the next group, so the more
 * requests arrive at once, the more share one commit.
 */
#include "server/writer.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"
#include "storage/store.h"

#define GROUP_MAX 256 /* jobs per transaction: bounds the wait of the first */

struct writer_job {
	writer_run_fn run;
	writer_done_fn done;
	void *arg;
	struct event *wake; /* on the submitter's base; delivers the outcome */
	bool committed;
	struct writer_job *next;
};

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t queued;
	struct writer_job *head; /* oldest first */
	struct writer_job *tail;
	bool stopping;
	struct domain domain; /* the writer's own connection */
};

/* --- the submitting side ---------------------------------------------------- */

/* On the submitter's loop: hands the outcome back and frees the job. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct writer_job *job = arg;

	(void)fd;
	(void)what;
	job->done(job->arg, job->committed);
	event_free(job->wake);
	free(job);
}

enum tr_status writer_submit(struct writer *w, struct event_base *base, writer_run_fn run, writer_done_fn done,
                             void *arg, struct tr_error *err)
{
	struct writer_job *job = calloc(1, sizeof(*job));

	if (!job || !(job->wake = event_new(base, -1, 0, deliver, job))) {
		free(job);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	job->run = run;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	return TR_OK;
}

/* --- the writer thread -------------------------------------------------------- */

/* Waits for work; takes up to GROUP_MAX jobs off the queue. NULL once
 * stopping and nothing is left. */
static struct writer_job *take_group(struct writer *w)
{
	struct writer_job *group, *last;
	int n = 1;

	pthread_mutex_lock(&w->lock);
	while (!w->head && !w->stopping)
		pthread_cond_wait(&w->queued, &w->lock);
	group = w->head;
	if (group) {
		for (last = group; last->next && n < GROUP_MAX; last = last->next)
			n++;
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	return group;
}

static void mark_committed(struct writer_job *from, const struct writer_job *end)
{
	for (struct writer_job *job = from; job != end; job = job->next)
		job->committed = true;
}

/*
 * Runs the jobs of a group in one transaction. If the store loses the
 * transaction midway (it rolls everything back itself on a full disk or an
 * I/O error), the jobs run so far lost their work: they stay uncommitted,
 * and the rest go on in a new transaction.
 */
static void run_group(struct writer *w, struct writer_job *group)
{
	struct domain *d = &w->domain;
	struct writer_job *first = group; /* the first job of the open transaction */
	struct tr_error err = {0};

	if (domain_group_begin(d, &err) != TR_OK) {
		log_error("group commit: cannot begin a transaction: %s", err.message);
		return;
	}
	for (struct writer_job *job = group; job; job = job->next) {
		job->run(d, job->arg);
		if (domain_group_intact(d))
			continue;
		log_error("group commit: storage rolled back a transaction; its requests fail");
		domain_group_abort(d);
		first = job->next;
		if (first && domain_group_begin(d, &err) != TR_OK) {
			log_error("group commit: cannot begin a transaction: %s", err.message);
			return;
		}
	}
	if (!first)
		return;
	if (domain_group_commit(d, &err) == TR_OK)
		mark_committed(first, NULL);
	else
		log_error("group commit: commit failed: %s", err.message);
}

/* Activates the event of every job of the group, handing it back. */
static void hand_back(struct writer_job *group)
{
	while (group) {
		struct writer_job *next = group->next;

		event_active(group->wake, 0, 0);
		group = next;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct writer_job *group;

	while ((group = take_group(w))) {
		run_group(w, group);
		hand_back(group);
	}
	return NULL;
}

/* --- life cycle ------------------------------------------------------------------ */

enum tr_status writer_start(const struct domain *template_domain, const char *dsn, struct writer **out,
                            struct tr_error *err)
{
	struct writer *w = calloc(1, sizeof(*w));
	enum tr_status st;

	if (!w)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	w->domain = *template_domain;
	w->domain.tx_depth = 0;
	if ((st = store_open(dsn, &w->domain.store, err)) != TR_OK) {
		free(w);
		return st;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->queued, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		store_close(w->domain.store);
		free(w);
		return tr_error_set(err, TR_EINTERNAL, "cannot start the writer thread");
	}
	*out = w;
	return TR_OK;
}

void writer_stop(struct writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->queued);
	store_close(w->domain.store);
	free(w);
}
